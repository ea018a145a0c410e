"""Owns the dataflow optimizer: the analytic cost of a Schedule, the oracle, the fast decision.

Three functions, one cost model (docs/optimizer.md has the formulas and the measurements):

* :func:`cost` - cycles, DRAM bytes and PE utilization of one :class:`~accss3d.schedule.
  Schedule` for one layer, modelling the program the compiler emits for it on the SSpNNA
  core (docs/architecture.md, *Timing*): per voxel tile the input gather (one DMA request
  per run of consecutive input indices), the rulebook entries (chunked to the RBK bank),
  the weight tiles (resident or streamed), the accumulator stores and, in plane order, the
  partial-sum spills; compute as back-to-back runs of ``max(pairs, R + 1)`` cycles;
  loads, compute and stores overlapped per tile under double buffering, serialized without.
  Candidates whose tile does not fit its L1 banks are *infeasible*.
* :func:`search` - the oracle: every feasible tile size of :func:`tile_grid`, every loop
  order and flag, each costed exactly (tile contents measured from the kernel map).
* :func:`choose_schedule` - the fast decision the compiler calls: a closed form on a few
  statistics of the rulebook (ARF, voxel counts, pair counts per offset, the halo curve,
  greedy packing measured at a grid of IFM budgets) and the config, with no search over
  tile sizes: the tile size fills the binding L1 resource, the loop order follows from
  comparing the weight bytes a tile re-reads with the feature bytes, residency from the
  capacities.

Statistics of a kernel map (:class:`LayerStats`, :class:`TileProfile`) are computed once per
kernel map and cached, like the kernel maps themselves (layers of one stride level share
them).

# Ref: US 2021/0090328 (tile-based sparsity-aware dataflow optimization: a rulebook, its
# average receptive field, and a (tile size, loop order) decision made from that statistic).
"""

from __future__ import annotations

import bisect
import math
import time
import weakref
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

from .arch import ArchConfig
from .errors import ConfigError
from .isa import INSTR_BYTES, RBK_IN_BITS, RBK_OUT_BITS
from .network import LayerPlan
from .rulebook import KernelMap
from .schedule import Schedule

__all__ = [
    "METHODS",
    "START_AFTER_IDLE",
    "MemoryTiming",
    "LayerStats",
    "TileProfile",
    "Cost",
    "layer_stats",
    "stats_seconds",
    "tile_profile",
    "check_layer",
    "tile_grid",
    "candidates",
    "pack_bounds",
    "tile_bounds",
    "cost",
    "search",
    "choose_schedule",
    "decide",
    "halo_estimate",
    "gapless_rows",
]

#: Methods of the CLI: the fast decision, the exhaustive oracle, or both (with the gap).
METHODS = ("fast", "oracle", "both")
#: Cycles from a COMPUTE's accept to its first issue when the compute engine was idle.
START_AFTER_IDLE = 2
#: Store engine: cycles from a STORE's start to its first write beat (row read, requantizer).
STORE_SETUP = 7
#: Store engine: a write burst waiting for a free slot (``outstanding`` in flight) writes its
#: first beat this many cycles after the response that frees it (cyclemodel.Timing).
STORE_REISSUE = 3
#: Store engine: cycles of the layer's CONFIG (requantization parameters).
CONFIG_CYCLES = 3
#: Bytes of one LOAD row at most (12-bit ``row_bytes``): longer contiguous data takes a
#: second LOAD for the remainder.
_MAX_ROW_BYTES = (1 << 12) - 1
#: ``ifm_stride`` / ``ifm_offset`` are 8-bit COMPUTE fields: at most this many Cin tiles.
_MAX_CIN_TILES = 255
#: Largest ``rows`` of one LOAD (16-bit field).
_MAX_ROWS = (1 << 16) - 1


@dataclass(frozen=True)
class MemoryTiming:
    """The external memory as the DMA sees it (not part of the core's config).

    Parameters
    ----------
    latency : int
        Cycles from a read burst request to its first data beat (and from the last write
        beat to its response).
    outstanding : int
        Read bursts the load engine keeps in flight (docs/architecture.md: 4).
    """

    latency: int = 8
    outstanding: int = 4

    def __post_init__(self) -> None:
        for name in ("latency", "outstanding"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"memory {name} must be a non-negative integer, not {value!r}")
        if self.outstanding < 1:
            raise ConfigError(f"memory outstanding must be at least 1, not {self.outstanding}")


# --------------------------------------------------------------------------- statistics
#: Tile sizes at which :class:`LayerStats` measures the halo: 1, 4, 16, 64... HALO_MAX;
#: 1, 2, 4, 8... for kernel maps of at most FINE_HALO_PAIRS pairs (cheap, and small layers
#: have few tiles, where the estimate must be closer).
HALO_BASE = 4
HALO_MAX = 4096
FINE_HALO_PAIRS = 200_000
#: Exponent on the independent-planes chance that a weight group is unused by a tile.
GROUP_CORRELATION = 1.0
#: Shortest runs (``R + 1``) at which the statistics tabulate a tile's run cycles.
RUN_MINS = (2, 3, 5, 9, 17, 33, 65, 129, 257)
_LOG_RUN_MINS = tuple(math.log(r) for r in RUN_MINS)


@dataclass(frozen=True)
class LayerStats:
    """The statistics the fast decision reads, gathered once per kernel map.

    Parameters
    ----------
    name, kind : str
        Layer name and convolution kind.
    volume : int
        Weight planes (kernel offsets).
    cin, cout, cres : int
        Input, output and residual channels (``cres`` 0 without a residual plane).
    n_in, n_out, n_pairs : int
        Input voxels, output voxels, rulebook pairs.
    pair_counts : tuple of int
        Pairs per weight plane.
    macs : int
        Useful multiply-accumulates (residual plane included).
    halo : tuple of float
        Mean distinct inputs of a tile of ``halo_base**j`` consecutive outputs,
        ``j = 0, 1...`` up to ``min(n_out, HALO_MAX)`` outputs (the first is the ARF);
        empty: estimate it from the ARF alone (:func:`_halo_inputs`).
    halo_max : tuple of float
        The largest tile's inputs at the same sizes (how many Cin tiles an IFM pass of
        plain tiles holds).
    halo_harmonic : tuple of float
        The harmonic mean of the same: greedily packed tiles, which end when their inputs
        fill IFM, hold on average the ``t`` whose harmonic-mean inputs fill it (the mean
        outputs per input, not the inputs per output, is what averages over the tiles).
    presence : tuple of tuple of float
        For the same tile sizes, per plane: the fraction of tiles with at least one pair
        of that plane (a run is issued); empty: estimated.
    plane_runs : float
        Runs of consecutive input indices per pair, each plane's pairs in output order
        (the DMA requests of a per-plane gather); 0: estimated from the convolution kind.
    halo_base : int
        Ratio of consecutive tile sizes of ``halo`` and ``presence``.
    run_table : tuple of tuple of float
        For the same tile sizes: the mean ``sum_k max(pairs_k, r)`` of a tile (issue cycles
        of its runs) for each shortest run ``r`` of :data:`RUN_MINS`; empty: estimated.
    spans : ndarray or None
        For the same tile sizes, ``(levels, K, K)``: the fraction of tiles with a pair in
        any plane ``k0..k1`` (``k0 <= k1``) - the chance that a tile uses a weight group
        (the planes of a neighbourhood are present together far more often than
        independently); None: independent planes.
    packing : dict or None
        Greedy packing measured on a grid of IFM budgets and tile caps
        (:func:`_kmap_packing`, for ``n_cr / n_ci = cres / cin``): log tiles and log mean
        inputs of a tile; None: estimated from the halo curve (:func:`_fill_tile`).
    """

    name: str
    kind: str
    volume: int
    cin: int
    cout: int
    cres: int
    n_in: int
    n_out: int
    n_pairs: int
    pair_counts: tuple[int, ...]
    macs: int
    halo: tuple[float, ...] = ()
    halo_harmonic: tuple[float, ...] = ()
    halo_max: tuple[float, ...] = ()
    presence: tuple[tuple[float, ...], ...] = ()
    plane_runs: float = 0.0
    halo_base: int = HALO_BASE
    run_table: tuple[tuple[float, ...], ...] = ()
    spans: np.ndarray | None = field(default=None, compare=False, hash=False, repr=False)
    packing: dict | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def arf(self) -> float:
        """Average receptive field: pairs per output voxel."""
        return self.n_pairs / self.n_out if self.n_out else 0.0

    @cached_property
    def memo(self) -> dict:
        """Estimates already made from these statistics (one decision's structures share
        tile sizes)."""
        return {}

    @cached_property
    def max_ratio(self) -> list[float]:
        """Log ratio of the largest to the mean inputs of a tile at each halo size."""
        if not self.halo_max or len(self.halo_max) != len(self.halo):
            return []
        return [
            math.log(max(a, 1.0)) - math.log(max(b, 1e-12))
            for a, b in zip(self.halo_max, self.halo, strict=True)
        ]

    @cached_property
    def plane_mask(self) -> tuple[bool, ...]:
        """Per weight plane: whether it has pairs."""
        return tuple(c > 0 for c in self.pair_counts)

    @cached_property
    def planes(self) -> int:
        """Weight planes with at least one pair (planes without pairs are skipped)."""
        return sum(1 for c in self.pair_counts if c)

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pair counts, presence levels, log halo and log harmonic halo levels (cached)."""
        return (
            np.array(self.pair_counts, dtype=np.float64),
            np.array(self.presence, dtype=np.float64).reshape(len(self.presence), -1)
            if self.presence
            else np.zeros((0, self.volume)),
            np.log(np.maximum(np.array(self.halo, dtype=np.float64), 1e-12)),
            np.log(np.maximum(np.array(self.halo_harmonic, dtype=np.float64), 1e-12)),
        )


_KMAP_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _kmap_cache(kmap: KernelMap) -> dict:
    entry = _KMAP_CACHE.get(kmap)
    if entry is None:
        entry = {}
        _KMAP_CACHE[kmap] = entry
    return entry


def _kmap_stats(kmap: KernelMap) -> dict:
    """Pair counts and the measured halo curve of a kernel map (cached).

    One sort of the pairs, then ``O(P)`` per tile size ``1, 4, 16... <= min(n_out,
    HALO_MAX)``.
    """
    cache = _kmap_cache(kmap)
    out = cache.get("stats")
    if out is None:
        t0 = time.perf_counter()
        K, M = kmap.volume, kmap.n_out
        counts = np.count_nonzero(kmap.table >= 0, axis=1)
        halo = [kmap.n_pairs / M] if M else []
        largest = (
            [float(counts.size and np.count_nonzero(kmap.table >= 0, axis=0).max())] if M else []
        )
        harmonic = list(halo)
        presence = [tuple(float(c) / M for c in counts)] if M else []
        spans = [_span_presence((kmap.table >= 0).T)] if M else []
        runs_at = [tuple(kmap.n_pairs / M * r for r in RUN_MINS)] if M else []
        step = 2 if kmap.n_pairs <= FINE_HALO_PAIRS else HALO_BASE
        T = step
        if M >= T:
            base = _sorted_pairs(kmap)
            k, o = base["k"], base["o"]
        while T <= min(M, HALO_MAX):
            full = M // T
            largest.append(float(_tile_inputs(kmap, T).max()))
            inputs = _tile_inputs(kmap, T)[:full]
            halo.append(float(inputs.mean()))
            harmonic.append(float(full / (1.0 / np.maximum(inputs, 1)).sum()))
            sel = o < full * T
            cells = np.bincount((o[sel] // T) * K + k[sel], minlength=full * K)
            cells = cells.reshape(full, K)
            present = np.count_nonzero(cells, axis=0)
            presence.append(tuple(float(x) / full for x in present))
            on = cells > 0
            spans.append(_span_presence(on))
            runs_at.append(
                tuple(float(np.where(on, np.maximum(cells, r), 0).sum()) / full for r in RUN_MINS)
            )
            T *= step
        runs = 0.0
        if M >= step:
            i = base["i"]
            starts = np.count_nonzero((k[1:] != k[:-1]) | (i[1:] != i[:-1] + 1)) + 1
            runs = float(starts) / max(len(i), 1)
        out = {
            "pair_counts": tuple(int(c) for c in counts),
            "halo": tuple(halo),
            "halo_harmonic": tuple(harmonic),
            "halo_max": tuple(largest),
            "presence": tuple(presence),
            "spans": np.array(spans).reshape(len(spans), K, K),
            "plane_runs": runs,
            "run_table": tuple(runs_at),
            "halo_base": step,
            "seconds": time.perf_counter() - t0,
        }
        cache["stats"] = out
    return out


#: Greedy-packing statistics (:func:`_kmap_packing`): IFM budgets (input slots per tile)
#: and tile caps on a grid of PACK_STEPS points per octave, budgets 1..PACK_BUDGET_MAX,
#: caps 1..PACK_WIDTH (a greedy tile is followed at most this far).
PACK_STEPS = 4
PACK_BUDGET_MAX = 1024
PACK_WIDTH = 1024
#: Start positions sampled for the per-position greedy lengths.
PACK_STARTS = 512
#: Layers of at most this many greedy tiles are also packed whole (the exact count).
PACK_CHAIN_TILES = 128


def _flat_previous(kmap: KernelMap) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_previous_use` of the entries with an input, in output order, and each
    output's first entry (``(M + 1,)`` offsets).  Cached."""
    cache = _kmap_cache(kmap)
    out = cache.get("flat_previous")
    if out is None:
        prev = _previous_use(kmap)
        valid = prev < kmap.n_out
        ofs = np.zeros(kmap.n_out + 1, dtype=np.int64)
        np.cumsum(np.count_nonzero(valid, axis=1), out=ofs[1:])
        out = cache["flat_previous"] = (prev[valid], ofs)
    return out


