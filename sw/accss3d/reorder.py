"""Owns voxel reordering: processing orders of a stride level and the rewriting they imply.

An *order* is a permutation ``perm`` of the voxels of one stride level: position ``j`` of
the reordered tensor holds old voxel ``perm[j]`` (``new = old[perm]``).  Reordering a layer
permutes its input features and rewrites its kernel map consistently
(:func:`permute_tensor`, :func:`permute_kernel_map`); outputs are then unchanged up to the
output permutation.  Which order is best is decided by :mod:`accss3d.l1model` (DRAM traffic
of the IFM buffer); docs/reordering.md has the algorithms, their cost and the measurements.

Methods (:data:`METHODS`):

``raster``
    Sorted by ``(batch, x, y, z)``, z fastest (the voxelizer's order).
``morton``
    Z-order: the bits of x, y, z interleaved (x most significant).
``hilbert``
    The 3D Hilbert curve (Skilling's transpose algorithm): consecutive cells are
    face-adjacent.
``bfs``
    The patent's breadth-first chunking: a graph of occupied voxels with 26-adjacency edges
    (from the 3^3 rulebook), a peripheral start voxel per connected component, chunks of
    bounded size grown breadth-first, chunks ordered by spatial locality.
``surface``
    Surface-orientation-aware, buffer-aware sweep: PCA normals from the rulebook's neighbour
    lists decide which surfaces the sweep runs along and which it meets face-on (those are
    traversed along their own plane, all layers together); the scene is swept in pencils
    whose size a model of seams and buffer overflow picks for the IFM capacity (see
    :func:`surface_order`).

Coordinates are ``(N, 4)`` ``[batch, x, y, z]`` at a tensor stride ``s`` (multiples of
``s``); batch entries are never interleaved.  Every order is deterministic: ties are broken
by stable sorts on the raster index.

# Ref: US 12,189,559 (reordering: graph of occupied voxels, start voxel from adjacency,
# chunks grown breadth-first, chunks ordered by spatial locality).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import ConfigError, InputError
from .rulebook import ConvSpec, KernelMap, build_kernel_map
from .voxel import SparseTensor

__all__ = [
    "METHODS",
    "reorder",
    "raster_order",
    "morton_order",
    "hilbert_order",
    "morton_index",
    "hilbert_index",
    "bfs_order",
    "surface_order",
    "surface_normals",
    "inverse_permutation",
    "permute_tensor",
    "permute_kernel_map",
]

METHODS = ("raster", "morton", "hilbert", "bfs", "surface")

#: Bits per axis that one interleaved int64 word holds (3 * 21 = 63).
_WORD_BITS = 21


# --------------------------------------------------------------------------- inputs
def _coords_of(x) -> tuple[np.ndarray, int | None]:
    if isinstance(x, SparseTensor):
        return x.coords, x.stride
    coords = np.asarray(x)
    if coords.ndim != 2 or coords.shape[1] != 4 or not np.issubdtype(coords.dtype, np.integer):
        raise InputError(
            f"reorder needs a SparseTensor or (N, 4) integer coordinates [batch, x, y, z], "
            f"not {coords.shape} {coords.dtype}"
        )
    return coords, None


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _lattice(coords: np.ndarray, stride: int) -> np.ndarray:
    """Non-negative ``(N, 3)`` int64 lattice coordinates (divided by the stride)."""
    xyz = coords[:, 1:].astype(np.int64)
    if stride > 1:
        xyz //= stride
    if len(xyz):
        xyz -= xyz.min(axis=0)
    return xyz


# --------------------------------------------------------------------------- curves
def _spread3(v: np.ndarray) -> np.ndarray:
    """Spread the low 21 bits of ``v`` to every third bit (uint64)."""
    v = v.astype(np.uint64) & np.uint64(0x1FFFFF)
    v = (v | (v << np.uint64(32))) & np.uint64(0x1F00000000FFFF)
    v = (v | (v << np.uint64(16))) & np.uint64(0x1F0000FF0000FF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x100F00F00F00F00F)
    v = (v | (v << np.uint64(4))) & np.uint64(0x10C30C30C30C30C3)
    v = (v | (v << np.uint64(2))) & np.uint64(0x1249249249249249)
    return v


def _interleave(axes: list[np.ndarray], bits: int) -> list[np.ndarray]:
    """Bit-interleaved keys of three axes (axis 0 most significant), most significant word
    first; each word holds 21 bits per axis."""
    words = []
    for lo in range(0, max(bits, 1), _WORD_BITS)[::-1]:
        parts = [_spread3(a >> np.uint64(lo)) for a in axes]
        words.append((parts[0] << np.uint64(2)) | (parts[1] << np.uint64(1)) | parts[2])
    return words


def _hilbert_transpose(xyz: np.ndarray, bits: int) -> list[np.ndarray]:
    """Skilling's AxestoTranspose for 3 axes, vectorized: the Hilbert index in transposed
    form (interleave the returned axes to get the index)."""
    x = [xyz[:, j].astype(np.uint64) for j in range(3)]
    q = 1 << (bits - 1) if bits > 0 else 0
    while q > 1:  # inverse undo
        p = np.uint64(q - 1)
        uq = np.uint64(q)
        for i in range(3):
            hi = (x[i] & uq) != 0
            if i == 0:
                x[0] = np.where(hi, x[0] ^ p, x[0])
                continue
            t = (x[0] ^ x[i]) & p
            t = np.where(hi, np.uint64(0), t)
            x[0] = np.where(hi, x[0] ^ p, x[0] ^ t)
            x[i] = x[i] ^ t
        q >>= 1
    for i in (1, 2):  # Gray encode
        x[i] = x[i] ^ x[i - 1]
    t = np.zeros_like(x[0])
    q = 1 << (bits - 1) if bits > 0 else 0
    while q > 1:
        t = np.where((x[2] & np.uint64(q)) != 0, t ^ np.uint64(q - 1), t)
        q >>= 1
    return [a ^ t for a in x]


def morton_index(xyz, bits: int) -> np.ndarray:
    """Z-order index of non-negative ``(N, 3)`` points of ``bits <= 21`` bits, int64."""
    xyz = np.asarray(xyz, dtype=np.int64).reshape(-1, 3)
    if not 0 <= bits <= _WORD_BITS:
        raise ConfigError(f"morton_index takes 0..{_WORD_BITS} bits per axis, not {bits}")
    axes = [xyz[:, j].astype(np.uint64) for j in range(3)]
    return _interleave(axes, bits)[-1].astype(np.int64)


def hilbert_index(xyz, bits: int) -> np.ndarray:
    """3D Hilbert index of non-negative ``(N, 3)`` points of ``bits <= 21`` bits, int64."""
    xyz = np.asarray(xyz, dtype=np.int64).reshape(-1, 3)
    if not 0 <= bits <= _WORD_BITS:
        raise ConfigError(f"hilbert_index takes 0..{_WORD_BITS} bits per axis, not {bits}")
    return _interleave(_hilbert_transpose(xyz, bits), bits)[-1].astype(np.int64)


def _curve_order(coords: np.ndarray, stride: int, curve: str) -> np.ndarray:
    n = len(coords)
    if n == 0:
        return np.zeros(0, np.int64)
    xyz = _lattice(coords, stride)
    bits = max(int(xyz.max()).bit_length(), 1)
    if curve == "hilbert":
        axes = _hilbert_transpose(xyz, bits)
    else:
        axes = [xyz[:, j].astype(np.uint64) for j in range(3)]
    words = _interleave(axes, bits)
    # Raster index as the last tie-break (unique coordinates: never needed, but explicit).
    keys = [np.arange(n)] + words[::-1] + [coords[:, 0].astype(np.int64)]
    return np.lexsort(keys).astype(np.int64)


def raster_order(coords) -> np.ndarray:
    """Permutation sorting ``(N, 4)`` coordinates by ``(batch, x, y, z)``, z fastest."""
    coords = np.asarray(coords)
    return np.lexsort(coords.T[::-1]).astype(np.int64)


def morton_order(coords, stride: int = 1) -> np.ndarray:
    """Permutation into Z-order (per batch entry; x most significant)."""
    return _curve_order(np.asarray(coords), stride, "morton")


def hilbert_order(coords, stride: int = 1) -> np.ndarray:
    """Permutation along the 3D Hilbert curve (per batch entry)."""
    return _curve_order(np.asarray(coords), stride, "hilbert")


def _pack_sort(fields: list[np.ndarray]) -> np.ndarray:
    """Stable permutation sorting by ``fields`` (most significant first; non-negative ints).

    The fields are packed into one int64 key when they fit in 63 bits (one radix-friendly
    argsort), else sorted with ``np.lexsort``.
    """
    n = len(fields[0])
    if n == 0:
        return np.zeros(0, np.int64)
    fields = [np.asarray(f, dtype=np.int64) for f in fields]
    widths = [max(int(f.max()).bit_length(), 1) for f in fields]
    if sum(widths) > 63:
        return np.lexsort(fields[::-1]).astype(np.int64)
    key = np.zeros(n, np.int64)
    for f, w in zip(fields, widths, strict=True):
        key = (key << w) | f
    return np.argsort(key, kind="stable").astype(np.int64)


# --------------------------------------------------------------------------- graph
def _adjacency_map(coords: np.ndarray, kmap: KernelMap | None, stride: int) -> KernelMap:
    """The 3^3 submanifold kernel map of ``coords`` (built when not given; checked if given)."""
    if kmap is None:
        kmap, _ = build_kernel_map(coords, ConvSpec("submanifold", 3), in_stride=stride)
        return kmap
    if not isinstance(kmap, KernelMap):
        raise InputError(f"kmap must be a KernelMap, not {type(kmap).__name__}")
    if kmap.spec.kind != "submanifold" or kmap.spec.kernel_size != 3 or kmap.spec.dilation != 1:
        raise ConfigError(
            f"reordering needs the 3x3x3 submanifold kernel map of the voxels, not a "
            f"{kmap.spec.describe()} map"
        )
    if kmap.n_in != len(coords):
        raise InputError(
            f"the kernel map has {kmap.n_in} voxels but there are {len(coords)} coordinates"
        )
    return kmap


def _csr(kmap: KernelMap) -> tuple[np.ndarray, np.ndarray]:
    """26-adjacency of the voxels as CSR ``(indptr, indices)``, int32 (neighbours in offset
    order)."""
    table = kmap.table
    valid = table >= 0
    valid[kmap.volume // 2] = False  # the voxel itself
    row = np.nonzero(valid)[1]
    col = table[valid]
    order = np.argsort(row, kind="stable")  # by voxel, then offset
    indptr = np.zeros(kmap.n_out + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=kmap.n_out), out=indptr[1:])
    return indptr.astype(np.int32), col[order].astype(np.int32)


def _graph(indptr: np.ndarray, indices: np.ndarray, n: int):
    from scipy.sparse import csr_matrix

    return csr_matrix((np.ones(len(indices), np.int8), indices, indptr), shape=(n, n))


def _bfs(indptr: np.ndarray, indices: np.ndarray, sources: np.ndarray, n: int):
    """Breadth-first search from ``sources`` at once (a queue seeded in their order).

    Runs scipy's BFS (in C) from virtual nodes linked to the sources; depths and roots
    follow from the predecessor tree by pointer doubling (``log depth`` numpy passes).
    Neighbours are visited in index order.

    Returns
    -------
    level : (n,) int64, -1 where unreached
    rank : (n,) int64, discovery order (-1 where unreached)
    root : (n,) int64, index into ``sources`` of the source whose wave reached the voxel
        first (ties: the earlier source in the queue); -1 where unreached
    """
    from scipy.sparse.csgraph import breadth_first_order

    sources = np.asarray(sources, np.int64)
    m = len(sources)
    # Virtual nodes: root n links to n+1 .. n+m (scipy visits a row's entries in index
    # order, so these come out in priority order), node n+1+i links to source i.
    ptr = np.concatenate([indptr, indptr[-1] + m + np.arange(m + 1)]).astype(np.int32)
    links = np.concatenate(
        [indices, np.arange(n + 1, n + 1 + m, dtype=np.int32), sources.astype(np.int32)]
    )
    graph = _graph(ptr, links, n + 1 + m)
    found, pred = breadth_first_order(graph, n, directed=True, return_predecessors=True)
    found = found[1 + m :]
    rank = np.full(n, -1, np.int64)
    rank[found] = np.arange(len(found))
    # Pointer doubling towards the virtual layer; n stands for "a source's link",
    # n + 1 for "unreached" (both fixed points).
    up = pred[:n].astype(np.int64)
    up[up > n] = n
    up[up < 0] = n + 1
    up = np.append(up, [n, n + 1])
    dist = np.ones(n + 2, np.int64)
    dist[n:] = 0
    top = np.arange(n + 2)  # the ancestor just below the virtual layer (a source)
    top[:n] = np.where(up[:n] >= n, top[:n], up[:n])
    while True:
        idx = np.flatnonzero(up < n)
        if len(idx) == 0:
            break
        dist[idx] += dist[up[idx]]
        up[idx] = up[up[idx]]
        top = top[top]
    reached = rank >= 0
    level = np.where(reached, dist[:n] - 1, -1)
    which = np.full(n + 2, -1, np.int64)
    which[sources] = np.arange(len(sources))
    root = np.where(reached, which[top[:n]], -1)
    return level, rank, root


def _components(indptr, indices, n: int) -> np.ndarray:
    """Connected-component label of every voxel (scipy, in C; the graph is symmetric, so its
    strong components are its components)."""
    from scipy.sparse.csgraph import connected_components

    graph = _graph(np.asarray(indptr, np.int32), np.asarray(indices, np.int32), n)
    return connected_components(graph, directed=True, connection="strong")[1].astype(np.int64)


def _first_per_group(group: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Index of the element with the smallest ``(priority, index)`` in every group."""
    order = np.lexsort((np.arange(len(group)), priority, group))
    g = group[order]
    head = np.ones(len(g), bool)
    head[1:] = g[1:] != g[:-1]
    return order[head]


