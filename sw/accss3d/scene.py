"""Owns the synthetic indoor-scene generator: rooms scanned as noisy surfaces.

No ScanNet/S3DIS sample can be shipped, so scenes are generated: a floor plan of one or
more rooms (floor, walls with doors and windows, no ceiling - like most RGB-D room scans),
furnished with tables, desks, chairs, shelves, cabinets, sofas, beds, boxes and cylindrical
objects (bins, lamps), at random positions and orientations.  Every surface is sampled
uniformly at a density set by the target voxel size, then displaced along its normal by
Gaussian sensor noise.  Surfaces a scanner cannot see are left out (the floor under
furniture, the bottoms of objects, the outer faces of the building's walls), and random
dropout patches imitate missing data.

The result has the surface sparsity of a real scan: about 4-9 active neighbours per voxel
in a 3x3x3 neighbourhood at 2-5 cm, and a few percent of the tight bounding box occupied
(see docs/scenes.md for measured figures).  Same seed and parameters give the same bytes.

Labels follow the NYU40 ids used by ScanNet (:data:`LABELS`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, InputError
from .pointcloud import PointCloud

__all__ = [
    "LABELS",
    "SIZES",
    "RoomSpec",
    "generate_scene",
    "parse_scene_name",
    "scene_from_name",
    "load_scene",
    "DEFAULT_VOXEL_SIZE",
]

#: Voxel size (metres) of generated scenes when none is given.
DEFAULT_VOXEL_SIZE = 0.05

#: NYU40 label ids (as in ScanNet) of the generated surfaces.
LABELS = {
    1: "wall",
    2: "floor",
    3: "cabinet",
    4: "bed",
    5: "chair",
    6: "sofa",
    7: "table",
    8: "door",
    9: "window",
    10: "bookshelf",
    14: "desk",
    29: "box",
    35: "lamp",
    39: "otherfurniture",
}

#: Named scene sizes: approximate voxel counts (at the voxel size the scene is made for).
SIZES = {"tiny": 3_000, "small": 20_000, "medium": 125_000, "large": 500_000, "huge": 1_000_000}

_PALETTE = np.array(
    [
        [200, 190, 170],
        [150, 110, 70],
        [90, 60, 40],
        [60, 60, 70],
        [180, 40, 40],
        [40, 90, 160],
        [230, 230, 225],
        [120, 140, 90],
        [210, 170, 90],
        [100, 100, 100],
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class RoomSpec:
    """Parameters of a generated scene.

    Parameters
    ----------
    seed : int
        Random seed; the same spec gives the same point cloud bit for bit.
    target_voxels : int
        Approximate number of occupied voxels at ``voxel_size`` (within about +-25%).
    voxel_size : float
        The voxel edge the scene is sampled for (metres); sets the point density.
    points_per_voxel : float
        Mean number of points per voxel-sized surface patch (coverage: ``1 - exp(-ppv)``).
    noise : float
        Standard deviation of the noise along the surface normal (metres).  The default,
        1.5 mm, is that of surfaces fused from many RGB-D frames (ScanNet's meshes); raw
        single-frame depth is noisier (1 cm at 3 m).
    dropout : float
        Fraction of surface area lost to missing-data patches.
    height : float
        Wall height (metres).
    """

    seed: int = 0
    target_voxels: int = 20_000
    voxel_size: float = 0.05
    points_per_voxel: float = 2.5
    noise: float = 0.0015
    dropout: float = 0.04
    height: float = 2.7

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"scene seed must be a non-negative integer, not {self.seed!r}")
        if not isinstance(self.target_voxels, int) or not 100 <= self.target_voxels <= 20_000_000:
            raise ConfigError(
                f"scene size must be between 100 and 20000000 voxels, not {self.target_voxels!r}"
            )
        for name, lo, hi in (
            ("voxel_size", 1e-3, 1.0),
            ("points_per_voxel", 0.5, 64.0),
            ("noise", 0.0, 0.5),
            ("dropout", 0.0, 0.5),
            ("height", 1.0, 20.0),
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not (lo <= value <= hi):
                raise ConfigError(f"scene {name} must be in [{lo}, {hi}], not {value!r}")


# --------------------------------------------------------------------------- surfaces
class _Sampler:
    """Accumulates sampled surface points with normals, labels and colours."""

    def __init__(self, rng: np.random.Generator, density: float, noise: float):
        self.rng = rng
        self.density = density  # points per square metre
        self.noise = noise
        self.parts: list[tuple[np.ndarray, ...]] = []

    def rect(self, origin, u, v, label: int, color, holes=(), two_sided=False) -> None:
        """Sample the parallelogram ``origin + a*u + b*v`` (a, b in [0, 1])."""
        origin, u, v = (np.asarray(x, np.float64) for x in (origin, u, v))
        normal = np.cross(u, v)
        area = float(np.linalg.norm(normal))
        if area <= 0:
            return
        normal /= area
        n = int(self.rng.poisson(area * self.density))
        if n == 0:
            return
        ab = self.rng.random((n, 2))
        keep = np.ones(n, bool)
        for a0, b0, a1, b1 in holes:  # openings, in the (a, b) unit square
            keep &= ~((ab[:, 0] >= a0) & (ab[:, 0] <= a1) & (ab[:, 1] >= b0) & (ab[:, 1] <= b1))
        ab = ab[keep]
        pts = origin + ab[:, :1] * u + ab[:, 1:] * v
        normals = np.broadcast_to(normal, pts.shape)
        if two_sided:
            flip = self.rng.random(len(pts)) < 0.5
            normals = np.where(flip[:, None], -normals, normals)
        self._add(pts, normals, label, color)

    def box(self, center, size, yaw, label, color, bottom=False, top=True) -> None:
        """An oriented box resting at ``center`` (bottom-centre), sides facing outwards."""
        cx, cy, cz = center
        sx, sy, sz = size
        c, s = math.cos(yaw), math.sin(yaw)
        ex = np.array([c, s, 0.0]) * sx
        ey = np.array([-s, c, 0.0]) * sy
        ez = np.array([0.0, 0.0, sz])
        o = np.array([cx, cy, cz]) - ex / 2 - ey / 2
        self.rect(o, ey, ez, label, color)  # -x side (normal -ex)
        self.rect(o + ex, ez, ey, label, color)  # +x side
        self.rect(o, ez, ex, label, color)  # -y side
        self.rect(o + ey, ex, ez, label, color)  # +y side
        if top:
            self.rect(o + ez, ex, ey, label, color)
        if bottom:
            self.rect(o, ey, ex, label, color)

    def cylinder(self, center, radius, height, label, color, top=True) -> None:
        """A vertical cylinder standing at ``center`` (bottom-centre)."""
        area = 2 * math.pi * radius * height
        n = int(self.rng.poisson(area * self.density))
        theta = self.rng.random(n) * 2 * math.pi
        z = self.rng.random(n) * height
        normals = np.stack([np.cos(theta), np.sin(theta), np.zeros(n)], 1)
        pts = np.asarray(center, np.float64) + normals * radius
        pts[:, 2] += z
        self._add(pts, normals, label, color)
        if top:
            n = int(self.rng.poisson(math.pi * radius**2 * self.density))
            rr = radius * np.sqrt(self.rng.random(n))
            th = self.rng.random(n) * 2 * math.pi
            pts = np.stack([rr * np.cos(th), rr * np.sin(th), np.full(n, height)], 1) + center
            self._add(pts, np.broadcast_to([0.0, 0.0, 1.0], pts.shape), label, color)

    def _add(self, pts, normals, label, color) -> None:
        n = len(pts)
        if n == 0:
            return
        normals = np.ascontiguousarray(normals, np.float64)
        pts = pts + normals * self.rng.normal(0.0, self.noise, (n, 1))
        shade = self.rng.normal(0.0, 8.0, (n, 1))
        col = np.clip(np.asarray(color, np.float64) + shade, 0, 255)
        self.parts.append((pts, normals, np.full(n, label, np.int32), col))

    def cloud(self) -> PointCloud:
        pts = np.concatenate([p[0] for p in self.parts])
        normals = np.concatenate([p[1] for p in self.parts]).astype(np.float32)
        labels = np.concatenate([p[2] for p in self.parts])
        colors = np.round(np.concatenate([p[3] for p in self.parts])).astype(np.uint8)
        return PointCloud(pts, colors, normals, labels)


# --------------------------------------------------------------------------- furniture
def _table(sm: _Sampler, rng, x, y, yaw, w, d, h, label, color) -> None:
    top = 0.035
    sm.box((x, y, h - top), (w, d, top), yaw, label, color, bottom=True)
    c, s = math.cos(yaw), math.sin(yaw)
    for fx in (-1, 1):
        for fy in (-1, 1):
            lx, ly = fx * (w / 2 - 0.06), fy * (d / 2 - 0.06)
            sm.box(
                (x + c * lx - s * ly, y + s * lx + c * ly, 0.0),
                (0.05, 0.05, h - top),
                yaw,
                label,
                color,
                top=False,
            )
    for _ in range(rng.integers(0, 4)):  # clutter on the table
        ox, oy = rng.uniform(-0.35, 0.35) * w, rng.uniform(-0.35, 0.35) * d
        size = rng.uniform(0.08, 0.35, 3) * np.array([1, 1, 0.8])
        sm.box(
            (x + c * ox - s * oy, y + s * ox + c * oy, h),
            size,
            yaw + rng.uniform(0, 1),
            29,
            _PALETTE[rng.integers(len(_PALETTE))],
        )


def _chair(sm: _Sampler, rng, x, y, yaw, color) -> None:
    seat_h, w = 0.45, 0.45
    sm.box((x, y, seat_h - 0.04), (w, w, 0.04), yaw, 5, color, bottom=True)
    c, s = math.cos(yaw), math.sin(yaw)
    bx, by = x - c * (w / 2 - 0.02), y - s * (w / 2 - 0.02)
    sm.box((bx, by, seat_h), (0.04, w, 0.45), yaw, 5, color)
    for fx in (-1, 1):
        for fy in (-1, 1):
            lx, ly = fx * (w / 2 - 0.03), fy * (w / 2 - 0.03)
            sm.box(
                (x + c * lx - s * ly, y + s * lx + c * ly, 0.0),
                (0.035, 0.035, seat_h - 0.04),
                yaw,
                5,
                color,
                top=False,
            )


def _shelf(sm: _Sampler, rng, x, y, yaw, w, d, h, color) -> None:
    c, s = math.cos(yaw), math.sin(yaw)
    t = 0.025
    for side in (-1, 1):
        lx = side * (w / 2 - t / 2)
        sm.box((x + c * lx, y + s * lx, 0.0), (t, d, h), yaw, 10, color)
    bx, by = x + s * (d / 2 - t / 2), y - c * (d / 2 - t / 2)
    sm.box((bx, by, 0.0), (w, t, h), yaw, 10, color)
    boards = int(rng.integers(3, 6))
    for i in range(boards + 1):
        z = min(i * h / boards, h - t)
        sm.box((x, y, z), (w - 2 * t, d - t, t), yaw, 10, color, bottom=i > 0)
        if 0 < i < boards and rng.random() < 0.7:  # books
            sm.box(
                (x, y, z + t),
                (w * rng.uniform(0.3, 0.9), d * 0.7, h / boards * 0.7),
                yaw,
                29,
                _PALETTE[rng.integers(len(_PALETTE))],
                top=True,
            )


def _furnish(sm: _Sampler, rng, x0, y0, w, d) -> list[tuple[float, float, float, float, float]]:
    """Furnish the room [x0, x0+w] x [y0, y0+d]; return footprints (x, y, sx, sy, yaw)."""
    placed: list[tuple[float, float, float, float, float]] = []
    margin = 0.15

    def free(x, y, r):
        if not (
            x0 + margin + r < x < x0 + w - margin - r and y0 + margin + r < y < y0 + d - margin - r
        ):
            return False
        return all(
            math.hypot(x - px, y - py) > r + max(psx, psy) * 0.6 for px, py, psx, psy, _ in placed
        )

    def against_wall(depth):
        side = int(rng.integers(4))
        if side == 0:
            return rng.uniform(x0 + 0.6, x0 + w - 0.6), y0 + depth / 2 + 0.02, 0.0
        if side == 1:
            return rng.uniform(x0 + 0.6, x0 + w - 0.6), y0 + d - depth / 2 - 0.02, math.pi
        if side == 2:
            return x0 + depth / 2 + 0.02, rng.uniform(y0 + 0.6, y0 + d - 0.6), -math.pi / 2
        return x0 + w - depth / 2 - 0.02, rng.uniform(y0 + 0.6, y0 + d - 0.6), math.pi / 2

    area = w * d
    n_items = max(2, int(area / 3.0 + rng.integers(0, 3)))
    kinds = [
        "table",
        "chair",
        "chair",
        "shelf",
        "cabinet",
        "box",
        "bin",
        "desk",
        "sofa",
        "bed",
        "lamp",
    ]
    for _ in range(n_items * 4):
        if len(placed) >= n_items:
            break
        kind = kinds[int(rng.integers(len(kinds)))]
        color = _PALETTE[int(rng.integers(len(_PALETTE)))]
        if kind in ("shelf", "cabinet", "sofa", "bed"):
            dims = {
                "shelf": (rng.uniform(0.6, 1.2), 0.35, rng.uniform(1.2, 2.1)),
                "cabinet": (rng.uniform(0.5, 1.0), 0.5, rng.uniform(0.7, 1.1)),
                "sofa": (rng.uniform(1.6, 2.2), 0.85, 0.8),
                "bed": (1.5, 2.0, 0.55),
            }[kind]
            x, y, yaw = against_wall(dims[1])
            r = max(dims[0], dims[1]) / 2
            if not free(x, y, r * 0.8):
                continue
            if kind == "shelf":
                _shelf(sm, rng, x, y, yaw, dims[0], dims[1], dims[2], color)
            elif kind == "cabinet":
                sm.box((x, y, 0.0), dims, yaw, 3, color)
            elif kind == "sofa":
                sm.box((x, y, 0.0), (dims[0], dims[1], 0.42), yaw, 6, color)
                c, s = math.cos(yaw), math.sin(yaw)
                sm.box((x + s * 0.32, y - c * 0.32, 0.42), (dims[0], 0.2, 0.38), yaw, 6, color)
            else:
                sm.box((x, y, 0.0), dims, yaw, 4, color)
            placed.append((x, y, dims[0], dims[1], yaw))
            continue
        yaw = (
            float(rng.uniform(0, 2 * math.pi))
            if rng.random() < 0.6
            else float(rng.integers(4)) * math.pi / 2
        )
        if kind in ("table", "desk"):
            tw, td = (rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0))
            x, y = rng.uniform(x0, x0 + w), rng.uniform(y0, y0 + d)
            if not free(x, y, max(tw, td) / 2):
                continue
            _table(
                sm,
                rng,
                x,
                y,
                yaw,
                tw,
                td,
                0.74 if kind == "table" else 0.72,
                7 if kind == "table" else 14,
                color,
            )
            placed.append((x, y, tw, td, yaw))
            for _ in range(int(rng.integers(0, 3))):  # chairs around it
                a = yaw + rng.integers(4) * math.pi / 2
                cx, cy = x + math.cos(a) * (tw / 2 + 0.35), y + math.sin(a) * (td / 2 + 0.35)
                if free(cx, cy, 0.2):
                    _chair(sm, rng, cx, cy, a + math.pi, color * 0.7)
                    placed.append((cx, cy, 0.45, 0.45, a))
        elif kind == "chair":
            x, y = rng.uniform(x0, x0 + w), rng.uniform(y0, y0 + d)
            if free(x, y, 0.3):
                _chair(sm, rng, x, y, yaw, color)
                placed.append((x, y, 0.45, 0.45, yaw))
        elif kind == "box":
            size = (rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.7))
            x, y = rng.uniform(x0, x0 + w), rng.uniform(y0, y0 + d)
            if free(x, y, max(size[:2]) / 2):
                sm.box((x, y, 0.0), size, yaw, 29, color)
                placed.append((x, y, size[0], size[1], yaw))
        else:  # bin or lamp: cylinders
            rad, hgt = (0.15, 0.4) if kind == "bin" else (0.12, 1.5)
            x, y = rng.uniform(x0, x0 + w), rng.uniform(y0, y0 + d)
            if free(x, y, rad):
                sm.cylinder(
                    (x, y, 0.0), rad, hgt, 39 if kind == "bin" else 35, color, top=kind == "bin"
                )
                if kind == "lamp":
                    sm.cylinder((x, y, hgt), 0.25, 0.25, 35, color)
                placed.append((x, y, 2 * rad, 2 * rad, 0.0))
    return placed


def _under_footprints(pts: np.ndarray, placed) -> np.ndarray:
    """Mask of floor points hidden under furniture footprints."""
    hidden = np.zeros(len(pts), bool)
    for x, y, sx, sy, yaw in placed:
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = pts[:, 0] - x, pts[:, 1] - y
        u, v = c * dx + s * dy, -s * dx + c * dy
        hidden |= (np.abs(u) < sx / 2) & (np.abs(v) < sy / 2)
    return hidden


# --------------------------------------------------------------------------- the scene
def generate_scene(spec: RoomSpec) -> PointCloud:
    """Generate the point cloud of a furnished floor plan (one or more rooms).

    The visible surface area is set from the target voxel count; a first draft is
    voxelized and, when its count is more than 8% off, the scene is made again with the
    area corrected (deterministically: both drafts use the same seed).

    Returns
    -------
    PointCloud
        Points in metres (z up, floor near z = 0), with normals, colours and NYU40 labels.
    """
    from .voxel import voxelize

    v = spec.voxel_size
    # About 1.15 voxels per v^2 of surface (noise, edges); refined by the draft below.
    area = spec.target_voxels * v * v / 1.15
    cloud = _generate(spec, area)
    got = len(voxelize(cloud, v))
    if abs(got / spec.target_voxels - 1.0) > 0.08:
        cloud = _generate(spec, area * spec.target_voxels / got)
    return cloud


def _generate(spec: RoomSpec, area_needed: float) -> PointCloud:
    rng = np.random.default_rng(spec.seed)
    v = spec.voxel_size
    density = spec.points_per_voxel / (v * v)
    sm = _Sampler(rng, density, spec.noise)
    # A 5 x 4 m room has ~82 m^2 of visible surface (floor, walls, furniture).
    std_room = 82.0
    n_rooms = max(1, round(area_needed / std_room))
    scale = math.sqrt(area_needed / (n_rooms * std_room))
    crop = 1.0
    if scale < 0.6:  # smaller than a small room: a partial scan of one (cropped below)
        crop = (scale / 0.6) ** 2
        scale = 0.6
    scale = min(scale, 2.5)
    nx = math.ceil(math.sqrt(n_rooms))
    ny = math.ceil(n_rooms / nx)
    widths = 5.0 * scale * rng.uniform(0.85, 1.15, nx)
    depths = 4.0 * scale * rng.uniform(0.85, 1.15, ny)
    xs = np.concatenate([[0.0], np.cumsum(widths)])
    ys = np.concatenate([[0.0], np.cumsum(depths)])
    h = spec.height
    wall_color = _PALETTE[6]
    floor_color = _PALETTE[1]
    thickness = 0.12
    placed_all = []
    floor_start = len(sm.parts)
    for i in range(nx):
        for j in range(ny):
            if i * ny + j >= n_rooms:
                continue
            x0, y0, w, d = xs[i], ys[j], widths[i], depths[j]
            sm.rect((x0, y0, 0.0), (w, 0, 0), (0, d, 0), 2, floor_color)
    floor_end = len(sm.parts)
    for i in range(nx):
        for j in range(ny):
            if i * ny + j >= n_rooms:
                continue
            x0, y0, w, d = xs[i], ys[j], widths[i], depths[j]
            # Four walls seen from inside the room, with door/window openings.
            walls = [
                ((x0, y0 + thickness / 2, 0.0), (w, 0, 0), (0, 0, h)),
                ((x0 + w, y0 + d - thickness / 2, 0.0), (-w, 0, 0), (0, 0, h)),
                ((x0 + thickness / 2, y0 + d, 0.0), (0, -d, 0), (0, 0, h)),
                ((x0 + w - thickness / 2, y0, 0.0), (0, d, 0), (0, 0, h)),
            ]
            for k, (o, u, vv) in enumerate(walls):
                length = float(np.linalg.norm(u))
                holes = []
                if rng.random() < 0.45:  # window
                    a0 = rng.uniform(0.1, 0.6)
                    holes.append((a0, 0.35, a0 + min(1.4 / length, 0.35), 0.8))
                if k == int(rng.integers(4)):  # door
                    a0 = rng.uniform(0.05, 0.8)
                    holes.append((a0, 0.0, a0 + 0.9 / length, 2.05 / h))
                sm.rect(o, u, vv, 1, wall_color, holes=holes)
            placed_all += _furnish(
                sm, rng, x0 + thickness / 2, y0 + thickness / 2, w - thickness, d - thickness
            )
    # The floor under furniture is invisible to the scanner.
    for idx in range(floor_start, floor_end):
        pts, normals, labels, cols = sm.parts[idx]
        keep = ~_under_footprints(pts, placed_all)
        sm.parts[idx] = (pts[keep], normals[keep], labels[keep], cols[keep])
    cloud = sm.cloud()
    # Missing-data patches (specular surfaces, occlusion): drop points in random spheres.
    if spec.dropout > 0 and len(cloud):
        from scipy.spatial import cKDTree

        total_area = len(cloud) / density
        n_patches = max(1, int(spec.dropout * total_area / (math.pi * 0.15**2)))
        centers = cloud.points[rng.integers(0, len(cloud), n_patches)]
        radii = rng.uniform(0.05, 0.25, n_patches)
        dist, nearest = cKDTree(centers).query(cloud.points, distance_upper_bound=0.25)
        hit = np.isfinite(dist)
        lost = np.zeros(len(cloud), bool)
        lost[hit] = dist[hit] < radii[nearest[hit]]
        cloud = cloud.subset(~lost)
    if crop < 1.0:  # a partial scan: the part of the room nearest a random spot
        centre = cloud.points[rng.integers(len(cloud)), :2]
        reach = np.max(np.abs(cloud.points[:, :2] - centre), axis=1)
        cloud = cloud.subset(reach <= np.quantile(reach, crop))
    # The scan's frame is not aligned with the voxel grid: a random shift and a slight tilt
    # (a floor is never exactly level in a reconstruction).
    tilt = np.radians(rng.normal(0.0, 0.3, 2))
    cx, sx, cy, sy = np.cos(tilt[0]), np.sin(tilt[0]), np.cos(tilt[1]), np.sin(tilt[1])
    rot = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]) @ np.array(
        [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]
    )
    cloud.points = cloud.points @ rot.T + rng.uniform(0.0, 1.0, 3)
    if cloud.normals is not None:
        cloud.normals = (cloud.normals @ rot.T).astype(np.float32)
    return cloud


_SCENE_RE = re.compile(r"^room(?::(\d+))?(?::([a-z]+|\d+k?))?$")


def parse_scene_name(name: str) -> tuple[int, int] | None:
    """Parse ``room[:SEED[:SIZE]]`` into ``(seed, target_voxels)``; None if not a room name.

    SIZE is one of :data:`SIZES` or a voxel count (``20000`` or ``20k``).
    """
    m = _SCENE_RE.match(name.strip().lower())
    if not m:
        if name.strip().lower().startswith("room"):
            raise InputError(
                f"bad scene name {name!r}: expected room[:SEED[:SIZE]] with SIZE one of "
                f"{', '.join(SIZES)} or a voxel count"
            )
        return None
    seed = int(m.group(1) or 0)
    size = m.group(2) or "small"
    if size in SIZES:
        target = SIZES[size]
    elif size[0].isdigit():
        target = int(size[:-1]) * 1000 if size.endswith("k") else int(size)
    else:
        raise InputError(f"unknown scene size {size!r} (choose from {', '.join(SIZES)} or a count)")
    return seed, target


def scene_from_name(name: str, voxel_size: float = 0.05) -> PointCloud:
    """The point cloud of a generated scene named ``room[:SEED[:SIZE]]``."""
    parsed = parse_scene_name(name)
    if parsed is None:
        raise InputError(f"{name!r} is not a generated scene name (room[:SEED[:SIZE]])")
    seed, target = parsed
    return generate_scene(RoomSpec(seed=seed, target_voxels=target, voxel_size=voxel_size))


def load_scene(
    name_or_path: str, voxel_size: float | None = None, min_points: int = 2
) -> tuple[PointCloud, float]:
    """A point cloud and its voxel size, from a file or a generated-scene name.

    Generated scenes (``room[:SEED[:SIZE]]``) default to :data:`DEFAULT_VOXEL_SIZE`; a file
    needs ``voxel_size`` (its units are unknown).
    """
    from .pointcloud import load_point_cloud

    if voxel_size is not None and not (np.isfinite(voxel_size) and voxel_size > 0):
        raise ConfigError(f"voxel size must be a positive finite number, not {voxel_size}")
    if parse_scene_name(name_or_path) is not None:
        v = DEFAULT_VOXEL_SIZE if voxel_size is None else float(voxel_size)
        return scene_from_name(name_or_path, v), v
    if voxel_size is None:
        raise ConfigError(f"--voxel-size is required for the point cloud file {name_or_path}")
    return load_point_cloud(name_or_path, min_points=min_points), float(voxel_size)
