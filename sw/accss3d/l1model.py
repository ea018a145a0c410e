"""Owns the model of the L1 input-feature buffer: misses, DRAM bytes and DMA runs of an order.

The core computes the outputs of a layer in *voxel tiles*: ``T`` consecutive output voxels
of the processing order.  Before a tile runs, the IFM banks must hold every input feature
that the tile's rulebook lines read (docs/architecture.md: one *slot* of
``ceil(Cin bytes / word)`` IFM words per input voxel).  This module replays a processing
order through a model of that buffer and counts what has to come from DRAM:

``policy="tile"`` (what the compiler does)
    Per tile, the set ``S_t`` of inputs its outputs need.  Inputs of ``S_t`` still resident
    from earlier tiles are reused; the others are fetched.  Afterwards the buffer keeps
    ``S_t`` and, while capacity allows, the most recently used older inputs (ties: the
    lower input index is evicted first).  A tile whose ``S_t`` exceeds the capacity is an
    error: the compiler could not run it.  Every tile's misses are grouped into *runs* of
    consecutive input indices: inputs lie in DRAM in index order, so a run is one DMA
    request.
``policy="lru"`` (a reference)
    A fully associative LRU buffer of the same capacity over the per-pair access stream:
    tile by tile, weight plane by weight plane (the core is weight-stationary per plane),
    the tile's outputs in processing order.  A run is a maximal sequence of consecutive
    misses to consecutive input indices.

Both are compared with the *compulsory* traffic: every input that some output reads,
fetched exactly once.  DRAM bytes count feature payload (``Cin * act_bits / 8`` per voxel).

Capacity: ``buffering="single"`` gives a tile all IFM banks (``ArchConfig.ifm_bytes``);
``"double"`` half of them, since the load engine fills the other half for the next tile
(an approximation: reuse is modelled within the half).  ``capacity_bytes`` overrides both.

Cost: the tile policy is one sort of the ``P`` valid rulebook entries plus ``O(capacity)``
numpy work per tile; the LRU policy is a Python loop over the ``P`` pairs (about 0.15 us per
pair, e.g. 0.7 s for the 4.6M pairs of a 500k-voxel scene).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np

from .arch import ArchConfig
from .errors import ConfigError, InputError
from .rulebook import KernelMap

__all__ = [
    "POLICIES",
    "BUFFERING",
    "L1Stats",
    "ifm_capacity",
    "check_order",
    "tile_input_sets",
    "pair_stream",
    "replay",
]

POLICIES = ("tile", "lru")
BUFFERING = ("single", "double")


@dataclass(frozen=True)
class L1Stats:
    """What a processing order costs in the IFM buffer.

    Parameters
    ----------
    policy : str
        ``"tile"`` or ``"lru"``.
    capacity_voxels : int
        Input voxels the buffer holds (slots).
    capacity_bytes : int
        Buffer bytes the model used.
    slot_bytes : int
        L1 bytes of one input voxel (whole IFM words).
    voxel_bytes : int
        DRAM bytes of one input voxel's features (``Cin * act_bits / 8``).
    tile_outputs : int
        Output voxels per tile.
    tiles : int
        Number of tiles.
    accesses : int
        Buffer accesses: tile-input entries (``sum |S_t|``) or rulebook pairs (LRU).
    misses : int
        Input voxels fetched from DRAM.
    compulsory : int
        Distinct input voxels that some output reads (the minimum number of misses).
    runs : int
        Contiguous DRAM runs fetched (DMA requests).
    max_tile_inputs, mean_tile_inputs : int, float
        Largest and mean ``|S_t|``.
    """

    policy: str
    capacity_voxels: int
    capacity_bytes: int
    slot_bytes: int
    voxel_bytes: int
    tile_outputs: int
    tiles: int
    accesses: int
    misses: int
    compulsory: int
    runs: int
    max_tile_inputs: int
    mean_tile_inputs: float

    @property
    def dram_bytes(self) -> int:
        """Input-feature bytes read from DRAM."""
        return self.misses * self.voxel_bytes

    @property
    def compulsory_bytes(self) -> int:
        """Bytes of the compulsory minimum (every needed input read once)."""
        return self.compulsory * self.voxel_bytes

    @property
    def ratio(self) -> float:
        """DRAM bytes over the compulsory minimum (1.0 is optimal)."""
        return self.misses / self.compulsory if self.compulsory else 1.0

    @property
    def voxels_per_run(self) -> float:
        """Mean input voxels per DMA run."""
        return self.misses / self.runs if self.runs else 0.0

    def to_dict(self) -> dict:
        """Every field and derived figure as a JSON-ready dict."""
        out = asdict(self)
        out.update(
            dram_bytes=self.dram_bytes,
            compulsory_bytes=self.compulsory_bytes,
            ratio=self.ratio,
            voxels_per_run=self.voxels_per_run,
        )
        return out


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def ifm_capacity(
    cfg: ArchConfig | None = None,
    cin: int = 16,
    *,
    buffering: str = "single",
    capacity_bytes: int | None = None,
) -> tuple[int, int, int, int]:
    """Input voxels the IFM buffer holds for ``cin`` channels.

    Returns
    -------
    (capacity_voxels, capacity_bytes, slot_bytes, voxel_bytes)
        ``slot_bytes = ceil(Cin bytes / word) * word`` with the IFM word of ``cfg``.

    Raises
    ------
    ConfigError
        Unknown buffering, non-positive sizes, or a buffer too small for one voxel.
    """
    cfg = cfg or ArchConfig()
    cin = _positive("Cin", cin)
    if buffering not in BUFFERING:
        raise ConfigError(
            f"unknown IFM buffering {buffering!r} (choose from {', '.join(BUFFERING)})"
        )
    if capacity_bytes is None:
        capacity_bytes = cfg.ifm_bytes if buffering == "single" else cfg.ifm_bytes // 2
    capacity_bytes = _positive("IFM capacity (bytes)", capacity_bytes)
    voxel_bytes = cin * cfg.act_bits // 8
    word = cfg.word_bytes("ifm")
    slot_bytes = -(-voxel_bytes // word) * word
    capacity = capacity_bytes // slot_bytes
    if capacity < 1:
        raise ConfigError(
            f"the IFM buffer ({capacity_bytes} B) cannot hold one input voxel of Cin={cin} "
            f"({slot_bytes} B)"
        )
    return capacity, capacity_bytes, slot_bytes, voxel_bytes


def check_order(order, n: int, what: str = "processing order") -> np.ndarray:
    """``order`` as an int64 permutation of ``range(n)`` (None: the identity).

    Raises
    ------
    InputError
        When ``order`` is not a permutation of ``0 .. n-1``.
    """
    if order is None:
        return np.arange(n, dtype=np.int64)
    order = np.asarray(order)
    if order.shape != (n,) or (n and not np.issubdtype(order.dtype, np.integer)):
        raise InputError(f"{what} must be {n} integer indices, not {order.shape} {order.dtype}")
    order = order.astype(np.int64, copy=False)
    if n:
        seen = np.zeros(n, dtype=bool)
        ok = order.min() >= 0 and order.max() < n
        if ok:
            seen[order] = True
        if not ok or not seen.all():
            raise InputError(f"{what} is not a permutation of 0..{n - 1}")
    return order


def tile_input_sets(
    kmap: KernelMap, order=None, tile_outputs: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """The input voxels each tile needs, in compact form.

    Parameters
    ----------
    kmap : KernelMap
    order : ndarray (M,), optional
        Processing order of the outputs (default: index order).
    tile_outputs : int
        Output voxels per tile (the last tile may be shorter).

    Returns
    -------
    (ptr (tiles+1,) int64, inputs (E,) int64)
        Tile ``t`` needs ``inputs[ptr[t]:ptr[t+1]]`` (sorted, unique).
    """
    tile_outputs = _positive("tile size (outputs)", tile_outputs)
    order = check_order(order, kmap.n_out)
    tiles = -(-kmap.n_out // tile_outputs)
    cols = kmap.table[:, order]
    valid = cols >= 0
    pos = np.nonzero(valid)[1]  # row-major, like the boolean selection below
    n_in = max(kmap.n_in, 1)
    keys = np.unique((pos // tile_outputs).astype(np.int64) * n_in + cols[valid])
    tile_ids = keys // n_in
    ptr = np.searchsorted(tile_ids, np.arange(tiles + 1), side="left").astype(np.int64)
    return ptr, keys - tile_ids * n_in


def pair_stream(kmap: KernelMap, order=None, tile_outputs: int = 64) -> np.ndarray:
    """The per-pair input access stream of a processing order, ``(P,)`` int32.

    Tile by tile; within a tile weight plane by weight plane (offset order); within a plane
    the tile's outputs in processing order.
    """
    tile_outputs = _positive("tile size (outputs)", tile_outputs)
    order = check_order(order, kmap.n_out)
    tiles = -(-kmap.n_out // tile_outputs)
    cols = np.full((kmap.volume, tiles * tile_outputs), -1, dtype=np.int32)
    cols[:, : kmap.n_out] = kmap.table[:, order]
    stream = cols.reshape(kmap.volume, tiles, tile_outputs).transpose(1, 0, 2).ravel()
    return stream[stream >= 0]


def _count_runs(idx: np.ndarray) -> int:
    """Maximal runs of ``i, i+1, i+2...`` in a sequence of input indices (DMA requests)."""
    if len(idx) == 0:
        return 0
    return 1 + int(np.count_nonzero(np.diff(idx) != 1))


def _check_fits(ptr: np.ndarray, capacity: int, cin: int) -> None:
    sizes = np.diff(ptr)
    if len(sizes) and sizes.max() > capacity:
        t = int(np.argmax(sizes))
        raise ConfigError(
            f"tile {t} needs {int(sizes[t])} input voxels but the IFM buffer holds {capacity} "
            f"of Cin={cin}: use smaller tiles or a larger IFM"
        )


def _replay_tiles(
    ptr: np.ndarray, inputs: np.ndarray, n_in: int, capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """Tile policy: misses and DMA runs of every tile, ``(tiles,)`` int64 each."""
    tiles = len(ptr) - 1
    resident = np.zeros(n_in, dtype=bool)
    stamp = np.full(n_in, -1, dtype=np.int64)
    held = np.zeros(0, dtype=np.int64)  # resident input indices (unordered)
    misses = np.zeros(tiles, np.int64)
    runs = np.zeros(tiles, np.int64)
    for t in range(tiles):
        need = inputs[ptr[t] : ptr[t + 1]]
        new = need[~resident[need]]
        misses[t] = len(new)
        runs[t] = _count_runs(new)
        stamp[need] = t
        excess = len(held) + len(new) - capacity
        if excess > 0:
            old = held[stamp[held] < t]  # resident, not needed by this tile
            excess = min(excess, len(old))
            if excess:
                key = stamp[old] * n_in + old  # least recently used first, then lower index
                victims = old[np.argpartition(key, excess - 1)[:excess]]
                resident[victims] = False
                held = held[resident[held]]
        resident[new] = True
        held = np.concatenate([held, new])
    return misses, runs


def _replay_lru(stream: np.ndarray, capacity: int) -> tuple[int, int]:
    cache: OrderedDict[int, None] = OrderedDict()
    touch, evict = cache.move_to_end, cache.popitem
    missed: list[int] = []
    record = missed.append
    for x in stream.tolist():
        if x in cache:
            touch(x)
        else:
            record(x)
            cache[x] = None
            if len(cache) > capacity:
                evict(last=False)
    m = np.asarray(missed, dtype=np.int64)
    return len(m), _count_runs(m)


def replay(
    kmap: KernelMap,
    order=None,
    cfg: ArchConfig | None = None,
    cin: int = 16,
    tile_outputs: int = 64,
    policy: str = "tile",
    *,
    buffering: str = "single",
    capacity_bytes: int | None = None,
) -> L1Stats:
    """Replay a processing order of one layer through the IFM buffer model.

    Parameters
    ----------
    kmap : KernelMap
        The layer's rulebook.  Input indices are DRAM order (input ``i`` lies at
        ``i * Cin`` bytes): for a reordered layer pass the rewritten map
        (:func:`accss3d.reorder.permute_kernel_map`), so that runs reflect the new layout.
    order : ndarray (M,), optional
        Processing order of the outputs, a permutation (default: index order - the order of
        a kernel map already rewritten by :func:`accss3d.reorder.permute_kernel_map`).
    cfg : ArchConfig, optional
        Architecture (default: the ``default`` config): IFM size, word and activation width.
    cin : int
        Input channels of the layer.
    tile_outputs : int
        Output voxels per tile ``T``.
    policy : {"tile", "lru"}
        Buffer policy (see the module docstring).
    buffering : {"single", "double"}
        Capacity: all IFM banks, or half of them (double buffering).
    capacity_bytes : int, optional
        Buffer size in bytes, overriding ``buffering``.

    Returns
    -------
    L1Stats

    Raises
    ------
    ConfigError
        Unknown policy or buffering, bad sizes, a buffer smaller than one voxel, or (policy
        ``tile``) a tile needing more inputs than the buffer holds.
    InputError
        ``order`` is not a permutation of the outputs.
    """
    if policy not in POLICIES:
        raise ConfigError(f"unknown L1 policy {policy!r} (choose from {', '.join(POLICIES)})")
    if not isinstance(kmap, KernelMap):
        raise InputError(f"replay needs a KernelMap, not {type(kmap).__name__}")
    capacity, cap_bytes, slot_bytes, voxel_bytes = ifm_capacity(
        cfg, cin, buffering=buffering, capacity_bytes=capacity_bytes
    )
    ptr, inputs = tile_input_sets(kmap, order, tile_outputs)
    sizes = np.diff(ptr)
    compulsory = int(np.count_nonzero(np.bincount(inputs, minlength=kmap.n_in)))
    if policy == "tile":
        _check_fits(ptr, capacity, cin)
        per_tile_misses, per_tile_runs = _replay_tiles(ptr, inputs, kmap.n_in, capacity)
        misses, runs = int(per_tile_misses.sum()), int(per_tile_runs.sum())
        accesses = len(inputs)
    else:
        stream = pair_stream(kmap, order, tile_outputs)
        misses, runs = _replay_lru(stream, capacity)
        accesses = len(stream)
    return L1Stats(
        policy=policy,
        capacity_voxels=capacity,
        capacity_bytes=cap_bytes,
        slot_bytes=slot_bytes,
        voxel_bytes=voxel_bytes,
        tile_outputs=int(tile_outputs),
        tiles=len(sizes),
        accesses=int(accesses),
        misses=int(misses),
        compulsory=compulsory,
        runs=int(runs),
        max_tile_inputs=int(sizes.max()) if len(sizes) else 0,
        mean_tile_inputs=float(sizes.mean()) if len(sizes) else 0.0,
    )
