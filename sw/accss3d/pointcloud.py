"""Owns point clouds in memory and on disk: PLY, XYZ/TXT, NPY/NPZ readers and a PLY writer.

A :class:`PointCloud` holds float64 coordinates and optional per-point colours, normals,
labels and any other scalar properties.  Readers validate what they read (non-empty,
finite, well-formed) and raise :class:`~accss3d.errors.InputError` with one line naming the
file and the problem.

Supported files
---------------
``.ply``
    ASCII or binary (little/big endian), float or double x/y/z; colours
    (``red/green/blue``), normals (``nx/ny/nz``), labels (``label``, ``class``,
    ``semantic``, ``scalar_label``...), other scalar vertex properties kept in ``extra``.
``.xyz`` / ``.txt`` / ``.pts`` / ``.csv``
    One point per line, columns separated by spaces, tabs or commas: ``x y z``
    optionally followed by ``r g b`` (0..255) and more columns (kept in ``extra``).
``.npy``
    An ``(N, >=3)`` numeric array; columns as for text files.
``.npz``
    Arrays ``points`` (or ``xyz``/``coords``/``pos``), optional ``colors``, ``normals``,
    ``labels`` and any other ``(N,)`` arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

__all__ = ["PointCloud", "load_point_cloud", "save_ply", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".ply", ".xyz", ".txt", ".pts", ".csv", ".npy", ".npz")
_LABEL_NAMES = ("label", "labels", "class", "semantic", "scalar_label", "semantic_label")
_COLOR_NAMES = (
    ("red", "green", "blue"),
    ("r", "g", "b"),
    ("diffuse_red", "diffuse_green", "diffuse_blue"),
)


@dataclass
class PointCloud:
    """An unordered set of 3D points with optional attributes.

    Parameters
    ----------
    points : ndarray, shape (N, 3), float64
    colors : ndarray, shape (N, 3), uint8, optional
    normals : ndarray, shape (N, 3), float32, optional
    labels : ndarray, shape (N,), int32, optional
    extra : dict of str to ndarray (N,), optional
        Any other per-point scalar properties.
    """

    points: np.ndarray
    colors: np.ndarray | None = None
    normals: np.ndarray | None = None
    labels: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pts = np.asarray(self.points)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise InputError(f"points must have shape (N, 3), not {pts.shape}")
        if not np.issubdtype(pts.dtype, np.number) or np.issubdtype(pts.dtype, np.complexfloating):
            raise InputError(f"points must be real numbers, not {pts.dtype}")
        self.points = pts.astype(np.float64, copy=False)
        n = len(self.points)
        for name in ("colors", "normals", "labels"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise InputError(f"{name} has {len(value)} entries for {n} points")
        for name, value in self.extra.items():
            if len(value) != n:
                raise InputError(f"property {name!r} has {len(value)} entries for {n} points")

    def __len__(self) -> int:
        return len(self.points)

    def validate(self, source: str = "point cloud", min_points: int = 1) -> PointCloud:
        """Check that the cloud has at least ``min_points`` points, all finite."""
        n = len(self.points)
        if n == 0:
            raise InputError(f"{source}: the point cloud is empty")
        if n < min_points:
            raise InputError(
                f"{source}: the point cloud has {n} point{'s' if n != 1 else ''}; "
                f"at least {min_points} are needed"
            )
        finite = np.isfinite(self.points).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            kind = "NaN" if np.isnan(self.points[bad]).any() else "infinite"
            raise InputError(
                f"{source}: {int((~finite).sum())} point(s) have non-finite coordinates "
                f"(first: point {bad} is {kind})"
            )
        return self

    def subset(self, mask_or_index: np.ndarray) -> PointCloud:
        """The points selected by a boolean mask or an index array, with their attributes."""
        sel = np.asarray(mask_or_index)

        def pick(a):
            return None if a is None else a[sel]

        return PointCloud(
            self.points[sel],
            pick(self.colors),
            pick(self.normals),
            pick(self.labels),
            {k: v[sel] for k, v in self.extra.items()},
        )


# ---------------------------------------------------------------------- readers
def load_point_cloud(path: str | os.PathLike, min_points: int = 1) -> PointCloud:
    """Read a point cloud file, choosing the format by its suffix.

    Raises
    ------
    InputError
        Unknown suffix, missing, truncated or malformed file, empty cloud, fewer than
        ``min_points`` points, non-finite coordinates.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(
            f"{path}: unknown point cloud format {suffix or '(no suffix)'!r} "
            f"(supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a point cloud file")
    reader = {".ply": _read_ply, ".npy": _read_npy, ".npz": _read_npz}.get(suffix, _read_text)
    cloud = reader(path)
    return cloud.validate(path, min_points=min_points)


