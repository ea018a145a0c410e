"""Owns the spatial-locality-aware neighbour search: a table of small dense bricks.

Active voxels are grouped into cubic *bricks* of ``S^3`` lattice cells (``S`` a power of
two).  Each occupied brick gets a dense array of voxel indices *padded with a halo* of
``r`` cells on every side, so that every neighbour within the radius ``r`` of a voxel
(``|offset| <= r`` per axis) is found in the voxel's own padded brick: a neighbour query
is one add and one gather, with no hashing per query.

The brick table itself is a dense grid of brick ids over the bounding box *of bricks*
(``S^3`` times smaller than the voxel bounding box) when that grid is small, and a sorted
hash of brick keys otherwise (UTM-scale scenes), so no dense voxel grid is ever allocated.

Cost: building is ``O(N)`` scatters plus halo copies (about one extra scatter per voxel
for surface-like data); a query of ``M`` points against ``K`` offsets is ``M*K`` gathers.
Memory: ``(S + 2r)^3`` int32 per occupied brick.

Batches are folded into the x axis with a gap wider than any kernel, so voxels of
different batch entries never see each other.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, InputError

__all__ = ["BrickIndex", "neighbour_table", "fold_batch"]

#: Largest dense brick-id grid (cells) before switching to a sorted hash of brick keys.
_DENSE_BRICK_GRID_LIMIT = 1 << 25


def fold_batch(arrays: list[np.ndarray], margin: int) -> list[np.ndarray]:
    """Fold the batch column of ``(N, 4)`` ``[b, x, y, z]`` lattice arrays into x.

    Every array is folded the same way: batch ``b`` is shifted along x by ``b * span``,
    ``span`` exceeding the joint x extent by ``2 * margin + 2`` so entries never touch.

    Returns
    -------
    list of ndarray, shape (N, 3), int64
    """
    arrays = [np.asarray(a).reshape(-1, 4) for a in arrays]
    xyz = [a[:, 1:4].astype(np.int64) for a in arrays]
    nonempty = [a for a in arrays if len(a)]
    if not nonempty:
        return xyz
    batches = np.concatenate([a[:, 0] for a in nonempty]).astype(np.int64)
    if batches.min() == batches.max():
        return xyz
    xs = np.concatenate([a[:, 1] for a in nonempty]).astype(np.int64)
    span = int(xs.max() - xs.min()) + 2 * margin + 2
    b0 = batches.min()
    for a, p in zip(arrays, xyz, strict=True):
        p[:, 0] += (a[:, 0].astype(np.int64) - b0) * span
    return xyz


def _brick_side(radius: int) -> int:
    side = 8
    while side < 2 * radius:
        side *= 2
    return side


class BrickIndex:
    """Index of active lattice points for radius-bounded neighbour queries.

    Parameters
    ----------
    points : ndarray, shape (N, 3), integer
        Active lattice coordinates (unique).
    radius : int
        Largest per-axis offset that queries will use.
    extra_bases : ndarray, shape (M, 3), optional
        Query base points that may lie outside the occupied bricks; their bricks are
        created (empty interior, filled halo) so that queries from them are exact.
    """

    def __init__(self, points: np.ndarray, radius: int, extra_bases: np.ndarray | None = None):
        if radius < 0:
            raise ConfigError(f"neighbour radius must be >= 0, not {radius}")
        points = np.asarray(points, dtype=np.int64).reshape(-1, 3)
        self.n = len(points)
        self.radius = int(radius)
        self.side = _brick_side(self.radius)
        self.bits = self.side.bit_length() - 1
        self.pad = self.side + 2 * self.radius
        bases = points if extra_bases is None else np.asarray(extra_bases, np.int64).reshape(-1, 3)
        every = points if extra_bases is None else np.concatenate([points, bases])
        if len(every) == 0:
            self.origin = np.zeros(3, np.int64)
            self._top = np.zeros(3, np.int64)
        else:
            lo = np.array([every[:, j].min() for j in range(3)], dtype=np.int64)
            hi = np.array([every[:, j].max() for j in range(3)], dtype=np.int64)
            # Brick-aligned origin one brick below the minimum: halo targets stay >= 0.
            self.origin = ((lo >> self.bits) - 1) << self.bits
            self._top = hi
        self._build(points, bases if extra_bases is not None else None)

    # ------------------------------------------------------------------ construction
    def _brick_coords(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = pts - self.origin
        return rel >> self.bits, rel & (self.side - 1)

    def _build(self, points: np.ndarray, bases: np.ndarray | None) -> None:
        bc, loc = self._brick_coords(points)
        all_bc = bc if bases is None else np.concatenate([bc, self._brick_coords(bases)[0]])
        # One spare brick above the top: halo targets of every point stay inside the grid.
        dims = ((self._top - self.origin) >> self.bits) + 2
        self.grid_dims = dims
        cells = int(np.prod(dims))
        self.dense = cells <= _DENSE_BRICK_GRID_LIMIT
        if self.dense:
            keys = (all_bc[:, 0] * dims[1] + all_bc[:, 1]) * dims[2] + all_bc[:, 2]
            occupied = np.zeros(cells, dtype=bool)
            occupied[keys] = True
            cell_ids = np.flatnonzero(occupied)
            grid = np.full(cells, -1, dtype=np.int32)
            grid[cell_ids] = np.arange(len(cell_ids), dtype=np.int32)
            self._grid = grid
            self.n_bricks = len(cell_ids)
        else:
            keys = self._keys(all_bc)
            self._sorted_keys = np.unique(keys)
            self.n_bricks = len(self._sorted_keys)
        pad, p3 = self.pad, self.pad**3
        total = (self.n_bricks + 1) * p3
        self.index_dtype = np.int32 if total < 2**31 - 1 else np.int64
        table = np.full(total, -1, dtype=np.int32)
        bid = self._lookup_inside(bc)
        r = self.radius
        lin = ((loc[:, 0] + r) * pad + (loc[:, 1] + r)) * pad + (loc[:, 2] + r)
        ids = np.arange(self.n, dtype=np.int32)
        home = bid.astype(np.int64) * p3 + lin
        self._home = home.astype(self.index_dtype)
        table[home] = ids
        if self.n and not np.array_equal(table[home], ids):
            raise InputError("coordinates contain duplicates; voxelize or deduplicate them first")
        if r > 0 and self.n:
            # Halo: copy each voxel near a brick face into the neighbour bricks' halos.
            side = self.side
            low = loc < r
            high = loc >= side - r
            for dx in (-1, 0, 1):
                mx = self._axis_mask(low[:, 0], high[:, 0], dx)
                for dy in (-1, 0, 1):
                    my = self._axis_mask(low[:, 1], high[:, 1], dy)
                    mxy = my if mx is None else (mx if my is None else mx & my)
                    for dz in (-1, 0, 1):
                        if dx == dy == dz == 0:
                            continue
                        mz = self._axis_mask(low[:, 2], high[:, 2], dz)
                        m = mz if mxy is None else (mxy if mz is None else mxy & mz)
                        sel = np.flatnonzero(m)
                        if len(sel) == 0:
                            continue
                        delta = np.array([dx, dy, dz], dtype=np.int64)
                        tb = self._lookup_inside(bc[sel] + delta)
                        ok = tb >= 0
                        if not ok.any():
                            continue
                        sel, tb = sel[ok], tb[ok]
                        pl = loc[sel] - delta * side + r
                        lin_h = (pl[:, 0] * pad + pl[:, 1]) * pad + pl[:, 2]
                        table[tb.astype(np.int64) * p3 + lin_h] = ids[sel]
        self._table = table

    @staticmethod
    def _axis_mask(low, high, d):
        if d == 0:
            return None
        return low if d < 0 else high

    def _keys(self, bc: np.ndarray) -> np.ndarray:
        # 21 bits per axis after the origin shift (bricks of >= 8 cells: 2^24 cells/axis).
        if len(bc) and (bc.min() < 0 or bc.max() >= (1 << 21)):
            raise ConfigError("coordinates span more than 2^24 voxels along one axis")
        return (bc[:, 0] << 42) | (bc[:, 1] << 21) | bc[:, 2]

    def _lookup_inside(self, bc: np.ndarray) -> np.ndarray:
        """:meth:`lookup_bricks` for brick coordinates known to lie inside the grid."""
        if self.dense:
            dims = self.grid_dims
            return self._grid[(bc[:, 0] * dims[1] + bc[:, 1]) * dims[2] + bc[:, 2]]
        return self.lookup_bricks(bc)

    def lookup_bricks(self, bc: np.ndarray) -> np.ndarray:
        """Brick ids of brick coordinates ``bc`` (``(M, 3)``), ``-1`` where absent."""
        bc = np.asarray(bc, dtype=np.int64)
        if self.dense:
            dims = self.grid_dims
            keys = (bc[:, 0] * dims[1] + bc[:, 1]) * dims[2] + bc[:, 2]
            if len(bc) == 0 or (bc.min() >= 0 and (bc.max(axis=0) < dims).all()):
                return self._grid[keys]
            inside = np.all((bc >= 0) & (bc < dims), axis=1)
            out = np.full(len(bc), -1, dtype=np.int32)
            out[inside] = self._grid[keys[inside]]
            return out
        inside = np.all((bc >= 0) & (bc < (1 << 21)), axis=1)
        out = np.full(len(bc), -1, dtype=np.int32)
        keys = self._keys(bc[inside])
        pos = np.searchsorted(self._sorted_keys, keys)
        pos_c = np.minimum(pos, len(self._sorted_keys) - 1)
        hit = self._sorted_keys[pos_c] == keys if len(self._sorted_keys) else np.zeros(0, bool)
        res = np.full(len(keys), -1, dtype=np.int32)
        res[hit] = pos_c[hit]
        out[inside] = res
        return out

    # ------------------------------------------------------------------ queries
    def _bases(self, bases: np.ndarray) -> np.ndarray:
        bc, loc = self._brick_coords(bases)
        bid = self.lookup_bricks(bc)
        if (bid < 0).any():
            raise ConfigError("query base point outside the indexed bricks")
        pad, r = self.pad, self.radius
        it = self.index_dtype
        return bid.astype(it) * it(pad**3) + (
            ((loc[:, 0] + r) * pad + (loc[:, 1] + r)) * pad + (loc[:, 2] + r)
        ).astype(it)

    def _offsets(self, offsets: np.ndarray) -> np.ndarray:
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 3)
        if len(offsets) and np.abs(offsets).max() > self.radius:
            raise ConfigError(
                f"offset {int(np.abs(offsets).max())} exceeds the index radius {self.radius}"
            )
        pad = self.pad
        return ((offsets[:, 0] * pad + offsets[:, 1]) * pad + offsets[:, 2]).astype(
            self.index_dtype
        )

    def query(self, bases: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Indices of ``bases[m] + offsets[k]`` among the indexed points.

        Parameters
        ----------
        bases : ndarray, shape (M, 3)
            Query base points; each must be an indexed point or an ``extra_bases`` point.
        offsets : ndarray, shape (K, 3)
            Offsets with ``|offset| <= radius`` on every axis.

        Returns
        -------
        ndarray, shape (K, M), int32
            ``out[k, m]``: point index, or ``-1`` where the queried cell is not active.
        """
        bases = np.asarray(bases, dtype=np.int64).reshape(-1, 3)
        off = self._offsets(offsets)
        out = np.empty((len(off), len(bases)), dtype=np.int32)
        if len(bases) == 0:
            return out
        base = self._bases(bases)
        for k in range(len(off)):
            np.take(self._table, base + off[k], out=out[k])
        return out

    def query_symmetric(self, offsets: np.ndarray) -> np.ndarray:
        """:meth:`query` of the indexed points themselves against centrally symmetric offsets.

        ``offsets[K-1-k] == -offsets[k]`` must hold (odd cubic kernels in row-major order):
        only the first half is looked up; ``a + d = b`` gives ``b - d = a`` for the mirror.
        """
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 3)
        k_all = len(offsets)
        if k_all % 2 == 0 or not np.array_equal(offsets[::-1], -offsets):
            raise ConfigError("query_symmetric needs centrally symmetric offsets")
        half = k_all // 2
        out = np.empty((k_all, self.n), dtype=np.int32)
        off = self._offsets(offsets)
        if self.n:
            base = self._home
            for k in range(half):
                np.take(self._table, base + off[k], out=out[k])
        out[half] = np.arange(self.n, dtype=np.int32)
        out[half + 1 :] = -1
        for k in range(half):
            row = out[k]
            hit = np.flatnonzero(row >= 0).astype(np.int32)
            out[k_all - 1 - k, row[hit]] = hit
        return out


def neighbour_table(
    in_points: np.ndarray, out_points: np.ndarray | None, offsets: np.ndarray
) -> np.ndarray:
    """Offset-major neighbour table: ``table[k, o]`` = index of ``out[o] + offsets[k]``.

    Parameters
    ----------
    in_points : ndarray, shape (N, 3), integer lattice coordinates (unique)
    out_points : ndarray, shape (M, 3), or None for ``in_points`` itself (submanifold)
    offsets : ndarray, shape (K, 3), integer lattice offsets

    Returns
    -------
    ndarray, shape (K, M), int32 (``-1`` = no active input there)
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 3)
    radius = int(np.abs(offsets).max()) if len(offsets) else 0
    if out_points is None:
        index = BrickIndex(in_points, radius)
        if len(offsets) % 2 == 1 and np.array_equal(offsets[::-1], -offsets):
            return index.query_symmetric(offsets)
        return index.query(in_points, offsets)
    index = BrickIndex(in_points, radius, out_points)
    return index.query(out_points, offsets)