def _curve(flat: tuple, a: int, top: float, width: int = 64, rho: float = 0.0) -> np.ndarray:
    """Distinct inputs of outputs ``a .. a + n - 1`` for ``n = 1, 2...`` (``c[n - 1]``),
    followed until ``c + rho * n`` exceeds ``top``, or for PACK_WIDTH outputs, or to the
    last output (an input is new to the tile when its previous reader lies before ``a``;
    ``flat`` from :func:`_flat_previous`)."""
    prev, ofs = flat
    end = min(len(ofs) - 1, a + PACK_WIDTH)
    parts, total, lo = [], 0, a
    while True:
        hi = min(a + width, end)
        new = np.zeros(ofs[hi] - ofs[lo] + 1, dtype=np.int64)
        np.cumsum(prev[ofs[lo] : ofs[hi]] < a, out=new[1:])
        part = new[ofs[lo + 1 : hi + 1] - ofs[lo]] + total
        parts.append(part)
        total = int(part[-1]) if len(part) else total
        if total + rho * (hi - a) > top or hi >= end:
            break
        lo, width = hi, 2 * width
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _greedy_curves(kmap: KernelMap) -> tuple[np.ndarray, list]:
    """:func:`_curve` from :data:`PACK_STARTS` evenly spaced outputs, up to
    PACK_BUDGET_MAX inputs.  Cached per kernel map."""
    cache = _kmap_cache(kmap)
    out = cache.get("greedy_curves")
    if out is None:
        M = kmap.n_out
        n_s = min(M, PACK_STARTS)
        starts = ((np.arange(n_s) + 0.5) * M / max(n_s, 1)).astype(np.int64)
        flat = _flat_previous(kmap)
        out = (starts, [_curve(flat, int(a), PACK_BUDGET_MAX) for a in starts])
        cache["greedy_curves"] = out
    return out


def _greedy_chain(flat: tuple, budget: float, rho: float, n_tiles: int):
    """Greedy packing of the whole layer (tiles of unbounded length) in ``budget``:
    ``(tiles, mean inputs of a tile)``, NaNs when one output does not fit, None when it
    takes more than ``n_tiles`` tiles."""
    M = len(flat[1]) - 1
    a, tiles, inputs, guess = 0, 0, 0, 16
    while a < M:
        if tiles == n_tiles:
            return None
        c = _curve(flat, a, budget, guess, rho)
        n = int(np.searchsorted(c + rho * np.arange(1, len(c) + 1), budget, side="right"))
        if n == 0:
            return math.nan, math.nan
        tiles, inputs, a, guess = tiles + 1, inputs + int(c[n - 1]), a + n, 2 * n
    return tiles, inputs / max(tiles, 1)


