"""Owns voxelization and the sparse tensor: integer coordinates with per-voxel features.

Conventions (written down in docs/conventions.md)
-------------------------------------------------
* Coordinates are ``(N, 4)`` int32 rows ``[batch, x, y, z]`` - batch first, like spconv and
  MinkowskiEngine 0.5 - in units of the finest voxel.  A tensor at *tensor stride* ``s``
  only has coordinates that are multiples of ``s`` (MinkowskiEngine's convention).
* A point ``p`` falls into voxel ``floor((p - origin) / voxel_size)`` (per axis).
  ``origin`` defaults to ``(0, 0, 0)``, a global lattice, so scans of the same place agree.
* Voxels are returned in *raster order*: sorted by ``(batch, x, y, z)`` with z fastest.
  The same input always gives the same bytes.
* Duplicate policy (several points in one voxel): ``first`` keeps the attributes of the
  first such point in input order, ``mean`` averages, ``sum`` adds them; the labels of a
  voxel are always those of its first point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, InputError
from .pointcloud import PointCloud

__all__ = [
    "SparseTensor",
    "voxelize",
    "default_features",
    "DUPLICATE_POLICIES",
    "raster_keys",
]

DUPLICATE_POLICIES = ("first", "mean", "sum")
_INT32_MAX = np.iinfo(np.int32).max
_INT32_MIN = np.iinfo(np.int32).min


@dataclass
class SparseTensor:
    """Active voxels and their features.

    Parameters
    ----------
    coords : ndarray, shape (N, 4), int32
        ``[batch, x, y, z]`` rows, unique, each a multiple of ``stride`` (batch excepted).
    feats : ndarray, shape (N, C)
        Per-voxel features (float32, or int8 for the quantized path).
    stride : int
        Tensor stride (1 for the voxelized input; 2, 4... after strided convolutions).
    voxel_size : float, optional
        Edge of a stride-1 voxel in scene units.
    origin : ndarray, shape (3,), optional
        Scene position of the corner of voxel ``(0, 0, 0)``.
    labels : ndarray, shape (N,), optional
        Per-voxel labels (of the first point), when the cloud had labels.
    """

    coords: np.ndarray
    feats: np.ndarray
    stride: int = 1
    voxel_size: float | None = None
    origin: np.ndarray | None = None
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        coords = np.asarray(self.coords)
        if coords.ndim != 2 or coords.shape[1] != 4:
            raise InputError(f"coords must have shape (N, 4) [batch, x, y, z], not {coords.shape}")
        if not np.issubdtype(coords.dtype, np.integer):
            raise InputError(f"coords must be integers, not {coords.dtype}")
        self.coords = coords.astype(np.int32, copy=False)
        feats = np.asarray(self.feats)
        if feats.ndim == 1:
            feats = feats[:, None]
        if feats.ndim != 2 or len(feats) != len(coords):
            raise InputError(f"feats must have shape ({len(coords)}, C), not {feats.shape}")
        self.feats = feats
        if not isinstance(self.stride, (int, np.integer)) or self.stride < 1:
            raise ConfigError(f"tensor stride must be a positive integer, not {self.stride!r}")
        self.stride = int(self.stride)

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def channels(self) -> int:
        """Number of feature channels."""
        return self.feats.shape[1]

    @property
    def batch_size(self) -> int:
        """Number of batch entries (``max batch index + 1``)."""
        return int(self.coords[:, 0].max()) + 1 if len(self.coords) else 0

    def occupancy(self) -> float:
        """Active voxels / cells of each batch entry's bounding box (at this stride), summed."""
        if len(self.coords) == 0:
            return 0.0
        cells = 0
        for b in np.unique(self.coords[:, 0]):
            c = self.coords[self.coords[:, 0] == b, 1:].astype(np.int64) // self.stride
            cells += int(np.prod(c.max(axis=0) - c.min(axis=0) + 1))
        return len(self.coords) / cells

    def with_feats(self, feats: np.ndarray) -> SparseTensor:
        """The same coordinates with other features."""
        return SparseTensor(
            self.coords, feats, self.stride, self.voxel_size, self.origin, self.labels
        )


def raster_keys(coords: np.ndarray) -> np.ndarray | None:
    """Order-preserving int64 keys of ``(N, 4)`` rows (lexicographic), or None if too wide."""
    c = np.asarray(coords, dtype=np.int64)
    if len(c) == 0:
        return np.zeros(0, np.int64)
    lo = c.min(axis=0)
    span = c.max(axis=0) - lo + 1
    bits = [int(s - 1).bit_length() for s in span]
    if sum(bits) > 62:
        return None
    key = np.zeros(len(c), np.int64)
    for j in range(4):
        key = (key << bits[j]) | (c[:, j] - lo[j])
    return key