def _read_ply(path: str) -> PointCloud:
    from plyfile import PlyData

    try:
        ply = PlyData.read(path)
        vertex = ply["vertex"]
        data = vertex.data
        names = list(data.dtype.names or ())
    except KeyError:
        raise InputError(f"{path}: PLY file has no 'vertex' element") from None
    except Exception as exc:  # plyfile raises PlyParseError, ValueError, struct/EOF errors
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: truncated or malformed PLY file ({msg})") from None
    if len(data) == 0 and not names:
        raise InputError(f"{path}: PLY file has no vertex properties")
    if not all(a in names for a in ("x", "y", "z")):
        raise InputError(f"{path}: PLY vertex element lacks x/y/z properties (has {names})")
    for a in ("x", "y", "z"):
        if data.dtype[a].kind not in "fiu":
            raise InputError(f"{path}: PLY property {a!r} is not numeric")
    pts = np.stack([np.asarray(data[a], dtype=np.float64) for a in ("x", "y", "z")], axis=1)
    used = {"x", "y", "z"}
    colors = None
    for triple in _COLOR_NAMES:
        if all(c in names for c in triple):
            colors = np.stack([_to_uint8(np.asarray(data[c])) for c in triple], axis=1)
            used.update(triple)
            break
    normals = None
    if all(c in names for c in ("nx", "ny", "nz")):
        normals = np.stack([np.asarray(data[c], np.float32) for c in ("nx", "ny", "nz")], 1)
        used.update(("nx", "ny", "nz"))
    labels = None
    for name in _LABEL_NAMES:
        if name in names:
            labels = np.asarray(data[name]).astype(np.int32)
            used.add(name)
            break
    extra = {}
    for name in names:
        if name not in used and data.dtype[name].kind in "fiub" and data.dtype[name].shape == ():
            extra[name] = np.asarray(data[name])
    return PointCloud(pts, colors, normals, labels, extra)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        scale = 255.0 if values.size and np.nanmax(values) <= 1.0 else 1.0
        return np.clip(np.round(values * scale), 0, 255).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


def _from_columns(path: str, arr: np.ndarray) -> PointCloud:
    if arr.ndim == 1 and arr.dtype.names is None:
        arr = arr.reshape(1, -1) if arr.size >= 3 else arr.reshape(0, 3)
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise InputError(f"{path}: expected N rows of at least 3 columns (x y z), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: point data must be numeric, not {arr.dtype}")
    pts = arr[:, :3].astype(np.float64)
    colors = None
    extra = {}
    rest = arr[:, 3:]
    if rest.shape[1] >= 3:
        rgb = rest[:, :3]
        finite = np.isfinite(rgb).all()
        if finite and rgb.size and rgb.min() >= 0 and rgb.max() <= 255:
            colors = _to_uint8(rgb.astype(np.float64))
            rest = rest[:, 3:]
    for j in range(rest.shape[1]):
        extra[f"column{j + (6 if colors is not None else 3)}"] = rest[:, j]
    return PointCloud(pts, colors, None, None, extra)


def _read_text(path: str) -> PointCloud:
    try:
        with open(path, encoding="utf-8", errors="strict") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text point cloud (binary data)") from None
    rows = []
    width = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        fields = line.replace(",", " ").replace(";", " ").split()
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if not rows and width is None:  # a header line such as "x y z r g b"
                width = -1
                continue
            raise InputError(f"{path}:{lineno}: not a number in {line[:60]!r}") from None
        if width in (None, -1):
            width = len(values)
        if len(values) != width:
            raise InputError(f"{path}:{lineno}: expected {width} columns, found {len(values)}")
        rows.append(values)
    if not rows:
        return PointCloud(np.zeros((0, 3)))
    return _from_columns(path, np.asarray(rows, dtype=np.float64))


def _read_npy(path: str) -> PointCloud:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: unreadable .npy file ({exc})") from None
    if arr.dtype.names:
        names = arr.dtype.names
        if all(a in names for a in "xyz"):
            cols = [arr[a].astype(np.float64) for a in "xyz"]
            return PointCloud(np.stack(cols, 1))
        raise InputError(f"{path}: structured array lacks x/y/z fields")
    return _from_columns(path, arr)


def _read_npz(path: str) -> PointCloud:
    try:
        npz = np.load(path, allow_pickle=False)
        arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise InputError(f"{path}: unreadable .npz file ({exc})") from None
    for key in ("points", "xyz", "coords", "pos", "positions"):
        if key in arrays:
            break
    else:
        raise InputError(
            f"{path}: .npz has no 'points' array (found: {', '.join(sorted(arrays)) or 'none'})"
        )
    base = _from_columns(path, np.asarray(arrays.pop(key)))
    n = len(base)
    colors = arrays.pop("colors", None)
    normals = arrays.pop("normals", None)
    labels = arrays.pop("labels", None)
    if colors is not None:
        base.colors = _to_uint8(np.asarray(colors).reshape(n, 3))
    if normals is not None:
        base.normals = np.asarray(normals, np.float32).reshape(n, 3)
    if labels is not None:
        base.labels = np.asarray(labels).astype(np.int32).reshape(n)
    for k, v in arrays.items():
        if v.shape == (n,):
            base.extra[k] = v
    return PointCloud(base.points, base.colors, base.normals, base.labels, base.extra)


# ---------------------------------------------------------------------- writer
def save_ply(cloud: PointCloud, path: str | os.PathLike, binary: bool = True) -> None:
    """Write a PLY file (binary little-endian by default) with every attribute present."""
    from plyfile import PlyData, PlyElement

    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    cols = [cloud.points[:, i].astype(np.float32) for i in range(3)]
    if cloud.normals is not None:
        fields += [("nx", "f4"), ("ny", "f4"), ("nz", "f4")]
        cols += [cloud.normals[:, i] for i in range(3)]
    if cloud.colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        cols += [cloud.colors[:, i] for i in range(3)]
    if cloud.labels is not None:
        fields.append(("label", "i4"))
        cols.append(cloud.labels)
    vertex = np.empty(len(cloud), dtype=fields)
    for (name, _), col in zip(fields, cols, strict=True):
        vertex[name] = col
    element = PlyElement.describe(vertex, "vertex")
    PlyData([element], text=not binary, byte_order="<").write(os.fspath(path))