def _group_ids(fields: list[np.ndarray]) -> np.ndarray:
    """Dense ids ``0..G-1`` of the distinct rows of ``fields`` (in sorted order of the rows)."""
    order = _pack_sort(fields)
    rows = np.stack([np.asarray(f, np.int64)[order] for f in fields], axis=1)
    new = np.ones(len(order), bool)
    new[1:] = np.any(rows[1:] != rows[:-1], axis=1)
    ids = np.empty(len(order), np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def _rank_within(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Position of every element inside its group, groups walked in ``order``."""
    g = group[order]
    first = np.ones(len(g), bool)
    first[1:] = g[1:] != g[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
    out = np.empty(len(g), np.int64)
    out[order] = np.arange(len(g)) - start
    return out


def bfs_order(
    coords, kmap: KernelMap | None = None, *, chunk: int = 256, stride: int = 1, info=None
) -> np.ndarray:
    """The patent's breadth-first chunking.

    1. Graph: occupied voxels, 26-adjacency edges from the 3^3 kernel map.
    2. Start voxel, per connected component: a pseudo-peripheral voxel - the voxel of
       lowest degree, then (one George-Liu step) the lowest-degree voxel of the last level
       of a BFS from it.
    3. Chunks: a BFS from the start voxels gives every voxel a discovery rank; in every
       cell of a grid of edge ``round(sqrt(chunk))`` the first voxel the wave reaches seeds
       a chunk; all chunks then grow breadth-first at once (each voxel joins the chunk whose
       wave reaches it first), and chunks larger than ``chunk`` are cut, in their BFS
       order, into pieces of at most ``chunk`` voxels.
    4. Chunks are ordered by spatial locality (the Hilbert index of their centroids);
       within a chunk voxels keep their breadth-first order from its seed.

    Cost: O(N + E) numpy work per BFS level (three BFS runs; levels = graph diameter)
    plus sorts.

    # Ref: US 12,189,559 (graph of occupied voxels with adjacency edges; start voxel chosen
    # from the adjacency; chunks grown breadth-first; chunks ordered by spatial locality).
    """
    coords = np.asarray(coords)
    n = len(coords)
    chunk = _check_positive("chunk size", chunk)
    if n <= 1:
        return np.arange(n, dtype=np.int64)
    kmap = _adjacency_map(coords, kmap, stride)
    indptr, indices = _csr(kmap)
    degree = np.diff(indptr)
    comp = _components(indptr, indices, n)
    start = _first_per_group(comp, degree)
    level, _, _ = _bfs(indptr, indices, start, n)
    far = _first_per_group(comp, (degree.max() + 1) * (level.max() - level) + degree)
    far = far[np.argsort(comp[far], kind="stable")]
    level, rank, _ = _bfs(indptr, indices, far, n)
    # Chunk seeds: the first voxel the wave reaches in each grid cell (per component).
    side = max(1, int(round(np.sqrt(chunk))))
    xyz = _lattice(coords, stride)
    cell = _group_ids([comp, *(xyz // side).T])
    seeds = _first_per_group(cell, rank)
    seeds = seeds[np.argsort(rank[seeds], kind="stable")]
    _, grow_rank, owner = _bfs(indptr, indices, seeds, n)
    within = np.argsort(grow_rank, kind="stable")
    piece = _rank_within(owner, within) // chunk
    chunk_id = _group_ids([owner, piece])
    # Order the chunks along the Hilbert curve through their centroids.
    count = np.bincount(chunk_id)
    centre = np.stack([np.bincount(chunk_id, xyz[:, j]) for j in range(3)], axis=1)
    centre = np.rint(centre / count[:, None]).astype(np.int64)
    chunk_rank = np.empty(len(count), np.int64)
    chunk_rank[
        _curve_order(np.column_stack([np.zeros(len(count), np.int64), centre]), 1, "hilbert")
    ] = np.arange(len(count))

    batch = coords[:, 0].astype(np.int64)
    order = _pack_sort([batch - batch.min(), chunk_rank[chunk_id], grow_rank])
    if info is not None:
        info.update(components=int(comp.max()) + 1, chunks=len(count), levels=int(level.max()) + 1)
    return order


# --------------------------------------------------------------------------- surface
def _occupancy_codes(kmap: KernelMap) -> np.ndarray:
    """Bit ``k`` of ``code[v]`` says whether offset ``k`` of voxel ``v`` is occupied."""
    code = np.zeros(kmap.n_out, np.int64)
    for k in range(kmap.volume):
        code |= (kmap.table[k] >= 0).astype(np.int64) << k
    return code


def surface_normals(kmap: KernelMap, codes: np.ndarray | None = None) -> np.ndarray:
    """PCA normal of every voxel's 3^3 neighbourhood, ``(N, 3)`` float64 unit vectors.

    The neighbourhood of a voxel is one of at most ``2^26`` occupancy patterns of its
    3^3 rulebook line; the covariance of the occupied offsets depends on the pattern only,
    so the eigen-decomposition runs once per *distinct* pattern (a fraction of the voxels
    on scanned surfaces) and is gathered back.  The normal is the eigenvector of the
    smallest eigenvalue (sign arbitrary; a voxel without neighbours gets an arbitrary axis).
    """
    if kmap.spec.kind != "submanifold" or kmap.volume != 27:
        raise ConfigError("surface normals need the 3x3x3 submanifold kernel map")
    codes = _occupancy_codes(kmap) if codes is None else codes
    patterns, inverse = np.unique(codes, return_inverse=True)
    occupied = ((patterns[:, None] >> np.arange(27)) & 1).astype(np.float64)
    offsets = kmap.spec.offsets().astype(np.float64)
    count = occupied.sum(axis=1)
    mean = occupied @ offsets / count[:, None]
    outer = (offsets[:, :, None] * offsets[:, None, :]).reshape(27, 9)
    second = (occupied @ outer).reshape(-1, 3, 3) / count[:, None, None]
    cov = second - mean[:, :, None] * mean[:, None, :]
    normals = np.linalg.eigh(cov)[1][:, :, 0]
    return normals[inverse.reshape(-1)]


def _collapse_depth(
    kmap: KernelMap, xyz: np.ndarray, facing: np.ndarray, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sweep coordinate along ``axis`` of every voxel, and which voxels were collapsed.

    A voxel keeps its own coordinate, except in a connected patch of voxels facing the
    sweep (``facing``) whose depth has a standard deviation of at most one layer: those
    all get the patch's mean depth, so that the patch's layers are processed together.
    """
    depth = xyz[:, axis].copy()
    idx = np.flatnonzero(facing)
    if len(idx) == 0:
        return depth, facing
    local = np.full(kmap.n_in + 1, -1, np.int64)  # slot n_in: "no voxel"
    local[idx] = np.arange(len(idx))
    nb = local[kmap.table[:, idx]].T  # -1 (no voxel) indexes the extra slot
    nb[:, kmap.volume // 2] = -1
    valid = nb >= 0
    indptr = np.zeros(len(idx) + 1, np.int64)
    np.cumsum(np.count_nonzero(valid, axis=1), out=indptr[1:])
    label = _components(indptr, nb[valid], len(idx))
    d = depth[idx].astype(np.float64)
    count = np.bincount(label)
    mean = np.bincount(label, d) / count
    var = np.bincount(label, d * d) / count - mean * mean
    thin = (var <= 1.0)[label]
    depth[idx[thin]] = np.rint(mean[label[thin]]).astype(np.int64)
    collapsed = np.zeros(len(xyz), bool)
    collapsed[idx[thin]] = True
    return depth, collapsed


class _Plan(NamedTuple):
    """A sweep along axis ``a``, on an evenly spread sample of the voxels (every ``step``-th).

    ``b`` is the strip axis (the longer other one), ``c`` the column axis; ``depth`` the
    sweep coordinate of every voxel; for the sample: ``sb``, ``sc`` its b and c, ``sd`` its
    depth, ``lower``/``higher`` whether it is read from a slice group of smaller/larger
    depth, ``up``/``down``/``cup``/``cdown`` whether it has a neighbour one step up/down
    along b / c.
    """

    a: int
    b: int
    c: int
    depth: np.ndarray
    step: int
    batch: np.ndarray | None
    sb: np.ndarray
    sc: np.ndarray
    sd: np.ndarray
    lower: np.ndarray
    higher: np.ndarray
    up: np.ndarray
    down: np.ndarray
    cup: np.ndarray
    cdown: np.ndarray


def _axis_plan(kmap, xyz, normal, codes, a: int, batch, step: int) -> _Plan:
    """What the sweep along axis ``a`` needs to price every strip width and layer height."""
    b, c = (j for j in range(3) if j != a)
    extent = xyz.max(axis=0)
    if extent[b] < extent[c]:
        b, c = c, b
    depth, collapsed = _collapse_depth(kmap, xyz, normal[:, a] > np.sqrt(0.5), a)
    offsets = kmap.spec.offsets()
    bit = np.int64(1) << np.arange(kmap.volume, dtype=np.int64)
    sample = np.arange(0, len(xyz), step)
    code = codes[sample]

    def any_of(mask) -> np.ndarray:
        return (code & np.bitwise_or.reduce(bit[mask])) != 0

    # Voxels keeping their coordinate: a neighbour off their slice is in another group.
    lower = any_of(offsets[:, a] < 0)
    higher = any_of(offsets[:, a] > 0)
    sel = np.flatnonzero(collapsed[sample])
    if len(sel):
        rows = kmap.table[:, sample[sel]]
        there = np.append(depth, 0)[rows]  # index -1 (no voxel) reads the extra slot
        own = depth[sample[sel]]
        lower[sel] = np.any((rows >= 0) & (there < own), axis=0)
        higher[sel] = np.any((rows >= 0) & (there > own), axis=0)
    return _Plan(
        a, b, c, depth, step,
        None if batch is None else batch[sample],
        xyz[sample, b], xyz[sample, c], depth[sample], lower, higher,
        any_of(offsets[:, b] == 1), any_of(offsets[:, b] == -1),
        any_of(offsets[:, c] == 1), any_of(offsets[:, c] == -1),
    )  # fmt: skip


def _lanes(b, c, batch, width: int, height: int | None, nstrips: int, nlayers: int):
    """Pencil index of voxels in processing order: strips of ``width`` along b, each cut
    into layers of ``height`` along c visited back and forth (boustrophedon)."""
    strip = b // width
    lane = strip if batch is None else batch * nstrips + strip
    if height is None:
        return lane
    layer = c // height
    return lane * nlayers + np.where(strip % 2 == 1, nlayers - 1 - layer, layer)


def _predicted_refetches(plan: _Plan, width: int, height: int | None, limit: float) -> float:
    """Re-fetches a sweep in pencils of ``width`` x ``height`` should cost (a fraction).

    * Seams: a voxel read by outputs of the next strip or layer is fetched once for each.
    * Slice windows: a voxel at fraction ``f`` of its slice group ``g`` (groups are ordered
      by ``b`` inside) read from the groups before and/or after it is in use from group
      ``s`` (``g - 1`` or ``g``) at ``f`` to group ``e`` (``g`` or ``g + 1``) at ``f``.  The
      inputs touched meanwhile are the outputs of that window plus the neighbouring
      inputs they read: ``(1-f) A(s-1) + f A(s)`` before it and ``(1-f) B(e) + f B(e+1)``
      after it, with ``A``/``B`` the voxels of a group read from the group after/before.
      The voxel is evicted in between when that exceeds ``limit``.
    """
    b, c, depth = plan.sb, plan.sc, plan.sd
    seams = np.count_nonzero(plan.up & (b % width == width - 1))
    seams += np.count_nonzero(plan.down & (b % width == 0))
    nlayers = 1
    if height is not None:
        seams += np.count_nonzero(plan.cup & (c % height == height - 1))
        seams += np.count_nonzero(plan.cdown & (c % height == 0))
        nlayers = int(c.max()) // height + 1
    lane = _lanes(b, c, plan.batch, width, height, int(b.max()) // width + 1, nlayers)
    odd = (lane & 1).astype(bool)
    top = int(plan.depth.max())
    sweep = np.where(odd, top - depth, depth)  # boustrophedon
    before = np.where(odd, plan.higher, plan.lower)
    after = np.where(odd, plan.lower, plan.higher)
    group = lane * (top + 5) + sweep + 2  # empty groups between pencils
    if group.max() > 8 * len(group) + 1024:  # sparse, far-flung voxels: compact the ids
        keys, inverse = np.unique(group, return_inverse=True)
        ids = np.cumsum(1 + 2 * (np.diff(keys, prepend=keys[0]) > 1))  # keep gaps as gaps
        group = ids[inverse.reshape(-1)] + 2
    size = int(group.max()) + 3
    scale = np.float32(plan.step)
    load = np.bincount(group, minlength=size).astype(np.float32) * scale
    read_after = np.bincount(group, after, minlength=size).astype(np.float32) * scale  # A
    read_before = np.bincount(group, before, minlength=size).astype(np.float32) * scale  # B
    cross = np.flatnonzero(before | after)
    g, bef, aft = group[cross], before[cross], after[cross]
    f = ((b[cross] % width + 0.5) / width).astype(np.float32)
    s, e = g - bef, g + aft
    window = (1 - f) * (load[s] + read_after[s - 1] + read_before[e])
    window += f * (load[e] + read_after[s] + read_before[e + 1])
    window += np.where(bef & aft, load[g], 0)
    return (seams + np.count_nonzero(window > limit)) / len(b)


#: Voxels on which the sweep model is evaluated (an evenly spread sample).
_SAMPLE = 1 << 17


def _doubling(start: int, stop: int):
    """``start, 2 start, 4 start...`` up to the first value >= ``stop``."""
    value = start
    while True:
        yield value
        if value >= stop:
            return
        value *= 2


def _best_pencil(plan: _Plan, limit: float) -> tuple[float, int, int | None]:
    """The cheapest ``(cost, width, height)`` for one axis, by coordinate descent: strip
    widths without layers, then layer heights at the best width, then the widths next to
    it at the best height."""
    wide = int(plan.sb.max()) + 1
    tall = int(plan.sc.max()) + 1
    priced: dict = {}

    def price(width: int, height: int | None) -> float:
        if (width, height) not in priced:
            priced[width, height] = _predicted_refetches(plan, width, height, limit)
        return priced[width, height]

    def rank(key: tuple[int, int | None]) -> tuple:
        width, height = key  # ties: narrower strips, then taller (or no) layers
        return priced[key], width, -(height or np.inf)

    for width in _doubling(8, wide):
        if price(width, None) > min(priced.values()) + 0.02:  # past the buffer's limit
            break
    width = min(priced, key=rank)[0]
    for height in _doubling(8, tall):
        if height < tall:
            price(width, height)
    height = min(priced, key=rank)[1]
    if height is not None:
        for w in (width // 2, width * 2):
            if w >= 4:
                price(w, height)
    best = min(priced, key=rank)
    return priced[best], best[0], best[1]


def surface_order(
    coords,
    kmap: KernelMap | None = None,
    *,
    capacity: int = 1024,
    tile: int = 64,
    stride: int = 1,
    info=None,
) -> np.ndarray:
    """Surface-orientation-aware, buffer-aware sweep (docs/reordering.md).

    1. Normals: PCA of every voxel's 3^3 neighbourhood (:func:`surface_normals`).
    2. For a sweep axis ``a``, a voxel whose normal is within 45 degrees of ``a`` lies on a
       surface *facing* the sweep; each connected patch of such voxels, if at most three
       layers thick, is given its mean depth as sweep coordinate, so that its layers are
       traversed together, along the patch (by the other two coordinates).  Surfaces
       *along* the sweep keep their own coordinate: the sweep moves along them.
    3. The scene is cut into *pencils*: strips of ``width`` along the longer other axis
       ``b``, optionally cut into layers of ``height`` along the third axis ``c``.  Pencils
       are swept one after the other, alternately forward and backward along ``a``
       (boustrophedon); inside a pencil, voxels of one sweep position are ordered by
       ``(b, c, a)``.  A pencil's working set is about three slices, so its size trades
       seams (fetched twice) against overflowing the buffer.
    4. Axis, width and height are chosen by a model of both costs
       (:func:`_predicted_refetches`) on a sample of the voxels: widths 8, 16, ... without
       layers, then heights, then widths again (coordinate descent), for each axis.

    Parameters
    ----------
    coords : ndarray (N, 4)
    kmap : KernelMap, optional
        The 3^3 submanifold kernel map of ``coords`` (built if not given).
    capacity : int
        Input voxels the IFM buffer holds (the order is tuned for it).
    tile : int
        Outputs per tile (the buffer keeps about two tiles' inputs besides the window).
    stride : int
        Tensor stride of ``coords``.
    info : dict, optional
        Receives the chosen ``axis``, ``strip`` width, layer ``height`` (None: none) and
        the predicted ratio.
    """
    coords = np.asarray(coords)
    n = len(coords)
    capacity = _check_positive("capacity (voxels)", capacity)
    tile = _check_positive("tile size (outputs)", tile)
    if n <= 1:
        return np.arange(n, dtype=np.int64)
    kmap = _adjacency_map(coords, kmap, stride)
    xyz = _lattice(coords, stride)
    batch = coords[:, 0].astype(np.int64)
    batch -= batch.min()
    codes = _occupancy_codes(kmap)
    normal = np.abs(surface_normals(kmap, codes))
    limit = max(capacity - 2 * tile, capacity / 2)
    step = max(1, n // _SAMPLE)
    best = None
    for a in range(3):
        plan = _axis_plan(kmap, xyz, normal, codes, a, batch if batch.any() else None, step)
        cost, width, height = _best_pencil(plan, limit)
        if best is None or cost < best[0]:
            best = (cost, width, height, plan)
    cost, width, height, plan = best
    nlayers = 1 if height is None else int(xyz[:, plan.c].max()) // height + 1
    lane = _lanes(
        xyz[:, plan.b],
        xyz[:, plan.c],
        batch,
        width,
        height,
        int(xyz[:, plan.b].max()) // width + 1,
        nlayers,
    )
    depth = plan.depth
    sweep = np.where(lane % 2 == 1, depth.max() - depth, depth)
    order = _pack_sort([lane, sweep, xyz[:, plan.b], xyz[:, plan.c], xyz[:, plan.a]])
    if info is not None:
        info.update(
            axis="xyz"[plan.a], strip=int(width), height=height, predicted_ratio=1.0 + float(cost)
        )
    return order


# --------------------------------------------------------------------------- API
def reorder(
    x,
    method: str = "hilbert",
    *,
    kmap: KernelMap | None = None,
    stride: int | None = None,
    capacity: int = 1024,
    tile: int = 64,
    chunk: int = 256,
    info: dict | None = None,
) -> np.ndarray:
    """Processing order of the voxels of one stride level.

    Parameters
    ----------
    x : SparseTensor or ndarray (N, 4)
        The voxels (``[batch, x, y, z]``, multiples of the tensor stride).
    method : {"raster", "morton", "hilbert", "bfs", "surface"}
    kmap : KernelMap, optional
        The level's 3^3 submanifold kernel map (``bfs``, ``surface``); built when omitted.
    stride : int, optional
        Tensor stride (default: the tensor's, or 1 for bare coordinates).
    capacity : int
        ``surface``: input voxels the IFM buffer holds (see
        :func:`accss3d.l1model.ifm_capacity`).
    tile : int
        ``surface``: outputs per tile.
    chunk : int
        ``bfs``: largest chunk, in voxels.
    info : dict, optional
        Receives method details (chosen axis and strip width, chunk count...).

    Returns
    -------
    ndarray (N,) int64
        ``perm``: position ``j`` of the new order holds voxel ``perm[j]``.

    Raises
    ------
    ConfigError
        Unknown method, bad parameters.
    InputError
        Malformed coordinates or a kernel map of other voxels.
    """
    if method not in METHODS:
        raise ConfigError(
            f"unknown reordering method {method!r} (choose from {', '.join(METHODS)})"
        )
    coords, own_stride = _coords_of(x)
    stride = _check_positive("tensor stride", stride or own_stride or 1)
    if method == "raster":
        return raster_order(coords)
    if method in ("morton", "hilbert"):
        return _curve_order(coords, stride, method)
    if method == "bfs":
        return bfs_order(coords, kmap, chunk=chunk, stride=stride, info=info)
    return surface_order(coords, kmap, capacity=capacity, tile=tile, stride=stride, info=info)


def inverse_permutation(perm) -> np.ndarray:
    """``inv`` with ``inv[perm[j]] = j`` (old index -> new position), int64."""
    perm = np.asarray(perm, dtype=np.int64)
    inv = np.empty(len(perm), np.int64)
    inv[perm] = np.arange(len(perm))
    return inv


def _check_perm(perm, n: int, what: str) -> np.ndarray:
    from .l1model import check_order

    return check_order(perm, n, what)


def permute_tensor(x: SparseTensor, perm) -> SparseTensor:
    """The tensor with its voxels (coordinates, features, labels) in the order ``perm``."""
    if not isinstance(x, SparseTensor):
        raise InputError(f"permute_tensor needs a SparseTensor, not {type(x).__name__}")
    perm = _check_perm(perm, len(x), "permutation")
    labels = None if x.labels is None else x.labels[perm]
    return SparseTensor(x.coords[perm], x.feats[perm], x.stride, x.voxel_size, x.origin, labels)


def permute_kernel_map(kmap: KernelMap, in_perm=None, out_perm=None) -> KernelMap:
    """The kernel map of the same layer with reordered inputs and/or outputs.

    With ``new_in = old_in[in_perm]`` and ``new_out = old_out[out_perm]``: column ``j`` of the
    result is old column ``out_perm[j]`` and every input index ``i`` becomes its new
    position ``inverse_permutation(in_perm)[i]``.  The convolution of the permuted features
    with the result equals the original outputs permuted by ``out_perm``.  For a
    submanifold layer pass the same order for both.
    """
    if not isinstance(kmap, KernelMap):
        raise InputError(f"permute_kernel_map needs a KernelMap, not {type(kmap).__name__}")
    table = kmap.table
    if out_perm is not None:
        table = table[:, _check_perm(out_perm, kmap.n_out, "output permutation")]
    if in_perm is not None:
        inv = inverse_permutation(_check_perm(in_perm, kmap.n_in, "input permutation"))
        lookup = np.append(inv, -1).astype(np.int32)  # index -1 -> -1
        table = lookup[table]
    return KernelMap(
        spec=kmap.spec,
        in_stride=kmap.in_stride,
        out_stride=kmap.out_stride,
        offsets=kmap.offsets,
        table=np.ascontiguousarray(table, dtype=np.int32),
        n_in=kmap.n_in,
        build_seconds=kmap.build_seconds,
    )