def _kmap_packing(kmap: KernelMap, rho: float) -> dict:
    """Greedy packing of a kernel map on a grid of IFM budgets and tile caps (cached).

    A packed tile ends before the output that makes ``inputs + rho * outputs`` exceed the
    budget ``B`` (IFM words over ``n_ci``; ``rho = n_cr / n_ci``) or at ``T`` outputs.  For
    ``B = 2**(j / PACK_STEPS)`` and ``T = 2**(k / PACK_STEPS)``, the tables hold the log of
    the number of tiles and of the mean inputs of a tile:

    * from the greedy length ``L(a)`` of a tile starting at each sampled output ``a``
      (:func:`_greedy_curves`): a tiling's tiles cover each output once, so it has
      ``sum_a 1 / min(T, L(a))`` tiles (outputs whose tile would run past the last output
      are left out, as the last tile is);
    * corrected by chains of greedy tiles (:func:`_greedy_chain`, the whole layer when it
      has few tiles): a greedy tile starts where the previous one had to stop, which a
      random output does not (on transposed convolutions, children of one parent; up to
      25% longer tiles); the correction is weighted by the share of tiles that end on the
      budget rather than on ``T``.
    """
    cache = _kmap_cache(kmap)
    key = ("packing", round(rho, 9))
    out = cache.get(key)
    if out is not None:
        return out
    t0 = time.perf_counter()
    M = kmap.n_out
    n_b = int(round(PACK_STEPS * math.log2(PACK_BUDGET_MAX))) + 1
    n_t = int(round(PACK_STEPS * math.log2(PACK_WIDTH))) + 1
    budgets = 2.0 ** (np.arange(n_b) / PACK_STEPS)
    caps = 2.0 ** (np.arange(n_t) / PACK_STEPS)
    starts, curves = _greedy_curves(kmap)
    n_s = len(starts)
    # Curves side by side, padded past their end; one search finds every greedy length:
    # need + s * step is increasing across the rows.
    lengths = np.array([len(c) for c in curves])
    width = int(lengths.max())
    pad = np.full((n_s, width), np.inf)
    for s, c in enumerate(curves):
        pad[s, : len(c)] = c
    need = pad + rho * np.arange(1, width + 1)[None, :]
    step = 2.0 * (PACK_BUDGET_MAX + rho * width + 1)
    shift = step * np.arange(n_s)[:, None]
    flat = np.minimum(need, step / 2) + shift
    L = np.searchsorted(flat.ravel(), (budgets[None, :] + shift).ravel(), side="right")
    L = np.maximum(L.reshape(n_s, n_b) - width * np.arange(n_s)[:, None], 1)
    L = np.minimum(L, lengths[:, None])  # greedy length per start and budget
    rows = np.arange(n_s)[:, None]
    ends = pad[rows, L - 1]  # its inputs
    cap_at = np.floor(caps).astype(np.int64)
    at_cap = pad[rows, np.minimum(cap_at[None, :], lengths[:, None]) - 1]  # first floor(T)
    room = M - starts  # outputs from the start to the last one
    # Per budget, the starts whose tile ends on the budget (L <= T) count 1 / L if the
    # tile is not cut by the last output; the others 1 / T.
    kept = (L < room[:, None]) / L
    cols = np.stack([kept, kept * ends, (L < room[:, None]).astype(np.float64)], axis=2)
    total_cap = at_cap.sum(axis=0)
    inv, num, seen, fill = (np.empty((n_b, n_t)) for _ in range(4))
    for j in range(n_b):
        short = (L[:, j, None] <= caps[None, :]).astype(np.float64)  # (starts, caps)
        on_budget = short.T @ cols[:, j, :]  # (caps, 3)
        n_long = n_s - short.sum(axis=0)
        inv[j] = on_budget[:, 0] + n_long / caps
        num[j] = on_budget[:, 1] + (total_cap - (short * at_cap).sum(axis=0)) / caps
        seen[j] = on_budget[:, 2] + n_long
        fill[j] = on_budget[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        tiles = M * inv / seen
        inputs = num / inv
        share = fill / inv  # of the tiles, those ending on the budget
    # Few tiles: the whole layer packed greedily (uncapped) replaces the per-output count.
    few = np.flatnonzero(np.isfinite(tiles[:, -1]) & (tiles[:, -1] <= PACK_CHAIN_TILES))
    flat = _flat_previous(kmap)
    for j in few:
        whole = _greedy_chain(flat, budgets[j], rho, PACK_CHAIN_TILES)
        if whole is not None:
            tiles[j] += share[j] * (whole[0] - tiles[j, -1])
            inputs[j] += share[j] * (whole[1] - inputs[j, -1])
    tiles = np.maximum(tiles, M / caps[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "ratio": float(rho),
            "tiles": np.log(tiles),
            "inputs": np.log(np.maximum(inputs, 1.0)),
            "seconds": time.perf_counter() - t0,
        }
    cache[key] = out
    return out


def _span_presence(on: np.ndarray) -> np.ndarray:
    """``(K, K)``: for planes ``k0 <= k1``, the fraction of rows (tiles) of ``on`` (tiles x
    planes, bool) with a pair in any plane ``k0..k1`` (0 below the diagonal)."""
    n, K = on.shape
    out = np.zeros((K, K))
    for k0 in range(K):
        any_of = np.logical_or.accumulate(on[:, k0:], axis=1)
        out[k0, k0:] = np.count_nonzero(any_of, axis=0) / max(n, 1)
    return out


def stats_seconds(plan: LayerPlan) -> float:
    """Wall time the statistics of ``plan``'s kernel map took (once per kernel map; the
    packing tables of every residual ratio measured so far included)."""
    cache = _kmap_cache(plan.kmap)
    packing = sum(v["seconds"] for k, v in cache.items() if isinstance(k, tuple))
    return _kmap_stats(plan.kmap)["seconds"] + packing


def layer_stats(plan: LayerPlan) -> LayerStats:
    """The statistics of a layer (measured once per kernel map, then cached)."""
    ks = _kmap_stats(plan.kmap)
    counts = ks["pair_counts"]
    n_pairs = sum(counts)
    n_out = plan.kmap.n_out
    cout = plan.layer.cout
    return LayerStats(
        name=plan.layer.name,
        kind=plan.layer.conv.kind,
        volume=plan.kmap.volume,
        cin=plan.cin,
        cout=cout,
        cres=plan.residual_channels,
        n_in=plan.kmap.n_in,
        n_out=n_out,
        n_pairs=n_pairs,
        pair_counts=counts,
        macs=n_pairs * plan.cin * cout + n_out * plan.residual_channels * cout,
        halo=ks["halo"],
        halo_harmonic=ks["halo_harmonic"],
        halo_max=ks["halo_max"],
        presence=ks["presence"],
        plane_runs=ks["plane_runs"],
        halo_base=ks["halo_base"],
        run_table=ks["run_table"],
        spans=ks["spans"],
        packing=_kmap_packing(plan.kmap, plan.residual_channels / plan.cin) if n_out else None,
    )


@dataclass(frozen=True, eq=False)
class TileProfile:
    """What the voxel tiles contain: per tile (``t``) and weight plane (``k``).

    Either measured exactly from the kernel map (:func:`tile_profile`) or estimated from
    :class:`LayerStats` (:func:`halo_estimate`); in the estimate one row stands for
    ``weight`` average tiles.

    Parameters
    ----------
    tile_outputs : int
        ``T`` of the schedule (the largest tile).
    weight : ndarray (n,)
        Tiles each row stands for (1 when exact).
    outputs : ndarray (n,)
        Output voxels of the tile.
    inputs : ndarray (n,)
        Distinct input voxels the tile's pairs read (the IFM slots of its gather).
    gathers : ndarray (n,)
        Maximal runs of consecutive input indices among them (DMA requests of the gather).
    pairs : ndarray (n, K)
        Pairs of each weight plane in the tile (the run lengths).
    plane_gathers : ndarray (n, K)
        Runs of consecutive input indices of each plane's pairs in output order (the DMA
        requests of a per-plane gather, plane order).
    inputs_max : int
        Largest ``inputs`` over all tiles (the IFM capacity check).
    presence : ndarray (n, K), optional
        Estimates only: the probability that a tile has a run of plane ``k``.
    last : float
        Estimates only: outputs of the last tile when it is shorter (0: like the others);
        it sets the drain of a double-buffered pipeline.
    run_table : ndarray (n, len(RUN_MINS)), optional
        Estimates only: a tile's run cycles per shortest run (:attr:`LayerStats.run_table`).
    spans : ndarray (n, K, K), optional
        Estimates only: the chance that a tile has a pair in any plane ``k0..k1``
        (:attr:`LayerStats.spans`).
    """

    tile_outputs: int
    weight: np.ndarray
    outputs: np.ndarray
    inputs: np.ndarray
    gathers: np.ndarray
    pairs: np.ndarray
    plane_gathers: np.ndarray
    inputs_max: int
    presence: np.ndarray | None = None
    last: float = 0.0
    run_table: np.ndarray | None = None
    spans: np.ndarray | None = None
    _runs: dict = field(default_factory=dict, repr=False)

    @property
    def exact(self) -> bool:
        """Measured (True) or estimated (False)."""
        return self.presence is None

    @property
    def tiles(self) -> int:
        """Number of voxel tiles."""
        return int(round(float(self.weight.sum())))

    def runs(self) -> np.ndarray:
        """Per (tile, plane): COMPUTE runs issued (0/1; a probability when estimated)."""
        if self.presence is not None:
            return self.presence
        return (self.pairs > 0).astype(np.float64)

    def run_matrix(self, run_min: int) -> np.ndarray:
        """Per (tile, plane): cycles of the run, ``max(pairs, run_min)`` (0 without pairs)."""
        key = ("m", run_min)
        out = self._runs.get(key)
        if out is None:
            if self.presence is not None:
                # E[max(p, run_min)] over the tiles with a run, p spread around its mean:
                # a smooth maximum (8-norm) of the conditional mean and the minimum run.
                pres = np.maximum(self.presence, 1e-12)
                mean = self.pairs / pres
                out = pres * (mean**8 + float(run_min) ** 8) ** 0.125 * (self.presence > 0)
            else:
                out = np.where(self.pairs > 0, np.maximum(self.pairs, run_min), 0)
            self._runs[key] = out
        return out

    def run_cycles(self, run_min: int) -> np.ndarray:
        """Per tile: ``sum_k max(pairs[t, k], run_min)`` over planes with pairs."""
        key = ("c", run_min)
        out = self._runs.get(key)
        if out is None:
            if self.run_table is not None:  # measured, interpolated in log(run_min)
                r = math.log(min(max(run_min, RUN_MINS[0]), RUN_MINS[-1]))
                j = min(bisect.bisect_right(_LOG_RUN_MINS, r) - 1, len(RUN_MINS) - 2)
                f = (r - _LOG_RUN_MINS[j]) / (_LOG_RUN_MINS[j + 1] - _LOG_RUN_MINS[j])
                rows = np.maximum(self.run_table[:, j : j + 2], 1e-12)
                out = np.exp(np.log(rows[:, 0]) * (1 - f) + np.log(rows[:, 1]) * f)
            else:
                out = self.run_matrix(run_min).sum(axis=1)
            self._runs[key] = out
        return out

    def per_tile(self, run_min: int) -> tuple:
        """``(weight, outputs, inputs, gathers, pairs, runs, run_cycles)`` per tile: arrays
        when exact, plain floats for the single average row of an estimate (fast path)."""
        key = ("t", run_min)
        out = self._runs.get(key)
        if out is None:
            out = (
                self.weight,
                self.outputs,
                self.inputs,
                self.gathers,
                self.pairs.sum(axis=1),
                self.runs().sum(axis=1),
                self.run_cycles(run_min),
            )
            if not self.exact and len(self.weight) == 1:
                out = tuple(float(x[0]) for x in out)
            self._runs[key] = out
        return out


def _sorted_pairs(kmap: KernelMap) -> dict:
    """Pairs in (plane, output) order and in (input, output) order, cached per kernel map."""
    cache = _kmap_cache(kmap)
    base = cache.get("pairs")
    if base is None:
        k, o = np.nonzero(kmap.table >= 0)
        k, o = k.astype(np.int32), o.astype(np.int32)
        i = kmap.table[k, o]
        by_input = np.argsort(i.astype(np.int64) * max(kmap.n_out, 1) + o)
        base = {
            "k": k,
            "o": o,
            "i": i,
            "i_s": i[by_input],
            "o_s": o[by_input],
            "k_s": k[by_input],
        }
        cache["pairs"] = base
    return base


def _tile_inputs(kmap: KernelMap, length: int) -> np.ndarray:
    """Distinct inputs of each tile of the plain tiling by ``length`` (cached)."""
    cache = _kmap_cache(kmap).setdefault("tile_inputs", {})
    out = cache.get(length)
    if out is None:
        base = _sorted_pairs(kmap)
        i_s, t_s = base["i_s"], base["o_s"] // np.int32(length)
        new = np.ones(len(i_s), dtype=bool)
        new[1:] = (i_s[1:] != i_s[:-1]) | (t_s[1:] != t_s[:-1])
        out = np.bincount(t_s[new], minlength=-(-kmap.n_out // length))
        cache[length] = out
    return out


def _previous_use(kmap: KernelMap) -> np.ndarray:
    """``(M, K)``: for the input of entry ``(o, k)``, the last output before ``o`` that reads
    it (-1 for none); ``M`` for entries without an input (never new).  Cached."""
    cache = _kmap_cache(kmap)
    prev = cache.get("previous_use")
    if prev is None:
        base = _sorted_pairs(kmap)
        i_s, o_s, k_s = base["i_s"], base["o_s"], base["k_s"]
        before = np.full(len(i_s), -1, dtype=np.int32)
        if len(i_s) > 1:
            same = i_s[1:] == i_s[:-1]
            before[1:][same] = o_s[:-1][same]
        prev = np.full((kmap.n_out, kmap.volume), kmap.n_out, dtype=np.int32)
        prev[o_s, k_s] = before
        cache["previous_use"] = prev
    return prev


def pack_bounds(
    kmap: KernelMap, tile_outputs: int, slot_words: int, out_words: int, capacity: int
) -> np.ndarray | None:
    """Tile starts of greedy packing: at most ``tile_outputs`` outputs per tile, and a tile
    ends before the output that would make ``inputs * slot_words + outputs * out_words``
    exceed ``capacity`` IFM words.

    Returns
    -------
    ndarray or None
        Sorted tile starts (the last tile ends at ``n_out``), or None when a single output
        does not fit.
    """
    M, T = kmap.n_out, int(tile_outputs)
    prev = _previous_use(kmap)
    starts = []
    a, guess = 0, 16
    while a < M:
        width = min(T, guess)
        while True:  # widen the window until the tile ends inside it
            window = prev[a : a + width]
            need = np.cumsum(np.count_nonzero(window < a, axis=1)) * slot_words
            need += np.arange(1, len(window) + 1) * out_words
            n = int(np.searchsorted(need, capacity, side="right"))
            if n < len(window) or width >= T or a + width >= M:
                break
            width = min(T, 2 * width)
        if n == 0:
            return None
        starts.append(a)
        a += n
        guess = 2 * n
    return np.array(starts, dtype=np.int64)


def tile_profile(
    kmap: KernelMap, tile_outputs: int, starts: np.ndarray | None = None
) -> TileProfile:
    """Measure the voxel tiles exactly: tiles of ``tile_outputs``, or the given ``starts``.

    ``O(P)`` numpy work per tiling after one ``O(P log P)`` sort per kernel map; tilings of
    plain tile sizes are cached per kernel map.
    """
    cache = _kmap_cache(kmap).setdefault("profiles", {})
    if starts is None and tile_outputs in cache:
        return cache[tile_outputs]
    T = int(tile_outputs)
    M, K = kmap.n_out, kmap.volume
    base = _sorted_pairs(kmap)
    k, o, i = base["k"], base["o"], base["i"]
    if starts is None:
        n_t = max(1, -(-M // T))
        outputs = np.full(n_t, T, dtype=np.int64)
        outputs[-1] = M - T * (n_t - 1) if M else 0

        def tile_of(x):
            return x // T
    else:
        n_t = len(starts)
        outputs = np.diff(np.append(starts, M)).astype(np.int64)
        tid = np.repeat(np.arange(n_t, dtype=np.int64), outputs)

        def tile_of(x):
            return tid[x]

    tile = tile_of(o)
    pairs = np.bincount(tile * K + k, minlength=n_t * K).reshape(n_t, K)
    # Per-plane gathers: in (plane, output) order, a new run starts at a new plane or tile,
    # or where the input index does not continue the previous one.
    start = np.ones(len(k), dtype=bool)
    if len(k) > 1:
        start[1:] = (k[1:] != k[:-1]) | (tile[1:] != tile[:-1]) | (i[1:] != i[:-1] + 1)
    plane_gathers = np.bincount((tile * K + k)[start], minlength=n_t * K).reshape(n_t, K)
    # Distinct inputs per tile: in (input, output) order each (input, tile) is one group.
    i_s, t_s = base["i_s"], tile_of(base["o_s"])
    new = np.ones(len(i_s), dtype=bool)
    if len(i_s) > 1:
        new[1:] = (i_s[1:] != i_s[:-1]) | (t_s[1:] != t_s[:-1])
    ui, ut = i_s[new], t_s[new]
    inputs = np.bincount(ut, minlength=n_t)
    # A gather run starts at input u of tile t unless u - 1 is also an input of tile t.
    keys = ui * n_t + ut  # strictly increasing
    prev = keys - n_t
    pos = np.minimum(np.searchsorted(keys, prev), max(len(keys) - 1, 0))
    has_prev = keys[pos] == prev if len(keys) else np.zeros(0, dtype=bool)
    gathers = np.bincount(ut[~has_prev], minlength=n_t)
    prof = TileProfile(
        tile_outputs=T,
        weight=np.ones(n_t, dtype=np.int64),
        outputs=outputs,
        inputs=inputs,
        gathers=gathers,
        pairs=pairs,
        plane_gathers=plane_gathers,
        inputs_max=int(inputs.max()) if len(inputs) else 0,
    )
    if starts is None:
        cache[tile_outputs] = prof
    return prof


# --------------------------------------------------------------------------- the core
class _Core:
    """Derived constants of a config and a memory timing (what the formulas read)."""

    def __init__(self, cfg: ArchConfig, mem: MemoryTiming, gapless=(True, True)):
        self.cfg, self.mem = cfg, mem
        #: The gathered tensor's and the output tensor's DRAM rows are gapless (the row
        #: stride is the row read or written), so runs of consecutive rows stream as one
        #: transfer; else one burst set per row.
        self.gapless, self.gapless_out = gapless
        #: Shortest back-to-back run: the weight preload, ``R + 1`` cycles.
        self.run_min = cfg.pe_rows + 1
        #: A run after idle starts issuing this many cycles after its accept.
        self.start = START_AFTER_IDLE
        #: Last issue to the COMPUTE's tokens seen by the next engine: read, IFM, array
        #: (``R + G - 1``), accumulate, token (``R + G + 4``).
        self.depth = cfg.pe_rows + cfg.groups + 4
        self.words = {k: cfg.words(k) for k in ("ifm", "wgt", "rbk", "ofm")}
        self._caps = {
            (k, db): cfg.bank_words(k) if db else cfg.words(k)
            for k in ("ifm", "wgt", "rbk", "ofm")
            for db in (True, False)
        }
        self.wgt_tiles = self.words["wgt"] // cfg.pe_rows
        self._rows: dict[int, float] = {}
        self._beats: dict[int, float] = {}
        self.B = cfg.bus_bytes
        #: Weight groups of a layer's weight sequence (:func:`_pass_groups`) and their loads.
        self.groups: dict = {}
        self._full_burst = float(self.burst_interval(cfg.max_burst_beats))

    def capacity(self, kind: str, double_buffer: bool) -> int:
        """Words of ``kind`` a tile may use: one bank when double-buffered, else all."""
        return self._caps[kind, bool(double_buffer)]

    def burst_interval(self, beats):
        """Cycles per read burst of ``beats`` in a stream: its beats on the data channel, or
        latency-bound (a burst is requested the cycle after the burst ``outstanding`` back
        delivered its last beat, its data ``latency`` later)."""
        return np.maximum(beats, (self.mem.latency + beats) / self.mem.outstanding)

    def store_row_cycles(self, nbytes: int, gapless: bool) -> float:
        """STORE cycles of one row of ``nbytes`` among many: streamed in full bursts when
        the rows are gapless, else one burst per row, ``outstanding`` in flight, a burst
        waiting for a slot written ``STORE_REISSUE`` cycles after the response that frees
        it (``latency`` after the last beat)."""
        beats = -(-int(nbytes) // self.cfg.bus_bytes)
        if gapless:
            mb = self.cfg.max_burst_beats
            return beats * max(
                1.0, (self.mem.latency + STORE_REISSUE + mb - 1) / self.mem.outstanding / mb
            )
        per = (self.mem.latency + STORE_REISSUE + beats - 1) / self.mem.outstanding
        return max(float(beats), per)

    def row_cycles(self, nbytes: int) -> float:
        """Transfer cycles of one DMA row of ``nbytes`` (bursts of at most max_burst_beats)."""
        out = self._rows.get(nbytes)
        if out is None:
            beats = -(-int(nbytes) // self.cfg.bus_bytes)
            full, rem = divmod(beats, self.cfg.max_burst_beats)
            out = full * float(self.burst_interval(self.cfg.max_burst_beats))
            out += float(self.burst_interval(rem)) if rem else 0.0
            self._rows[nbytes] = out
        return out

    def stream_cycles(self, nbytes):
        """Transfer cycles of ``nbytes`` contiguous bytes (vectorized), excluding latency:
        full bursts of max_burst_beats and one shorter one."""
        if not isinstance(nbytes, np.ndarray):
            beats = math.ceil(nbytes / self.B)
            out = self._beats.get(beats)
            if out is None:
                full, rem = divmod(beats, self.cfg.max_burst_beats)
                out = full * self._full_burst
                if rem:
                    L, n = self.mem.latency, self.mem.outstanding
                    out += max(rem, (L + rem) / n)
                if len(self._beats) < 1 << 16:
                    self._beats[beats] = out
            return out
        beats = np.ceil(np.asarray(nbytes, dtype=np.float64) / self.cfg.bus_bytes)
        full = np.floor(beats / self.cfg.max_burst_beats)
        rem = beats - full * self.cfg.max_burst_beats
        return full * self._full_burst + np.where(rem > 0, self.burst_interval(rem), 0.0)

    def rows_cycles(self, rows, row_bytes: int):
        """Transfer cycles of ``rows`` consecutive DMA rows of ``row_bytes`` (vectorized),
        excluding latency: a row padded to whole beats is gapless in DRAM (the row stride of a
        tensor read whole), so the cycle model merges the rows into one run of full bursts."""
        if not self.gapless:
            return rows * self.row_cycles(row_bytes)
        return self.stream_cycles(rows * (-(-int(row_bytes) // self.B) * self.B))

    def fetch_cycles(self, instructions):
        """Read-channel cycles to fetch ``instructions`` (bursts of max_burst_beats)."""
        return self.stream_cycles(instructions * INSTR_BYTES)


@dataclass(frozen=True)
class _Shape:
    """A layer's tiling onto the array: Cin/Cout/residual tile counts and byte sizes."""

    n_ci: int
    n_co: int
    n_cr: int
    slot_bytes: int  # one input voxel, all Cin tiles (DRAM row of the gather)
    res_bytes: int  # one residual voxel, all its Cin tiles
    tile_bytes: int  # one R x C weight tile
    out_row_cycles: tuple[float, ...]  # STORE cycles of one row, per Cout tile
    out_bytes: int  # one output voxel in DRAM


def _shape(stats: LayerStats, core: _Core) -> _Shape:
    cfg = core.cfg
    R, C = cfg.pe_rows, cfg.pe_cols
    ab, wb = cfg.act_bits // 8, cfg.weight_bits // 8
    n_ci = -(-stats.cin // R)
    n_co = -(-stats.cout // C)
    n_cr = -(-stats.cres // R) if stats.cres else 0
    chans = [min(C, stats.cout - c * C) for c in range(n_co)]
    return _Shape(
        n_ci=n_ci,
        n_co=n_co,
        n_cr=n_cr,
        slot_bytes=n_ci * R * ab,
        res_bytes=n_cr * R * ab,
        tile_bytes=R * C * wb,
        out_row_cycles=tuple(
            core.store_row_cycles(c * ab, core.gapless_out and n_co == 1) for c in chans
        ),
        out_bytes=stats.cout * ab,
    )


def check_layer(stats: LayerStats, cfg: ArchConfig) -> None:
    """Raise a one-line :class:`ConfigError` when the layer's shape cannot run on ``cfg``.

    That is: more Cin tiles than the 8-bit ``ifm_stride`` field addresses, or one input
    voxel (all its Cin tiles, plus its residual) larger than all IFM banks.
    """
    R = cfg.pe_rows
    n_ci = -(-stats.cin // R)
    n_cr = -(-stats.cres // R) if stats.cres else 0
    where = f"layer {stats.name} ({stats.cin}->{stats.cout} channels)"
    if max(n_ci, n_cr) > _MAX_CIN_TILES:
        raise ConfigError(
            f"{where} does not fit the array: {max(n_ci, n_cr)} input-channel tiles of "
            f"{R}, an instruction addresses at most {_MAX_CIN_TILES}"
        )
    ifm = cfg.words("ifm")
    if n_ci + n_cr > ifm:
        raise ConfigError(
            f"{where} does not fit the array: one input voxel needs {n_ci + n_cr} IFM words, "
            f"the IFM L1 holds {ifm}"
        )


# --------------------------------------------------------------------------- the cost
@dataclass(frozen=True)
class Cost:
    """Modelled cost of one schedule of one layer.

    Parameters
    ----------
    cycles : int
        Core cycles from the layer's first instruction to its last write.
    dram_bytes : int
        External memory traffic (reads + writes, instructions included).
    utilization : float
        ``MACS / (R * C * cycles)`` with the core's MACS counter (issued pairs x R x C,
        channel padding included): the fraction of cycles the array issued an entry.
    useful_utilization : float
        The layer's useful MACs over ``R * C * cycles``.
    feasible : bool
        Every tile fits its L1 banks (otherwise the figures are meaningless).
    reason : str
        Why the schedule is infeasible ('' when feasible).
    compute_cycles, load_cycles, store_cycles : int
        Busy cycles of the compute, load and store engines.
    tiles : int
        Voxel tiles.
    traffic : dict
        DRAM bytes by kind: ifm, wgt, rbk, psum, ofm, instr.
    l1_words : dict
        Peak L1 words used per bank kind (ifm, wgt, rbk, ofm).
    exact : bool
        Tile contents measured (True) or estimated from the ARF (False).
    """

    cycles: int
    dram_bytes: int
    utilization: float
    useful_utilization: float
    feasible: bool
    reason: str = ""
    compute_cycles: int = 0
    load_cycles: int = 0
    store_cycles: int = 0
    tiles: int = 0
    traffic: dict = field(default_factory=dict)
    l1_words: dict = field(default_factory=dict)
    exact: bool = True

    @property
    def key(self) -> tuple:
        """Sort key: feasible first, then cycles, then DRAM bytes."""
        return (not self.feasible, self.cycles, self.dram_bytes)

    def to_dict(self) -> dict:
        """Plain-dict form (JSON)."""
        return asdict(self)


def _infeasible(reason: str, tiles: int = 0, exact: bool = True) -> Cost:
    return Cost(
        cycles=0,
        dram_bytes=0,
        utilization=0.0,
        useful_utilization=0.0,
        feasible=False,
        reason=reason,
        tiles=tiles,
        exact=exact,
    )


def _finish(stats, core, sh, cycles, load, comp, store, traffic, l1, tiles, exact) -> Cost:
    cfg = core.cfg
    cycles = int(math.ceil(cycles))
    issued = sh.n_co * (sh.n_ci * stats.n_pairs + sh.n_cr * stats.n_out)
    return Cost(
        cycles=cycles,
        dram_bytes=int(round(sum(traffic.values()))),
        utilization=issued / cycles if cycles else 0.0,
        useful_utilization=stats.macs / (cfg.num_pes * cycles) if cycles else 0.0,
        feasible=True,
        compute_cycles=int(math.ceil(comp)),
        load_cycles=int(math.ceil(load)),
        store_cycles=int(math.ceil(store)),
        tiles=int(tiles),
        traffic={k: int(round(v)) for k, v in traffic.items()},
        l1_words={k: int(v) for k, v in l1.items()},
        exact=exact,
    )


def _ifm_need(prof: TileProfile, sh: _Shape) -> int:
    """Largest IFM words a tile of ``prof`` needs (its slots and residual slots)."""
    if not prof.exact:
        return int(math.ceil(prof.inputs_max * sh.n_ci + prof.outputs.max() * sh.n_cr))
    return int((prof.inputs * sh.n_ci + prof.outputs * sh.n_cr).max())


def _vmax(a, b):
    """Elementwise maximum of arrays or plain floats."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.maximum(a, b)
    return max(a, b)


def _vmin(a, b):
    """Elementwise minimum of arrays or plain floats."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.minimum(a, b)
    return min(a, b)


def _total(x) -> float:
    """Sum of an array, or a plain float."""
    return float(x.sum()) if isinstance(x, np.ndarray) else float(x)


def _ends(x) -> tuple[float, float]:
    """First and last element of an array (a plain float is both)."""
    if isinstance(x, np.ndarray):
        return float(x[0]), float(x[-1])
    return float(x), float(x)


def _weight_groups(stats: LayerStats, sh: _Shape, per_group: int) -> tuple:
    """How the compiler streams weights: the layer's weight tiles in consumption order
    (planes with pairs, each ``n_ci`` Cin tiles, then the residual's ``n_cr``) cut into
    groups of ``per_group`` tiles, one WGT buffer each.

    Returns ``(incidence (G, K) tiles of plane k in group g, residual (G,) tiles, sizes
    (G,))``.  Cached.
    """
    key = (stats.plane_mask, sh.n_ci, sh.n_cr, per_group)
    out = _GROUPS.get(key)
    if out is None:
        K = stats.volume
        planes = [k for k, c in enumerate(stats.pair_counts) if c]
        seq = np.array([k for k in planes for _ in range(sh.n_ci)] + [K] * sh.n_cr, dtype=int)
        g = np.arange(len(seq)) // max(per_group, 1)
        n_g = int(g.max()) + 1 if len(seq) else 0
        inc = np.zeros((n_g, K + 1))
        np.add.at(inc, (g, seq), 1.0)
        out = (inc[:, :K], inc[:, K], inc.sum(axis=1))
        if len(_GROUPS) > 256:
            _GROUPS.clear()
        _GROUPS[key] = out
    return out


_GROUPS: dict = {}


def _group_loads(nbytes) -> float:
    """LOAD instructions of one contiguous transfer (rows of at most 4095 bytes)."""
    return 1.0 + (nbytes > _MAX_ROW_BYTES)


def _groups_present(prof: TileProfile, inc: np.ndarray, res_in: np.ndarray):
    """Per tile and weight group: whether the tile uses the group (a probability when
    estimated: one minus the chance that none of the group's planes has a run)."""
    if prof.exact:
        used = (prof.pairs > 0).astype(np.float64) @ (inc.T > 0)
        return np.where((used > 0) | (res_in[None, :] > 0), 1.0, 0.0)
    if prof.spans is not None:  # measured: a group's planes are consecutive
        used = inc > 0
        k0 = np.argmax(used, axis=1)
        k1 = used.shape[1] - 1 - np.argmax(used[:, ::-1], axis=1)
        span = prof.spans[:, k0, k1] * used.any(axis=1)[None, :]
        return np.where(res_in[None, :] > 0, 1.0, span)
    # Planes of a group are present together more often than independently (a tile on a
    # surface has most of its neighbourhood): the union shrunk by GROUP_CORRELATION.
    logs = np.log(np.maximum(1.0 - prof.presence, 1e-12)) @ (inc.T > 0)
    absent = np.exp(GROUP_CORRELATION * logs)
    return np.where(res_in[None, :] > 0, 1.0, 1.0 - absent)


def _passes(core: _Core, sh: _Shape, slots: int, size: int, db: bool):
    """IFM contents of a tile as the compiler cuts them (``accss3d.compiler.emit``): one when
    the tile's inputs (all Cin tiles) and residual rows fit one IFM buffer, else *passes* of
    ``g`` Cin tiles of the inputs and ``g_r`` of the residual, each as many as fit.

    Returns ``(g, main passes, g_r, residual passes)``, or None when one Cin tile of the
    tile's inputs does not fit.
    """
    cap = core.capacity("ifm", db)
    a = max(1, core.cfg.bus_bytes // core.cfg.word_bytes("ifm"))

    def stride(n):
        return -(-n // a) * a

    if slots * stride(sh.n_ci) + (size * stride(sh.n_cr) if sh.n_cr else 0) <= cap:
        return sh.n_ci, 1, sh.n_cr, 0
    limit = min(_MAX_CIN_TILES, _MAX_ROW_BYTES // core.cfg.word_bytes("ifm"))
    out = []
    for n, count in ((sh.n_ci, slots), (sh.n_cr, size)):
        if not n:
            out += [0, 0]
            continue
        if count * stride(1) > cap:
            return None
        g = 1
        while g < min(n, limit) and count * stride(g + 1) <= cap:
            g += 1
        out += [g, -(-n // g)]
    return tuple(out)


def _pass_groups(stats: LayerStats, sh: _Shape, per_group: int, cuts: tuple):
    """:func:`_weight_groups` of a weight sequence cut into IFM passes: ``cuts`` holds the
    ``(Cin tiles, residual tiles)`` of each pass; groups never span two passes."""
    if len(cuts) == 1:
        return _weight_groups(stats, sh, per_group)
    parts = [_weight_groups(stats, _Shape(ci, 0, cr, 0, 0, 0, (), 0), per_group) for ci, cr in cuts]
    return tuple(np.concatenate([q[i] for q in parts]) for i in range(3))


def _cost_tile(
    stats: LayerStats,
    core: _Core,
    sh: _Shape,
    s: Schedule,
    prof: TileProfile,
    engines: bool = False,
):
    """Voxel tile outer: per tile gather, rulebook, (weights), runs, stores.

    Works on per-tile arrays (exact) or on the plain floats of one average tile (estimate).
    With ``engines``, returns the per-visit ``(load, compute, store)`` cycles instead.
    """
    cfg, L = core.cfg, core.mem.latency
    R, T, db = cfg.pe_rows, s.tile_outputs, s.double_buffer
    inner = s.cout_inner
    nco_v = sh.n_co if inner else 1  # Cout tiles per visit of a tile
    passes = 1 if inner else sh.n_co  # visits of each tile
    res = 1 if sh.n_cr else 0
    w, m, I, G, P, keff, runs = prof.per_tile(core.run_min)
    # Capacities.
    largest = int(prof.outputs.max()) if prof.exact else min(T, stats.n_out)
    ifm_need = _ifm_need(prof, sh)
    ifm_cap = core.capacity("ifm", db)
    cut = (sh.n_ci, 1, sh.n_cr, 0)
    if ifm_need > ifm_cap:
        cut = None if s.pack else _passes(core, sh, int(prof.inputs_max), largest, db)
        if cut is None:
            return _infeasible(
                f"a tile's inputs need {ifm_need} IFM words, {ifm_cap} available", prof.tiles
            )
    g_in, p_in, g_res, p_res = cut
    n_pass = p_in + p_res  # IFM contents of a tile (1: all Cin tiles at once)
    ofm_need = largest * nco_v
    ofm_cap = core.capacity("ofm", db)
    if ofm_need > ofm_cap:
        return _infeasible(f"a tile needs {ofm_need} OFM rows, {ofm_cap} available", prof.tiles)
    if int(prof.inputs_max) + T * res >= 1 << RBK_IN_BITS or T >= 1 << RBK_OUT_BITS:
        return _infeasible("tile too large for the rulebook entry fields", prof.tiles)
    seq = stats.planes * sh.n_ci + sh.n_cr  # weight tiles of one Cout tile
    resident_tiles = seq * nco_v
    if s.weights_resident and resident_tiles > core.wgt_tiles:
        return _infeasible(
            f"{resident_tiles} resident weight tiles, WGT holds {core.wgt_tiles}", prof.tiles
        )
    rbk_cap = core.capacity("rbk", db)
    # Per visit (one tile, nco_v Cout tiles): load, compute and store engine cycles.
    if n_pass == 1:
        ifm_cyc = (G + res) * L + core.rows_cycles(I, sh.slot_bytes)
        ifm_cyc = ifm_cyc + res * core.rows_cycles(m, sh.res_bytes)
        first_cyc = ifm_cyc
    else:
        # IFM passes: each gathers its Cin tiles of every input (rows with gaps).
        ab = cfg.act_bits // 8
        sizes_in = [min(g_in, sh.n_ci - i * g_in) for i in range(p_in)]
        sizes_res = [min(g_res, sh.n_cr - i * g_res) for i in range(p_res)]
        per_in = [G * L + I * core.row_cycles(n * R * ab) for n in sizes_in]
        per_res = [L + m * core.row_cycles(n * R * ab) for n in sizes_res]
        first_cyc = per_in[0]
        ifm_cyc = sum(per_in) + sum(per_res)
        if nco_v > 1 and n_pass > (2 if db else 1):  # not all resident: reloaded per Cout tile
            ifm_cyc = nco_v * ifm_cyc
    ifm_bytes = I * sh.slot_bytes + m * sh.res_bytes
    if n_pass > 1 and nco_v > 1 and n_pass > (2 if db else 1):
        ifm_bytes = nco_v * ifm_bytes
    E = P + res * m  # rulebook entries
    chunks = -((-E) // rbk_cap)
    rbk_cyc = chunks * L + core.stream_cycles(4 * E)
    # Chunks that do not all stay in their RBK buffers are reloaded for each Cout tile.
    rbk_v = 1
    if nco_v > 1:
        rbk_v = np.where(chunks > (2 if db else 1), nco_v, 1)
        if not isinstance(chunks, np.ndarray):
            rbk_v = int(rbk_v)
        rbk_cyc = rbk_v * rbk_cyc
    cp = nco_v * (sh.n_ci * runs + res * sh.n_cr * _vmax(m, core.run_min)) + core.start
    mean_row = sum(sh.out_row_cycles) / sh.n_co
    st = nco_v * (L + STORE_SETUP + m * mean_row)
    instr = (G + res) * n_pass + chunks * rbk_v + nco_v * (keff * sh.n_ci + sh.n_cr) + nco_v
    # Bias rows: one buffer, reloaded whenever the Cout tile changes.
    bias_bytes = cfg.pe_cols * cfg.acc_bits // 8
    bias_cyc = L + core.stream_cycles(bias_bytes)
    bias_v = nco_v if (inner and sh.n_co > 1) else 0
    bias_fixed = passes if not bias_v else 0  # once per pass (Cout tile)
    instr = instr + bias_v
    n_w = 0.0  # weight groups loaded per visit
    w_one = 0.0  # cycles of one
    w_ring = None  # (load cycles, tiles) of each group of a Cout tile
    if s.weights_resident:
        w_cyc = w_bytes = 0.0
        nbytes = resident_tiles * sh.tile_bytes
        wres_loads = passes * _group_loads(nbytes)
        wres_cyc = wres_loads * L + passes * core.stream_cycles(nbytes)
        wres_bytes = passes * nbytes
    else:
        per_group = core.capacity("wgt", db) // R
        if n_pass == 1:
            cuts = ((sh.n_ci, sh.n_cr),)  # the weight sequence of one Cout tile, in groups
        else:
            cuts = tuple((n, 0) for n in sizes_in) + tuple((0, n) for n in sizes_res)
        key = (stats.plane_mask, cuts, per_group, sh.tile_bytes)
        groups = core.groups.get(key)
        if groups is None:
            inc, res_in, sizes = _pass_groups(stats, sh, per_group, cuts)
            gb = sizes * sh.tile_bytes
            g_loads = _group_loads(gb)
            g_cyc = g_loads * L + core.stream_cycles(gb)
            if len(core.groups) > 256:
                core.groups.clear()
            groups = core.groups[key] = (inc, res_in, sizes, gb, g_loads, g_cyc)
        inc, res_in, sizes, gb, g_loads, g_cyc = groups
        if nco_v * len(sizes) <= (2 if db else 1):
            # The groups a visit uses all stay in their WGT buffers: loaded once per pass.
            w_cyc = w_bytes = 0.0
            wres_loads = passes * nco_v * float(_group_loads(gb).sum())
            wres_cyc = passes * nco_v * float(g_cyc.sum())
            wres_bytes = passes * nco_v * float(gb.sum())
        else:
            if prof.exact or prof.spans is None:
                present = _groups_present(prof, inc, res_in)
            else:  # one decision's structures share the estimated profiles' spans
                memo_key = ("present", prof.spans.tobytes(), key)
                present = stats.memo.get(memo_key)
                if present is None:
                    present = stats.memo[memo_key] = _groups_present(prof, inc, res_in)
            loads_v = nco_v * (present @ g_loads)
            w_cyc = nco_v * (present @ g_cyc)
            w_bytes = nco_v * (present @ gb)
            n_w = nco_v * present.sum(axis=1)
            if not isinstance(w, np.ndarray):
                loads_v, w_cyc, w_bytes = float(loads_v[0]), float(w_cyc[0]), float(w_bytes[0])
                n_w = float(n_w[0])
            w_one = float(g_cyc[0])
            w_ring = (g_cyc, sizes)
            instr = instr + loads_v
            wres_loads = wres_cyc = wres_bytes = 0
    ld = ifm_cyc + rbk_cyc + core.fetch_cycles(instr) + w_cyc + bias_v * bias_cyc
    if engines:
        return ld, cp, st
    fixed = wres_cyc + bias_fixed * bias_cyc + CONFIG_CYCLES
    if db:
        full = L + core.stream_cycles(4 * rbk_cap)
        left = E - (chunks - 1) * rbk_cap  # entries of the last chunk
        c_ent = (cp - core.start) / _vmax(E * rbk_v, 1.0)  # compute per entry
        rings = [
            (chunks * rbk_v, full, L + core.stream_cycles(4 * left),
             c_ent * rbk_cap, c_ent * left),
        ]  # fmt: skip
        if w_ring is not None:
            share = w_ring[1] / w_ring[1].sum()
            c_j = (cp - core.start) / nco_v
            rings.append((n_w, w_one, float(w_ring[0][-1]), c_j * share[0], c_j * share[-1]))
        first = first_cyc + L + core.stream_cycles(4 * _vmin(E, rbk_cap))  # + first chunk
        stall = _interlock(core, sh, stats, cp, rings, first,
                           bias_cyc if bias_v else 0.0, w_one, nco_v, p_in)  # fmt: skip
        busy = cp + stall
        pipes = passes if (s.weights_resident and passes > 1) else 1
        if prof.exact:
            steady = passes * _total(w * _vmax(_vmax(ld, busy), st))
        else:
            # Tiles vary around the average, so E[max] exceeds the max of the averages, most
            # when the engines are balanced: a smooth maximum (16-norm) of the averages.
            steady = passes * _total(w * (ld**16 + busy**16 + st**16) ** (1 / 16))
        drain = _ends(st)[1]
        if prof.last:
            drain = nco_v * (L + STORE_SETUP + prof.last * mean_row)
        cycles = steady + pipes * (_ends(ld)[0] + drain + core.depth) + fixed
    else:
        # One buffer per kind: a tile's loads wait for the previous tile's compute (its
        # buffers), its compute for its loads; the previous tile's store overlaps the loads.
        cycles = passes * _total(w * (_vmax(ld, st) + cp + core.depth)) + fixed
    traffic = {
        "ifm": passes * _total(w * ifm_bytes),
        "wgt": passes * _total(w * w_bytes) + wres_bytes,
        "rbk": passes * _total(w * 4 * E * rbk_v),
        "psum": 0.0,
        "ofm": float(stats.n_out * sh.out_bytes),
        "bias": (passes * _total(w * bias_v) + bias_fixed) * bias_bytes,
        "instr": (passes * _total(w * instr) + wres_loads + bias_fixed) * INSTR_BYTES,
    }
    e_max = float(E.max()) if isinstance(E, np.ndarray) else E
    l1 = {
        "ifm": min(ifm_need, ifm_cap),
        "ofm": ofm_need,
        "rbk": int(min(e_max, rbk_cap)),
        "wgt": (resident_tiles if s.weights_resident else core.capacity("wgt", db) // R) * R,
    }
    load = passes * _total(w * ld) + wres_cyc + bias_fixed * bias_cyc
    comp = passes * _total(w * cp)
    store = passes * _total(w * st)
    return _finish(stats, core, sh, cycles, load, comp, store, traffic, l1, prof.tiles, prof.exact)


def _interlock(core, sh, stats, cp, rings, gather, bias, w_first, nco_v, p_in):
    """Compute-engine stall per visit of a double-buffered tile order: what the in-order
    load engine cannot prefetch because a load waits for a buffer the compute still reads.

    * **Rings** (``rings``: per visit the streamed weight groups and the rulebook chunks,
      two buffers each, as ``(items, load of a full one, load of the last, compute of a full
      one, compute of the last)``; the last is the remainder): an item's load waits for
      the compute of the item two back.  Within a tile that costs ``max(0, (D + x - c) /
      2)`` per item; at a tile boundary the next tile's first item waits for the compute of
      the tile's last but one, and with three items or more the tile's last item (waiting
      for the one before the last but one), the next tile's gather and its first item
      must be loaded while the last two compute: ``max(0, D + x - c_last, D + x_last +
      gather + x - c - c_last)``.
    * **Bias per Cout tile** (Cout inner, more than one Cout tile): the one bias buffer is
      reloaded for each Cout tile after the last run that reads it (the first Cin tile's
      runs, the last of which ends ``c_j (1 - 1 / p)`` before the Cout tile's compute ends
      with ``p`` IFM passes); every load behind it - at a tile boundary the next tile's first
      gather pass and rulebook chunk - and the first weight group wait with it.

    ``D`` = compute depth to the token, seen by the load engine, and its first request.
    """
    D = core.depth + 3
    stall = 0.0
    edge = 0.0
    for n, x, x_last, c, c_last in rings:
        on = n > 1.5
        ring = _vmax((D + x - c) / 2, 0.0) * _vmax(n - nco_v - 1, 0.0)
        tail = _vmax(D + x - c_last, 0.0)
        if isinstance(n, np.ndarray):
            tail = np.where(n > 2.5, _vmax(tail, D + x_last + gather + x - c - c_last), tail)
        elif n > 2.5:
            tail = _vmax(tail, D + x_last + gather + x - c - c_last)
        if isinstance(on, np.ndarray):
            stall = stall + np.where(on, ring, 0.0)
            edge = _vmax(edge, np.where(on, tail, 0.0))
        elif on:
            stall = stall + ring
            edge = _vmax(edge, tail)
    if bias:
        c_j = (cp - core.start) / nco_v  # compute of one Cout tile of the visit
        if p_in > 1:
            slack = c_j * (1.0 - 1.0 / p_in)
        else:
            slack = c_j * (1.0 - 1.0 / sh.n_ci) / max(stats.planes, 1)
        stall = stall + _vmax(D + bias + w_first - slack, 0.0) * (nco_v - 1)
        edge = _vmax(edge, D + bias + gather + w_first - slack)
    return stall + edge


def _cost_plane(stats: LayerStats, core: _Core, sh: _Shape, s: Schedule, prof: TileProfile):
    """Weight plane outer, as the compiler emits it: for each Cout tile, for each group of
    weight tiles (one WGT buffer), for each voxel tile, its gathered inputs and rulebook
    chunks (reused while they stay in their buffers) and the group's runs; the layer's
    accumulators of one Cout tile stay in one OFM buffer and are stored at the end.
    """
    cfg, L = core.cfg, core.mem.latency
    R, T, db = cfg.pe_rows, s.tile_outputs, s.double_buffer
    M = stats.n_out
    res = 1 if sh.n_cr else 0
    n_buf = 2 if db else 1
    w, m, I, G = prof.weight.astype(np.float64), prof.outputs, prof.inputs, prof.gathers
    ofm_cap = core.capacity("ofm", db)
    if M > ofm_cap:
        return _infeasible(
            f"order plane keeps all {M} outputs of a Cout tile in OFM, {ofm_cap} available",
            prof.tiles,
        )
    ifm_need = _ifm_need(prof, sh)
    ifm_cap = core.capacity("ifm", db)
    if ifm_need > ifm_cap:
        return _infeasible(
            f"a tile's inputs need {ifm_need} IFM words, {ifm_cap} available", prof.tiles
        )
    if T >= 1 << RBK_OUT_BITS or int(prof.inputs_max) + T * res >= 1 << RBK_IN_BITS:
        return _infeasible("tile too large for the rulebook entry fields", prof.tiles)
    rbk_cap = core.capacity("rbk", db)
    tiles = prof.tiles
    E = prof.pairs.sum(axis=1) + res * m
    chunks = np.ceil(E / rbk_cap)
    # Gathers and rulebook chunks stay in their buffers when the whole layer fits them.
    ifm_hit = tiles <= n_buf
    rbk_hit = round(float((w * chunks).sum())) <= n_buf
    gather = (G + res) * L + core.rows_cycles(I, sh.slot_bytes)
    gather = gather + res * core.rows_cycles(m, sh.res_bytes)
    rbk = chunks * L + core.stream_cycles(4 * E)
    per_group = core.capacity("wgt", db) // R
    inc, res_in, sizes = _weight_groups(stats, sh, per_group)
    n_g = len(sizes)
    # Per (tile, group): runs of the group's (plane, Cin tile) positions with pairs.
    runs = prof.run_matrix(core.run_min) @ inc.T  # (n, G)
    counts = prof.runs() @ inc.T
    if res:
        runs = runs + np.maximum(m, core.run_min)[:, None] * res_in[None, :]
        counts = counts + res_in[None, :]
    present = _groups_present(prof, inc, res_in)
    gb = sizes * sh.tile_bytes
    g_cyc = _group_loads(gb) * L + core.stream_cycles(gb)
    ld = np.zeros_like(runs)
    if not ifm_hit:
        ld += present * gather[:, None]
    if not rbk_hit:
        ld += present * rbk[:, None]
    cp = runs
    reloads = (0.0 if ifm_hit else G + res) + (0.0 if rbk_hit else chunks)
    instr = counts + present * np.reshape(reloads * np.ones(len(m)), (-1, 1))
    ld_g = (w[:, None] * ld).sum(axis=0) + g_cyc + core.fetch_cycles((w[:, None] * instr).sum(0))
    cp_g = (w[:, None] * cp).sum(axis=0)
    bias_bytes = cfg.pe_cols * cfg.acc_bits // 8
    bias_cyc = L + float(core.stream_cycles(bias_bytes))
    first = (float((w * gather).sum()) if ifm_hit else 0.0) + (
        float((w * rbk).sum()) if rbk_hit else 0.0
    )
    store = [L + STORE_SETUP + M * rc for rc in sh.out_row_cycles]
    if db:
        body = float(np.maximum(ld_g, cp_g).sum()) + float(ld_g[0]) if n_g else 0.0
    else:
        body = float((ld_g + cp_g).sum())
    cycles = sh.n_co * (body + bias_cyc + core.start + core.depth) + first + sum(store)
    cycles += CONFIG_CYCLES
    n_instr = sh.n_co * (float((w[:, None] * instr).sum()) + n_g * 1.5 + 1 + 1)
    in_bytes = I * sh.slot_bytes + m * sh.res_bytes
    uses = sh.n_co * present.sum(axis=1)  # (Cout tile, group) steps that use each tile
    traffic = {
        "ifm": float((w * in_bytes * (1 if ifm_hit else uses)).sum()),
        "wgt": sh.n_co * float(gb.sum()),
        "rbk": 4.0 * float((w * E * (1 if rbk_hit else uses)).sum()),
        "psum": 0.0,
        "ofm": float(M * sh.out_bytes),
        "bias": sh.n_co * bias_bytes,
        "instr": n_instr * INSTR_BYTES,
    }
    load = sh.n_co * (float(ld_g.sum()) + bias_cyc) + first
    l1 = {
        "ifm": ifm_need,
        "ofm": M,
        "rbk": int(min(float(E.max()), rbk_cap)) if len(E) else 0,
        "wgt": per_group * R,
    }
    return _finish(
        stats,
        core,
        sh,
        cycles,
        load,
        sh.n_co * float(cp_g.sum()),
        sum(store),
        traffic,
        l1,
        tiles,
        prof.exact,
    )


# --------------------------------------------------------------------------- public API
_CORES: dict = {}


def gapless_rows(plans) -> dict[str, tuple[bool, bool]]:
    """Per layer: whether its gathered input rows and its output rows are gapless in DRAM,
    as the compiler lays the tensors out (accss3d.compiler.layout): tensors read
    concatenated share one buffer, so a layer reading only some members of a buffer (a skip
    tensor also concatenated elsewhere), or writing one member, moves rows with gaps, one
    burst set per row; a whole buffer streams each run of consecutive rows."""
    parent: dict = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for p in plans:
        for group in (p.layer.inputs, p.layer.residual):
            for a in group[1:]:
                parent[root(a)] = root(group[0])
    members: dict = {}
    for x in list(parent):
        members.setdefault(root(x), set()).add(x)
    out = {}
    for p in plans:
        names, me = p.layer.inputs, p.layer.name
        out[me] = (
            members.get(root(names[0]), {names[0]}) == set(names),
            members.get(root(me), {me}) == {me},
        )
    return out


def _core(cfg: ArchConfig, memory: MemoryTiming | None, gapless=True) -> _Core:
    if isinstance(gapless, bool | np.bool_):
        gapless = (bool(gapless), bool(gapless))
    key = (cfg, memory or MemoryTiming(), (bool(gapless[0]), bool(gapless[1])))
    core = _CORES.get(key)
    if core is None:
        if len(_CORES) > 64:
            _CORES.clear()
        core = _CORES[key] = _Core(*key)
    return core


def _canonical(s: Schedule) -> Schedule:
    """Plane order ignores ``cout_inner`` and ``weights_resident`` (every weight tile is
    loaded once per Cout tile): one representative of each."""
    if s.order == "plane" and (s.cout_inner or not s.weights_resident):
        return Schedule(s.tile_outputs, "plane", False, True, s.double_buffer, s.pack)
    return s


def _tile_pack(plan: LayerPlan, sh: _Shape, core: _Core, s: Schedule):
    """The exact profile of a schedule's voxel tiles, packed when ``s.pack``.

    Returns ``(profile, reason)``: the profile, or None and why no tiling fits.
    """
    prof = tile_profile(plan.kmap, s.tile_outputs)
    cap = core.capacity("ifm", s.double_buffer)
    need = _ifm_need(prof, sh) if plan.kmap.n_out else 0
    if need <= cap or not s.pack:
        return prof, ""
    key = ("pack", s.tile_outputs, sh.n_ci, sh.n_cr, cap)
    cache = _kmap_cache(plan.kmap).setdefault("profiles", {})
    if key not in cache:
        starts = pack_bounds(plan.kmap, s.tile_outputs, sh.n_ci, sh.n_cr, cap)
        cache[key] = None if starts is None else tile_profile(plan.kmap, s.tile_outputs, starts)
    if cache[key] is None:
        return None, f"one output's inputs need more than the {cap} IFM words available"
    return cache[key], ""


def _evaluate(stats, core, sh, s: Schedule, prof: TileProfile) -> Cost:
    if stats.n_out == 0:
        return _finish(stats, core, sh, 0, 0, 0, 0, {}, {}, 0, prof.exact)
    if s.order == "plane":
        return _cost_plane(stats, core, sh, s, prof)
    return _cost_tile(stats, core, sh, s, prof)


def _exact(plan: LayerPlan, stats, core, sh, s: Schedule) -> Cost:
    s = _canonical(s)
    prof, reason = _tile_pack(plan, sh, core, s)
    if prof is None:
        return _infeasible(reason)
    return _evaluate(stats, core, sh, s, prof)


def tile_bounds(plan: LayerPlan, cfg: ArchConfig, schedule: Schedule) -> np.ndarray:
    """Output index ranges of the voxel tiles of ``schedule``: ``(n_tiles + 1,)`` int64.

    Tile ``j`` computes outputs ``bounds[j]:bounds[j + 1]`` (in the kernel map's output
    order).  Tiles hold ``tile_outputs`` outputs; with ``pack`` they are packed greedily
    and end early before an output whose inputs would overflow the IFM capacity (the
    compiler cuts tiles with this function, the cost model measures the same tiles).

    Raises
    ------
    ConfigError
        When a tile does not fit (``pack`` off, or one output alone).
    """
    stats = layer_stats(plan)
    check_layer(stats, cfg)
    core = _core(cfg, None)
    sh = _shape(stats, core)
    s = _canonical(schedule)
    M = plan.kmap.n_out
    plain = np.append(np.arange(0, M, s.tile_outputs, dtype=np.int64), M)
    if M == 0:
        return plain
    prof, reason = _tile_pack(plan, sh, core, s)
    if prof is None:
        raise ConfigError(f"layer {stats.name}: {reason}")
    cap = core.capacity("ifm", s.double_buffer)
    if _ifm_need(prof, sh) > cap:
        raise ConfigError(
            f"layer {stats.name}: a tile of {s.tile_outputs} outputs needs "
            f"{_ifm_need(prof, sh)} IFM words, {cap} available (pack the tiles or use smaller ones)"
        )
    return np.append(0, np.cumsum(prof.outputs)).astype(np.int64)


def cost(
    plan: LayerPlan,
    cfg: ArchConfig,
    schedule: Schedule,
    *,
    memory: MemoryTiming | None = None,
    exact: bool = True,
    gapless: bool | tuple[bool, bool] = True,
) -> Cost:
    """Modelled cost of ``schedule`` for one layer on ``cfg``.

    Parameters
    ----------
    plan : LayerPlan
        The layer bound to a scene.
    cfg : ArchConfig
    schedule : Schedule
    memory : MemoryTiming, optional
        External memory latency and outstanding bursts (default :class:`MemoryTiming`).
    exact : bool
        Measure the tiles' inputs, gathers and per-plane pairs from the kernel map (default),
        or estimate them from the ARF and per-plane pair counts (:func:`halo_estimate`).
    gapless : bool or (bool, bool)
        The layer's input (and output) rows are gapless in DRAM (default; see
        :func:`gapless_rows`).

    Returns
    -------
    Cost
        ``feasible`` is False (with the ``reason``) when a tile does not fit L1.
    """
    stats = layer_stats(plan)
    check_layer(stats, cfg)
    core = _core(cfg, memory, gapless)
    sh = _shape(stats, core)
    if exact:
        return _exact(plan, stats, core, sh, schedule)
    return _estimate(stats, core, sh, schedule)


def tile_grid(n_out: int, limit: int = 1 << 14) -> list[int]:
    """Tile sizes the oracle tries: 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24... (about
    four per octave) up to ``min(n_out, limit)``, plus ``n_out`` itself when it is below
    the limit (one tile)."""
    top = max(1, min(n_out, limit))
    out = set(range(1, min(top, 8) + 1))
    base = 8
    while base < top:
        for step in (base, base * 5 // 4, base * 3 // 2, base * 7 // 4):
            if step <= top:
                out.add(step)
        base *= 2
    out.add(top)
    return sorted(out)


def candidates(tile_outputs: int, passes: bool = False) -> list[Schedule]:
    """Every distinct schedule with tile size ``tile_outputs`` (plane order canonical).

    With ``passes``, also the tile-order schedules of plain (unpacked) tiles, which gather
    their inputs in several IFM passes when one does not hold them (the compiler's cut; they
    differ from the packed ones only then).
    """
    out = []
    for db in (True, False):
        for inner in (False, True):
            for resident in (True, False):
                out.append(Schedule(tile_outputs, "tile", inner, resident, db, pack=True))
        out.append(Schedule(tile_outputs, "plane", False, True, db, pack=True))
    if passes:
        for db in (True, False):
            for inner in (False, True):
                for resident in (True, False):
                    out.append(Schedule(tile_outputs, "tile", inner, resident, db, pack=False))
    return out


def search(
    plan: LayerPlan,
    cfg: ArchConfig,
    *,
    memory: MemoryTiming | None = None,
    tiles: list[int] | None = None,
    gapless: bool | tuple[bool, bool] = True,
    passes: bool = True,
) -> tuple[Schedule, Cost]:
    """The oracle: the cheapest schedule over the whole space, costed exactly.

    Every tile size of :func:`tile_grid` (or ``tiles``) times every order and flag
    (:func:`candidates`, with the plain tiles gathered in IFM passes where one pass does not
    hold them unless ``passes`` is False); ties go to fewer DRAM bytes, then to the first
    candidate.

    Raises
    ------
    ConfigError
        When no candidate fits L1 (e.g. L1 smaller than one tile of the layer).
    """
    stats = layer_stats(plan)
    check_layer(stats, cfg)
    core = _core(cfg, memory, gapless)
    sh = _shape(stats, core)
    best: tuple[Schedule, Cost] | None = None
    reason = ""
    # Packed tiles that all end before T outputs stay the same for every larger T: once a
    # buffering saturates, larger tile sizes of tile order cost the same and are skipped.
    saturated = {True: False, False: False}
    for T in tiles or tile_grid(stats.n_out):
        plain = tile_profile(plan.kmap, T) if stats.n_out else None
        need = _ifm_need(plain, sh) if plain is not None else 0
        for s in candidates(T, passes=passes):
            if s.order == "tile" and s.pack and saturated[s.double_buffer]:
                continue
            if not s.pack and need <= core.capacity("ifm", s.double_buffer):
                continue  # one pass holds the plain tiles: the packed schedule is the same
            c = _exact(plan, stats, core, sh, s)
            if not c.feasible:
                reason = reason or c.reason
                continue
            if best is None or c.key < best[1].key:
                best = (s, c)
        for db in (True, False):
            if not saturated[db]:
                probe = Schedule(T, "tile", False, False, db, pack=True)
                prof, _ = _tile_pack(plan, sh, core, probe)
                saturated[db] = prof is not None and int(prof.outputs.max()) < T
    if best is None:
        raise ConfigError(
            f"layer {stats.name}: L1 is smaller than one tile of this layer on "
            f"{cfg.name} ({reason})"
        )
    return best


# --------------------------------------------------------------------------- the estimate
#: Below this many tiles the fill and drain of a double-buffered pipeline are worth
#: balancing against the per-tile overheads (:func:`_pipeline_tile`).
PIPE_TILES = 8
PIPE_BALANCE = True
#: Without a measured halo curve: a tile of T outputs reads ``T * N/M + (ARF - N/M) *
#: T**(1 - HALO_BETA)`` inputs (fitted on generated rooms in raster order).
HALO_BETA = 0.36
#: Gather runs per tile at T = 1 grow by this fraction of ``ARF - 1``, and by
#: ``1 + GATHER_GROWTH * log2(T)`` with the tile size.
GATHER_SLOPE = 0.35
GATHER_GROWTH = 0.25
#: Runs of consecutive inputs per pair of one plane, by convolution kind (large tiles).
_PLANE_RUNS = {"submanifold": 0.2, "strided": 0.95, "transposed": 0.4}


def _halo_inputs(stats: LayerStats, T: float, harmonic: bool = False) -> float:
    """Mean distinct inputs of a tile of ``T`` consecutive outputs.

    From the measured curve (:attr:`LayerStats.halo`, log-log interpolation; beyond its
    last point towards ``n_in`` inputs for ``n_out`` outputs), else the ARF model: one
    output reads ARF inputs, a large tile ``N/M`` per output, the halo in between shrinking
    as ``T**-HALO_BETA`` (surface data).
    """
    M, N = stats.n_out, stats.n_in
    if M == 0:
        return 0.0
    if T >= M:
        return float(N)
    if stats.halo:
        logs = stats._arrays[3] if harmonic and stats.halo_harmonic else stats._arrays[2]
        lb = math.log(stats.halo_base)
        x = math.log(max(T, 1.0)) / lb
        j = int(x)
        if j + 1 < len(logs):
            f = x - j
            return math.exp(logs[j] + f * (logs[j + 1] - logs[j]))
        top = lb * (len(logs) - 1)
        f = (math.log(T) - top) / (math.log(M) - top)
        return math.exp(logs[-1] + f * (math.log(max(N, 1)) - logs[-1]))
    a = N / M
    est = T * a + max(stats.arf - a, 0.0) * T ** (1.0 - HALO_BETA)
    return min(float(N), est, T * stats.arf)


def _presence(stats: LayerStats, T: float) -> np.ndarray:
    """Per plane: probability that a tile of ``T`` outputs has a run of it."""
    counts, levels = stats._arrays[:2]
    lam = counts * (T / max(stats.n_out, 1))
    if not stats.presence:
        return np.where(lam > 0, 1.0 - np.exp(-lam), 0.0)
    x = math.log(max(T, 1.0)) / math.log(stats.halo_base)
    j = int(x)
    if j + 1 >= len(levels):
        return np.where(lam > 0, np.maximum(levels[-1], np.minimum(1.0, lam)), 0.0)
    pres = levels[j] + (x - j) * (levels[j + 1] - levels[j])
    return np.minimum(pres, np.minimum(1.0, lam))


def halo_estimate(stats: LayerStats, tile_outputs: float, tiles: float | None = None):
    """A :class:`TileProfile` from the statistics alone (no kernel map access).

    Every tile is average: ``tile_outputs`` outputs (fractional when it stands for packed
    tiles of different sizes), inputs from :func:`_halo_inputs`, ``T * c_k / M`` pairs in
    plane ``k`` (``c_k`` its pair count) with the measured run presence, gather runs from
    the ARF.  One row stands for ``tiles`` tiles (default ``M / T``).
    """
    key = ("halo", float(tile_outputs), tiles)
    out = stats.memo.get(key)
    if out is None:
        out = stats.memo[key] = _halo_estimate(stats, tile_outputs, tiles)
    return out


def _halo_estimate(stats: LayerStats, tile_outputs: float, tiles: float | None) -> TileProfile:
    M = max(stats.n_out, 1)
    T = max(1.0, min(float(tile_outputs), float(M)))
    I = _halo_inputs(stats, T)
    arf = stats.arf
    g1 = 1.0 + max(arf - 1.0, 0.0) * GATHER_SLOPE
    growth = GATHER_GROWTH * (1.0 - 1.0 / max(arf, 1.0))
    G = min(max(I, 1.0), g1 * (1.0 + growth * math.log2(T)))
    lam = stats._arrays[0] * (T / M)
    pres = _presence(stats, T)
    rho = stats.plane_runs
    if not rho:
        rho = _PLANE_RUNS.get(stats.kind, 0.5)
        if stats.kind == "submanifold":
            rho *= 1.0 - 1.0 / max(arf, 1.0)
    runs = np.where(pres > 0, np.minimum(lam, pres + rho * lam), 0.0)
    table = None
    if stats.run_table:
        x = math.log(T) / math.log(stats.halo_base)
        j = min(int(x), len(stats.run_table) - 1)
        if j + 1 < len(stats.run_table):
            # The padding of short runs, ``sum_k max(p_k, r) - sum_k p_k``, is smooth in
            # log-log (the totals, which grow linearly, are not).
            lo, hi = (np.array(stats.run_table[i]) for i in (j, j + 1))
            p_lo, p_hi = (arf * stats.halo_base**i for i in (j, j + 1))
            e_lo = np.log(np.maximum(lo - p_lo, 1e-6 * lo))
            e_hi = np.log(np.maximum(hi - p_hi, 1e-6 * hi))
            row = np.log(arf * T + np.exp(e_lo + (x - j) * (e_hi - e_lo)))
        else:  # beyond the last level: grow with the tile
            logs = np.log(np.maximum(np.array(stats.run_table[-1]), 1e-12))
            row = logs + math.log(T / stats.halo_base ** (len(stats.run_table) - 1))
        table = np.exp(row)[None, :]
    spans = None
    if stats.spans is not None and len(stats.spans):
        levels = stats.spans
        x = math.log(T) / math.log(stats.halo_base)
        j = min(int(x), len(levels) - 1)
        f = min(x - j, 1.0) if j + 1 < len(levels) else 0.0
        spans = (levels[j] if not f else levels[j] + f * (levels[j + 1] - levels[j]))[None]
    return TileProfile(
        run_table=table,
        spans=spans,
        tile_outputs=int(math.ceil(T)),
        weight=np.array([M / T if tiles is None else tiles]),
        outputs=np.array([T]),
        inputs=np.array([I]),
        gathers=np.array([G]),
        pairs=lam[None, :],
        plane_gathers=runs[None, :],
        inputs_max=int(math.ceil(I)),
        presence=pres[None, :],
    )


def _fill_tile(stats: LayerStats, sh: _Shape, cap: int) -> float:
    """Outputs whose estimated inputs fill ``cap`` IFM words: the ``t`` solving
    ``inputs(t) * n_ci + t * n_cr = cap`` on the halo curve (bisection in log t); ``n_out``
    when the whole layer fits, 0 when one output's receptive field (at most ``planes``
    inputs) may not.  A greedy tile ends where *its* inputs fill IFM: tiles of a fixed size
    over-count it by the spread of their inputs (arithmetic mean), outputs per input over-
    weight the sparse ones (harmonic mean); ``inputs(t)`` is the geometric mean of the two."""
    if stats.planes * sh.n_ci + sh.n_cr > cap:
        return 0.0
    M = max(stats.n_out, 1)

    def need(t: float) -> float:
        inputs = math.sqrt(_halo_inputs(stats, t) * _halo_inputs(stats, t, harmonic=True))
        return inputs * sh.n_ci + t * sh.n_cr

    if need(M) <= cap:
        return float(M)
    lo, hi = 0.0, math.log(M)  # need(exp(lo)) <= cap < need(exp(hi))
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        if need(math.exp(mid)) <= cap:
            lo = mid
        else:
            hi = mid
    return math.exp(lo)


def _packed_tile(stats: LayerStats, sh: _Shape, cap: int, T: float) -> tuple[float, float] | None:
    """Mean outputs and inputs of greedily packed tiles of at most ``T`` outputs in ``cap``
    IFM words, read from the measured packing tables (:attr:`LayerStats.packing`, bilinear
    in log budget and log cap); None without a table for this residual ratio, budget or
    cap (then :func:`_fill_tile` estimates the size from the halo curve)."""
    tab = stats.packing
    if tab is None or abs(sh.n_cr / sh.n_ci - tab["ratio"]) > 1e-9:
        return None
    x = PACK_STEPS * math.log2(cap / sh.n_ci)
    y = PACK_STEPS * math.log2(max(T, 1.0))
    logt, logi = tab["tiles"], tab["inputs"]
    if x < 0 or y < 0 or x > logt.shape[0] - 1 or y > logt.shape[1] - 1:
        return None
    j, k = min(int(x), logt.shape[0] - 2), min(int(y), logt.shape[1] - 2)
    fx, fy = x - j, y - k
    w = ((1 - fx) * (1 - fy), (1 - fx) * fy, fx * (1 - fy), fx * fy)
    cells = ((j, k), (j, k + 1), (j + 1, k), (j + 1, k + 1))
    lt = li = 0.0
    for wc, c in zip(w, cells, strict=True):
        if wc:
            if not math.isfinite(logt[c]):
                return None
            lt += wc * logt[c]
            li += wc * logi[c]
    return min(float(T), stats.n_out / math.exp(lt)), math.exp(li)


def _two_rows(stats: LayerStats, T: int, n: float, size: float, last: float) -> TileProfile:
    """An estimated profile of ``n - 1`` tiles of ``size`` outputs and one of ``last``."""
    head, tail = halo_estimate(stats, size), halo_estimate(stats, last)
    rows = {}
    for name in ("outputs", "inputs", "gathers", "pairs", "plane_gathers", "presence"):
        rows[name] = np.concatenate([getattr(head, name), getattr(tail, name)])
    if head.run_table is not None:
        rows["run_table"] = np.concatenate([head.run_table, tail.run_table])
    if head.spans is not None:
        rows["spans"] = np.concatenate([head.spans, tail.spans])
    rows["weight"] = np.array([n - 1.0, 1.0])
    return TileProfile(**{**head.__dict__, **rows, "tile_outputs": T, "_runs": {}})


def _estimate(
    stats: LayerStats, core: _Core, sh: _Shape, s: Schedule, kmap: KernelMap | None = None
) -> Cost:
    """Cost of ``s`` from :func:`halo_estimate`.

    Packed tiles: their count and mean inputs from the measured packing tables
    (:func:`_packed_tile`), else the size whose estimated inputs fill IFM
    (:func:`_fill_tile`) and ``M / size`` tiles (an expectation).  Few tiles make integer
    effects matter - every tile pays its fixed costs, the last one sets the pipeline's
    drain: with fewer than
    :data:`PIPE_TILES` tiles, plain tiles are ``ceil(M / T)`` with an exact remainder, and
    packed ones are cut exactly when ``kmap`` is given (:func:`pack_bounds` runs once per
    tile, a few microseconds each), their contents still estimated.
    """
    s = _canonical(s)
    M = stats.n_out
    T = min(s.tile_outputs, max(M, 1))
    if not s.pack and kmap is not None and 0 < M <= 2 * T:
        # One or two plain tiles: measured (a few microseconds at this size, then cached).
        return _evaluate(stats, core, sh, s, tile_profile(kmap, s.tile_outputs))
    cap = core.capacity("ifm", s.double_buffer)
    t = float(T)
    measured = None
    if s.pack:
        if stats.planes * sh.n_ci + sh.n_cr > cap:
            return _infeasible("one output's inputs may not fit IFM (estimate)")
        measured = _packed_tile(stats, sh, cap, T)
        t = min(t, _fill_tile(stats, sh, cap)) if measured is None else measured[0]
    prof = halo_estimate(stats, t)
    if measured is not None:
        # Greedy tiles never overflow IFM: no capacity check on the mean inputs.
        inputs = np.array([measured[1]])
        prof = TileProfile(**{**prof.__dict__, "inputs": inputs, "inputs_max": 0, "_runs": {}})
    if t < T - 1e-9:  # packed: not every tile reaches T; the IFM check is the packing's job
        prof = TileProfile(**{**prof.__dict__, "tile_outputs": T, "inputs_max": 0, "_runs": {}})
        if kmap is not None and M < PIPE_TILES * t:
            key = ("pack", T, sh.n_ci, sh.n_cr, cap, "starts")
            cache = _kmap_cache(kmap).setdefault("profiles", {})
            if key not in cache:
                cache[key] = pack_bounds(kmap, T, sh.n_ci, sh.n_cr, cap)
            starts = cache[key]
            if starts is None:
                return _infeasible("one output's inputs do not fit IFM")
            n = len(starts)
            if n > 1:
                head = float(starts[-1]) / (n - 1)
                prof = _two_rows(stats, T, n, head, float(M - starts[-1]))
                prof = TileProfile(**{**prof.__dict__, "inputs_max": 0, "_runs": {}})
            else:
                prof = TileProfile(
                    **{
                        **halo_estimate(stats, M).__dict__,
                        "tile_outputs": T,
                        "inputs_max": 0,
                        "_runs": {},
                    }
                )
    else:
        q = math.floor(M / t + 1e-9)
        r = M - q * t
        if r > 0.5 and q < PIPE_TILES and (s.pack or q < 2):
            prof = _two_rows(stats, T, q + 1, t, r)  # the short last tile pays in full
            if measured is not None:
                prof = TileProfile(**{**prof.__dict__, "inputs_max": 0, "_runs": {}})
        elif r > 0.5:
            prof = TileProfile(**{**prof.__dict__, "last": float(r), "_runs": {}})
    if not s.pack and kmap is not None and M:
        # The largest plain tile's inputs set the IFM passes (measured once per size).
        most = _plain_inputs_max(kmap, T)
        prof = TileProfile(**{**prof.__dict__, "inputs_max": most, "_runs": {}})
    return _evaluate(stats, core, sh, s, prof)


def _plain_inputs_max(kmap: KernelMap, T: int) -> int:
    """Inputs of the largest plain tile of ``T`` outputs (measured once per size, cached)."""
    cache = _kmap_cache(kmap).setdefault("inputs_max", {})
    most = cache.get(T)
    if most is None:
        most = cache[T] = int(_tile_inputs(kmap, T).max())
    return most


def _tile_sizes(stats: LayerStats, core: _Core, sh: _Shape, s: Schedule) -> int:
    """The closed-form tile size of a structure (order and flags): 0 when it cannot fit.

    Tile order: as many outputs as the OFM capacity holds accumulator rows for (all outputs
    when fewer).  Plane order: all outputs (its accumulators stay in OFM anyway).  Packing
    then ends tiles early where the halo fills IFM.
    """
    M = stats.n_out
    limit = (1 << RBK_OUT_BITS) - 1
    if s.order == "tile":
        nco_v = sh.n_co if s.cout_inner else 1
        rows = core.capacity("ofm", s.double_buffer) // nco_v
        return min(rows, limit, max(M, 1))
    return max(min(M, limit), 1)


def decide(
    stats: LayerStats,
    cfg: ArchConfig,
    memory: MemoryTiming | None = None,
    kmap: KernelMap | None = None,
    gapless: bool | tuple[bool, bool] = True,
) -> tuple[Schedule, Cost]:
    """The fast decision on statistics alone: ``(schedule, estimated cost)``.

    A small decision table, not a search over tile sizes: for each structure - tile order
    with Cout tiles inner or outer, double buffering on or off, weights streamed (and
    resident when they fit WGT); plane order with or without double buffering when the
    accumulators fit OFM - the tile size is the closed form of :func:`_tile_sizes` and the
    cost is the estimate of :func:`halo_estimate` at the packed tile size the IFM capacity
    allows (:func:`_packed_tile`, :func:`_fill_tile`).  The cheapest wins.

    Raises
    ------
    ConfigError
        When no structure fits (L1 smaller than one tile of this layer).
    """
    # Ref: US 2021/0090328 - the (tile size, loop order) decision from the rulebook's ARF.
    check_layer(stats, cfg)
    core = _core(cfg, memory, gapless)
    sh = _shape(stats, core)
    best: tuple[Schedule, Cost] | None = None
    plane = stats.n_out <= core.words["ofm"]  # accumulators resident: no partial-sum spills
    # Single buffering serializes every tile's loads and compute: it cannot beat a double-
    # buffered structure already below the layer's issue cycles plus what its tiles must
    # load at least - every input and rulebook entry once, the weights once (every tile's
    # when they do not fit WGT), a gather and a rulebook latency and the compute depth per
    # tile, with tiles of at most all OFM rows.
    issue = sh.n_co * (sh.n_ci * stats.n_pairs + sh.n_cr * stats.n_out)
    once = stats.n_in * sh.slot_bytes + 4 * (stats.n_pairs + (stats.n_out if sh.n_cr else 0))
    tiles = -(-stats.n_out // max(1, min(core.words["ofm"], stats.n_out)))
    w_tiles = (stats.planes * sh.n_ci + sh.n_cr) * sh.n_co
    w_once = w_tiles * sh.tile_bytes * (1 if w_tiles <= core.wgt_tiles else tiles)
    L = core.mem.latency
    serial = issue + (once + w_once) / cfg.bus_bytes + tiles * (2 * L + core.depth)
    for db in (True, False):
        if not db and best is not None and best[1].cycles <= serial:
            break  # (the bound: every input and rulebook entry read once, then computed)
        # One Cout tile: Cout inner and outer emit the same program.  Single buffering only
        # in the Cout order of the best double-buffered tile-order structure.
        orders = (True, False) if sh.n_co > 1 else (True,)
        if not db and best is not None and best[0].order == "tile" and sh.n_co > 1:
            orders = (best[0].cout_inner,)
        for inner in orders:
            nco_v = sh.n_co if inner else 1
            if (stats.planes * sh.n_ci + sh.n_cr) * nco_v <= core.wgt_tiles:
                s = Schedule(1, "tile", inner, True, db, True)
                best = _better(best, stats, core, sh, s, kmap)
            best = _better(best, stats, core, sh, Schedule(1, "tile", inner, False, db, True), kmap)
        if db and kmap is not None:
            # Plain tiles gathered in IFM passes, when the packed ones are cut by IFM.
            best = _ifm_passes(best, stats, core, sh, kmap)
        if plane:
            s = Schedule(1, "plane", False, True, db, True)
            best = _better(best, stats, core, sh, s, kmap)
    if best is None:
        raise ConfigError(
            f"layer {stats.name}: L1 is smaller than one tile of this layer on {cfg.name}"
        )
    return best


def _better(best, stats, core, sh, s: Schedule, kmap=None):
    """``best`` or the structure ``s`` at its closed-form tile size, whichever is cheaper."""
    T = _tile_sizes(stats, core, sh, s)
    if T < 1:
        return best
    sizes = [T]
    if s.double_buffer and s.order == "tile" and PIPE_BALANCE:
        t = _pipeline_tile(stats, core, sh, s, T)
        if t:
            sizes.append(t)
    for t in sizes:
        s = Schedule(t, s.order, s.cout_inner, s.weights_resident, s.double_buffer, s.pack)
        c = _estimate(stats, core, sh, s, kmap)
        if c.feasible and (best is None or c.key < best[1].key):
            best = (s, c)
    return best


def _ifm_passes(best, stats: LayerStats, core: _Core, sh: _Shape, kmap: KernelMap):
    """``best`` or a double-buffered tile order of plain tiles gathered in IFM passes
    (streamed weights), whichever is cheaper.

    The passes of a plain tile hold ``g`` Cin tiles of its inputs each, as many as the
    largest tile's inputs allow, so their number falls in steps as the tiles shrink.  Both
    Cout orders at the OFM limit ``T``, or at the largest size whose largest tile fits one
    Cin tile per pass; then the better order at the largest size that needs one pass fewer
    (``ceil(n_ci / (p - 1))`` Cin tiles per pass), when the first is within 10% of ``best``
    and the second holds more than half its outputs.  Sizes come from the estimated largest
    tile (:func:`_largest_inputs`) and are checked against the measured one; when it does
    not fit, the next four smaller sizes of :func:`tile_grid`, then the largest size of the
    halo curve whose measured largest tile fits.
    """
    cap = core.capacity("ifm", True)
    T_o = _tile_sizes(stats, core, sh, Schedule(1, "tile", False, False, True, False))
    T_i = _tile_sizes(stats, core, sh, Schedule(1, "tile", True, False, True, False))

    def fits_one_pass(T):  # then plain tiles are the packed ones, in one pass
        return _largest_inputs(stats, T) * sh.n_ci + T * sh.n_cr <= cap

    def at(inner, T, g, least=1):
        first = _pass_tile(stats, cap // max(g, 1), T)
        if first < least:
            return None
        levels = [
            stats.halo_base**k
            for k, most in enumerate(stats.halo_max)
            if most * max(g, 1) <= cap and stats.halo_base**k < first
        ][-1:]
        steps = [u for u in tile_grid(first) if levels[0] < u < first][::-1][:4] if levels else []
        for t in [first, *steps, *levels]:
            if t < 1 or fits_one_pass(t):
                return None
            if _plain_inputs_max(kmap, t) > cap:
                continue  # one Cin tile of the largest tile does not fit
            s = Schedule(t, "tile", inner, False, True, False)
            c = _estimate(stats, core, sh, s, kmap)
            if c.feasible:
                return s, c
        return None

    def per_pass(T):  # Cin tiles per pass at size T (at least 1)
        return max(1, min(sh.n_ci, int(cap // max(_largest_inputs(stats, T), 1.0))))

    tried = []
    for inner, T in ((True, T_i), (False, T_o)) if sh.n_co > 1 else ((True, T_i),):
        if T < 1 or fits_one_pass(T):
            continue
        out = at(inner, T, per_pass(T))
        if out is not None:
            tried.append((out, inner, T))
    if not tried:
        return best
    (s, c), inner, T = min(tried, key=lambda x: x[0][1].key)
    passes = -(-sh.n_ci // per_pass(s.tile_outputs))
    if passes > 1 and (best is None or c.cycles < 1.1 * best[1].cycles):
        more = at(inner, T, -(-sh.n_ci // (passes - 1)), s.tile_outputs // 2)
        if more is not None and more[1].key < c.key:
            s, c = more
    return (s, c) if best is None or c.key < best[1].key else best


def _largest_inputs(stats: LayerStats, T: float) -> float:
    """Estimated inputs of the largest plain tile of ``T`` outputs: the mean
    (:func:`_halo_inputs`) times the measured ratio of the largest to the mean at the
    neighbouring sizes of the halo curve (log-interpolated)."""
    ratio = stats.max_ratio
    if not ratio:
        return 2.5 * _halo_inputs(stats, T)
    x = math.log(max(T, 1.0)) / math.log(stats.halo_base)
    j = min(int(x), len(ratio) - 1)
    r = ratio[j] if j + 1 >= len(ratio) else ratio[j] + (x - j) * (ratio[j + 1] - ratio[j])
    return _halo_inputs(stats, T) * math.exp(r)


def _pass_tile(stats: LayerStats, cap: float, T: int) -> int:
    """The largest plain tile size up to ``T`` whose largest tile's inputs fit ``cap`` IFM words
    (a Cin tile each) by :func:`_largest_inputs`: the local power law through two sizes,
    solved, then corrected once (secant steps in log-log)."""
    x1, y1 = math.log(max(T, 1)), math.log(max(_largest_inputs(stats, T), 1e-9))
    goal = math.log(max(cap, 1e-9))
    if y1 <= goal:
        return T
    x0 = x1 - math.log(2.0)
    y0 = math.log(max(_largest_inputs(stats, math.exp(x0)), 1e-9))
    for _ in range(2):
        slope = (y1 - y0) / (x1 - x0) if x1 != x0 else 1.0
        x = x1 + (goal - y1) / max(slope, 0.05)
        x0, y0 = x1, y1
        x1, y1 = x, math.log(max(_largest_inputs(stats, math.exp(x)), 1e-9))
    t = math.exp(x1)
    while t > 1 and _largest_inputs(stats, t) > cap:
        t *= 0.97
    return max(1, min(int(t), T))


def _pipeline_tile(stats, core, sh, s: Schedule, T: int) -> int:
    """The tile size that balances a double-buffered pipeline's fill and drain (0: none).

    Double buffering hides every tile's loads and stores but the first tile's loads and the
    last tile's stores.  With ``x_e(t) = a_e + b_e t`` cycles per tile for engine ``e``
    (load, compute, store; fitted from the estimate at the packed size ``t1`` and at
    ``t1 / 2``), ``M / t`` tiles cost ``f(t) = (M / t) max_e x_e(t) + x_load(t) +
    x_store(r)`` (``r`` outputs in the last tile): per-tile overheads favour large tiles, the
    fill and drain small ones.  ``f`` is minimized over the integers ``t1 / 8 .. t1`` in one
    vectorized evaluation (no cost evaluation); only layers with fewer than
    :data:`PIPE_TILES` tiles are worth it.
    """
    M = stats.n_out
    cap = core.capacity("ifm", True)
    measured = _packed_tile(stats, sh, cap, T)
    t1 = min(float(T), _fill_tile(stats, sh, cap)) if measured is None else measured[0]
    if t1 < 2 or M >= PIPE_TILES * t1:
        return 0
    points = []
    for t in (t1, t1 / 2):
        prof = halo_estimate(stats, t)
        prof = TileProfile(**{**prof.__dict__, "tile_outputs": T, "inputs_max": 0, "_runs": {}})
        out = _cost_tile(stats, core, sh, s, prof, engines=True)
        if isinstance(out, Cost):
            return 0
        points.append(out)
    slope = [(x1 - x2) / (t1 / 2) for x1, x2 in zip(*points, strict=True)]
    base = [x1 - k * t1 for x1, k in zip(points[0], slope, strict=True)]

    t = np.arange(max(1, int(t1) // 8), int(t1) + 1, dtype=np.float64)
    x = [a + b * t for a, b in zip(base, slope, strict=True)]
    rem = M - np.floor(M / t) * t
    last = np.where(rem > 0, rem, t)
    f = M / t * np.maximum(np.maximum(x[0], x[1]), x[2]) + x[0] + base[2] + slope[2] * last
    best = float(t[int(np.argmin(f))])
    return int(best) if best < t1 else 0


def choose_schedule(
    plan: LayerPlan,
    cfg: ArchConfig,
    *,
    memory: MemoryTiming | None = None,
    gapless: bool | tuple[bool, bool] = True,
) -> Schedule:
    """The schedule the compiler uses for one layer: :func:`decide` on its statistics.

    Near-zero latency: the statistics are cached per kernel map (:func:`layer_stats`), the
    decision reads only them (a few closed-form cost estimates, no search).
    """
    return decide(layer_stats(plan), cfg, memory, plan.kmap, gapless)[0]