def default_features(cloud: PointCloud) -> np.ndarray:
    """Colours scaled to [0, 1] when present, else a constant 1 (``(N, 1)``), float32."""
    if cloud.colors is not None:
        return cloud.colors.astype(np.float32) / np.float32(255.0)
    return np.ones((len(cloud), 1), dtype=np.float32)


def voxelize(
    cloud: PointCloud | np.ndarray,
    voxel_size: float,
    *,
    features: np.ndarray | None = None,
    policy: str = "first",
    batch_index: np.ndarray | None = None,
    origin: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
    return_inverse: bool = False,
):
    """Quantize points to voxels.

    Parameters
    ----------
    cloud : PointCloud or ndarray (P, 3)
    voxel_size : float
        Voxel edge, > 0 and finite.
    features : ndarray (P, C), optional
        Per-point features; default :func:`default_features`.
    policy : {"first", "mean", "sum"}
        How the features of several points in one voxel combine.
    batch_index : ndarray (P,), optional
        Batch entry of each point (non-negative integers); default all 0.
    origin : 3 floats
        Scene position of voxel (0, 0, 0)'s corner.
    return_inverse : bool
        Also return, per point, the index of its voxel.

    Returns
    -------
    SparseTensor, or (SparseTensor, ndarray (P,)) with ``return_inverse``.

    Raises
    ------
    InputError
        Empty cloud, non-finite coordinates, coordinates overflowing int32, bad shapes.
    ConfigError
        Non-positive or non-finite voxel size, unknown policy.
    """
    if not isinstance(cloud, PointCloud):
        cloud = PointCloud(np.asarray(cloud))
    cloud.validate("voxelize")
    try:
        voxel_size = float(voxel_size)
    except (TypeError, ValueError):
        raise ConfigError(f"voxel size must be a number, not {voxel_size!r}") from None
    if not np.isfinite(voxel_size) or voxel_size <= 0:
        raise ConfigError(f"voxel size must be a positive finite number, not {voxel_size}")
    if policy not in DUPLICATE_POLICIES:
        raise ConfigError(
            f"unknown duplicate policy {policy!r} (choose from {', '.join(DUPLICATE_POLICIES)})"
        )
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    if not np.isfinite(origin).all():
        raise ConfigError("voxelization origin must be finite")
    n = len(cloud)
    feats = default_features(cloud) if features is None else np.asarray(features)
    if feats.ndim == 1:
        feats = feats[:, None]
    if len(feats) != n:
        raise InputError(f"features have {len(feats)} rows for {n} points")
    if batch_index is None:
        batch = np.zeros(n, np.int64)
    else:
        batch = np.asarray(batch_index)
        if batch.shape != (n,) or not np.issubdtype(batch.dtype, np.integer):
            raise InputError(f"batch_index must be {n} integers, got {batch.shape} {batch.dtype}")
        if batch.min() < 0:
            raise InputError("batch indices must be non-negative")
        batch = batch.astype(np.int64)

    q = np.floor((cloud.points - origin) / voxel_size)
    lo, hi = q.min(axis=0), q.max(axis=0)
    if lo.min() < _INT32_MIN or hi.max() > _INT32_MAX:
        axis = int(np.argmax(np.maximum(np.abs(lo), np.abs(hi))))
        worst = max(abs(lo[axis]), abs(hi[axis]))
        raise InputError(
            f"coordinates overflow int32 after quantization at voxel size {voxel_size:g} "
            f"(|{'xyz'[axis]}| reaches {worst:.3g} voxels; use a larger voxel size or an origin "
            f"near the data)"
        )
    coords = np.empty((n, 4), np.int64)
    coords[:, 0] = batch
    coords[:, 1:] = q.astype(np.int64)

    key = raster_keys(coords)
    if key is None:  # more than 62 bits of extent: lexicographic sort of rows
        order = np.lexsort(coords.T[::-1])
        sk = coords[order]
        new = np.ones(n, bool)
        new[1:] = np.any(sk[1:] != sk[:-1], axis=1)
    else:
        order = np.argsort(key, kind="stable")
        sk = key[order]
        new = np.ones(n, bool)
        new[1:] = sk[1:] != sk[:-1]
    starts = np.flatnonzero(new)
    first = order[starts]  # stable sort: first point of each voxel in input order
    vox_coords = coords[first].astype(np.int32)
    if policy == "first":
        vox_feats = feats[first]
    else:
        summed = np.add.reduceat(feats[order].astype(np.float64), starts, axis=0)
        if policy == "mean":
            counts = np.diff(np.append(starts, n))
            summed = summed / counts[:, None]
        vox_feats = summed.astype(feats.dtype if feats.dtype.kind == "f" else np.float32)
    labels = cloud.labels[first] if cloud.labels is not None else None
    tensor = SparseTensor(vox_coords, vox_feats, 1, voxel_size, origin, labels)
    if return_inverse:
        inverse = np.empty(n, np.int64)
        inverse[order] = np.cumsum(new) - 1
        return tensor, inverse
    return tensor
