"""Owns the cycle model of the SSpNNA core: the timing rules and an instruction-level simulator.

Event-driven at the granularity of instructions (never cycles): the fetch stream, in-order
dispatch into the three engine queues (``queue_depth`` each), the decoupled load, compute
and store engines with their token counters, and SYNC/HALT barriers.  Every cost rule lives
in :class:`Timing` (docs/architecture.md "Timing" and the latencies the RTL documents), so
that the model can be calibrated against the RTL in one place:

* **dispatch**: one instruction per cycle, in order, when it has been fetched and its
  engine's queue has room; SYNC/HALT when every earlier instruction has completed.
* **fetch**: bursts of ``max_burst_beats`` beats into a buffer of ``2 * max_burst_beats``
  beats; the first request ``fetch_start`` cycles after start, data ``mem_latency`` later, one
  beat per cycle.
* **read channel**: the fetch unit and the load engine share it, one beat per cycle, and the
  memory answers bursts in the order of their requests: a burst starts after every burst
  requested before it (of either initiator); a fetch burst placed (in program order) on load
  beats requested after it pushes them, and what the load engine has not handed on yet,
  later.
* **tokens**: a signal given at cycle ``s`` is seen by the waiting engine at ``s + 1``.
* **load engine**: accepts a LOAD when its issue slot is free and at most one earlier LOAD
  awaits data (consecutive LOADs overlap); the first burst request ``load_request`` cycles
  after the accept (later if it waits for a token or for the previous LOAD's last
  request); rows merged into one run when gapless (``ext_stride == beats * B``), runs cut into
  bursts (``max_burst_beats``, never crossing 4 KB), up to ``outstanding`` bursts in flight,
  data in order one beat per cycle ``mem_latency`` after each request; ``sn`` at the last beat
  plus ``load_signal``.
* **compute engine**: a COMPUTE is accepted when the hand-off slot is empty, at least ``R + 1``
  cycles after the previous COMPUTE's accept (weight preload) and ``G`` cycles after the last
  issue of the COMPUTE two back (its weight registers); its entries issue from one cycle after
  the streamer takes it (one cycle after the accept, or in the cycle the previous run issues
  its last entry), one per cycle; FILL (one entry per row) and NOP (one entry) need no
  preload.  Tokens are given ``4 + R + G - 1`` cycles after the last issue.
* **store engine**: CONFIG takes ``config`` cycles; a STORE reads its first row
  ``store_read`` cycles after its accept, the first write beat follows ``store_write`` cycles
  later, then one beat per cycle (``ceil(channels * bytes / B)`` per row), bursts as for
  loads, up to ``outstanding`` in flight (a burst that waits for a slot writes its first beat
  ``store_reissue`` cycles after the response that frees it); ``sp`` ``store_signal`` cycles
  after the last write response (``mem_latency`` after its last beat).

Counters as in docs/architecture.md: CYCLES, BUSY (entries issued), MEM_STALL (cycles the
compute engine waited for a load token), MACS (``pairs * R * C``), INSTRS, RD/WR bytes; PE
utilization = ``MACS / (R * C * CYCLES)``.

Two engines give the same report, cycle for cycle: the pass of :func:`_simulate` in Python
(the reference, ``engine="python"``) and the same pass compiled with numba
(:mod:`accss3d.cyclejit`, the default), about 100 times faster (0.3 s against 31 s on the
1.34M instructions of minkunet18 on ``room:0:20k``); the compiled engine leaves what it does
not run (a wait without a token, an unknown opcode) to the Python engine, which raises.

# Ref: docs/architecture.md, "Instructions and engines", "Timing", "Performance counters".
"""

from __future__ import annotations

import bisect
import functools
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .arch import ArchConfig
from .errors import ConfigError
from .isa import INSTR_BYTES, Engine, Kind, Op
from .isatable import _ENGINE_LUT, COL, engine_of, program_end

__all__ = ["Timing", "CycleReport", "simulate", "run_bursts"]

_PAGE = 4096


@dataclass(frozen=True)
class Timing:
    """Every timing constant of the cycle model (see the module docstring).

    Parameters
    ----------
    mem_latency : int
        Cycles from a read burst's request to its first data beat, and from a write burst's
        last beat to its response (the RTL testbench memory model uses the same; default 8).
    outstanding : int
        Bursts a DMA engine keeps in flight (the RTL's ``MAX_OUTSTANDING``).
    fetch_start : int
        Cycles from start to the fetch unit's first request.
    load_request : int
        Cycles from a LOAD's accept to its first burst request.
    load_signal : int
        Cycles from a LOAD's last data beat to its token (``sn``).
    issue_after_idle : int
        Cycles from a COMPUTE's accept to its first issue when the engine was idle.
    signal_after_issue : int
        Cycles from a run's last issue to its tokens, beyond ``R + G - 1`` (the array).
    store_read : int
        Cycles from a STORE's accept to its first accumulator row read.
    store_write : int
        Cycles from a row read to its first write beat (requantizer stages).
    store_signal : int
        Cycles from the last write response to ``sp``.
    store_reissue : int
        Cycles from a write response to the first beat of the burst it lets go when
        ``outstanding`` bursts were in flight (the slot frees the next cycle, the AW and the
        burst's length are registered the cycle after, the W beat follows).
    config : int
        Cycles of a CONFIG.
    token_seen : int
        Cycles from a token's signal to the waiting engine seeing it.
    """

    mem_latency: int = 8
    outstanding: int = 4
    fetch_start: int = 2
    load_request: int = 3
    load_signal: int = 2
    issue_after_idle: int = 2
    signal_after_issue: int = 4
    store_read: int = 2
    store_write: int = 7
    store_signal: int = 2
    store_reissue: int = 3
    config: int = 3
    token_seen: int = 1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"timing {name} must be a non-negative integer, not {value!r}")
        if self.outstanding < 1:
            raise ConfigError(f"timing outstanding must be at least 1, not {self.outstanding}")

    @classmethod
    def from_dict(cls, data: dict) -> Timing:
        """A Timing from a dict, rejecting unknown names in one line."""
        known = set(asdict(cls()))
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown timing parameter {unknown[0]!r} (known: {sorted(known)})")
        return cls(**data)

    # ------------------------------------------------------------------ compute
    def run_min(self, cfg: ArchConfig) -> int:
        """Shortest back-to-back run: the weight preload, ``R + 1`` cycles."""
        return cfg.pe_rows + 1

    def depth(self, cfg: ArchConfig) -> int:
        """Cycles from a run's last issue to its tokens: ``R + G - 1 + signal_after_issue``."""
        return cfg.pe_rows + cfg.groups - 1 + self.signal_after_issue

    def compute_cycles(self, pairs, cfg: ArchConfig):
        """Issue cycles of runs back to back: ``max(pairs, R + 1)``."""
        return np.maximum(pairs, self.run_min(cfg))

    # ------------------------------------------------------------------ DMA
    def dma_estimate(self, rows, row_bytes, cfg: ArchConfig):
        """Approximate cycles of DMA rows (vectorized; the compiler's ordering estimate).

        ``rows`` rows of ``ceil(row_bytes / B)`` beats; each row's bursts cost
        ``max(beats + 1, (latency + beats + 1) / outstanding)``; one latency to fill the pipe.
        """
        rows = np.asarray(rows, dtype=np.int64)
        beats = -(-np.asarray(row_bytes, dtype=np.int64) // cfg.bus_bytes)
        bursts = -(-beats // cfg.max_burst_beats)
        mean = beats / np.maximum(bursts, 1)
        per = np.maximum(mean + 1, (self.mem_latency + mean + 1) / self.outstanding)
        return rows * bursts * per + self.mem_latency


def run_bursts(addr: int, beats: int, cfg: ArchConfig) -> list[int]:
    """Beat counts of the AXI bursts of a run: at most ``max_burst_beats``, never crossing 4 KB."""
    return list(_bursts(addr % _PAGE, beats, cfg.bus_bytes, cfg.max_burst_beats))


@functools.lru_cache(maxsize=1 << 16)
def _bursts(offset: int, beats: int, B: int, max_beats: int) -> tuple[int, ...]:
    """:func:`run_bursts` of a run starting ``offset`` bytes into a 4 KB page (cached)."""
    out = []
    while beats > 0:
        room = (_PAGE - offset % _PAGE) // B
        n = min(beats, max_beats, room)
        out.append(n)
        offset += n * B
        beats -= n
    return tuple(out)


def _dma_bursts(ext, rows, nbytes, stride, cfg: ArchConfig) -> list[int]:
    """Bursts of a LOAD/STORE: gapless rows merged into one run, else one run per row."""
    B = cfg.bus_bytes
    beats = -(-nbytes // B)
    mb = cfg.max_burst_beats
    if rows == 1 or stride == beats * B:
        return list(_bursts(ext % _PAGE, rows * beats, B, mb))
    if beats <= mb and rows > 8:
        offs = (ext + stride * np.arange(rows)) % _PAGE
        if not np.any(offs + beats * B > _PAGE):  # every row is one burst
            return [beats] * rows
    out = []
    for r in range(rows):
        out += _bursts((ext + r * stride) % _PAGE, beats, B, mb)
    return out


class _Initiator:
    """One initiator's bursts on the in-order read channel: request cycles and last beats.

    Each initiator requests in order, so its bursts are appended in request order;
    :meth:`after` is the last data beat of its bursts requested before a cycle.
    """

    def __init__(self, first: bool):
        # ``first``: this initiator wins a tie (same request cycle).
        self.reqs: list[int] = []
        self.ends: list[int] = []
        self.first = first
        self.base = -1  # last beat of the bursts pruned

    def add(self, req: int, end: int) -> None:
        self.reqs.append(req)
        self.ends.append(max(end, self.ends[-1]) if self.ends else max(end, self.base))

    def after(self, req: int) -> int:
        i = (bisect.bisect_right if self.first else bisect.bisect_left)(self.reqs, req)
        return self.ends[i - 1] if i else self.base

    def prune(self, floor: int) -> None:
        """Forget the bursts requested before ``floor`` (no later query asks about them)."""
        i = bisect.bisect_left(self.reqs, floor)
        if i:
            self.base = self.ends[i - 1]
            del self.reqs[:i], self.ends[:i]


class _ReadChannel:
    """The read-data channel the fetch unit and the load engine share: one beat per cycle.

    The memory answers read bursts in the order of their requests, whichever initiator made
    them: a burst requested at ``req`` starts after the last beat of every burst of the other
    initiator requested before it (:class:`_Initiator`).  The instruction-level simulation
    places bursts in program order, not in time order, so a burst may also find cycles
    already taken by a burst placed earlier; its beats take the first free cycles from its
    earliest start (merged busy intervals), so that the channel never carries more than one
    beat per cycle.
    """

    def __init__(self):
        self.starts: list[int] = []
        self.ends: list[int] = []  # inclusive; intervals sorted, disjoint, not adjacent
        self.fetch = _Initiator(first=True)
        self.load = _Initiator(first=False)

    def take(self, earliest: int, beats: int) -> list[tuple[int, int]]:
        """Occupy the first ``beats`` free cycles from ``earliest``: the pieces taken."""
        starts, ends = self.starts, self.ends
        i = bisect.bisect_left(ends, earliest)
        t = earliest
        pieces = []
        while beats > 0:
            if i < len(starts) and starts[i] <= t:
                t = max(t, ends[i] + 1)
                i += 1
                continue
            n = beats if i == len(starts) else min(beats, starts[i] - t)
            pieces.append((t, t + n - 1))
            beats -= n
            t += n
        # [first, last] is now busy: merge it with the intervals it touches.
        self._merge(pieces[0][0], pieces[-1][1])
        return pieces

    def claim(self, first: int, last: int) -> int:
        """Occupy ``[first, last]`` whatever is there; the beats found there move after it.

        Returns how many beats were displaced.
        """
        starts, ends = self.starts, self.ends
        i = bisect.bisect_left(ends, first)
        over = 0
        while i < len(starts) and starts[i] <= last:
            over += min(last, ends[i]) - max(first, starts[i]) + 1
            i += 1
        self._merge(first, last)
        if over:
            self.take(last + 1, over)
        return over

    def _merge(self, first: int, last: int) -> None:
        starts, ends = self.starts, self.ends
        lo = bisect.bisect_left(ends, first - 1)
        hi = bisect.bisect_right(starts, last + 1)
        if lo < hi:
            first = min(first, starts[lo])
            last = max(last, ends[hi - 1])
        starts[lo:hi] = [first]
        ends[lo:hi] = [last]

    def prune(self, floor: int) -> None:
        """Forget what lies before ``floor`` (every later burst starts at or after it)."""
        if len(self.starts) > 64:
            i = bisect.bisect_left(self.ends, floor - 1)
            del self.starts[:i], self.ends[:i]
        self.fetch.prune(floor)
        self.load.prune(floor)


def _beat_cycle(pieces: list[tuple[int, int]], j: int) -> int:
    """Cycle of the ``j``-th beat (from 0) of a burst placed in ``pieces``."""
    for a, b in pieces:
        if j <= b - a:
            return a + j
        j -= b - a + 1
    return pieces[-1][1]


@dataclass(eq=False)
class CycleReport:
    """What the cycle model measured for one program."""

    cycles: int
    counters: dict
    engine_busy: dict
    bytes_by_kind: dict
    utilization: float
    layers: list = field(default_factory=list)
    trace: np.ndarray | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain-dict form (JSON), without the trace."""
        out = {
            "cycles": self.cycles,
            "utilization": self.utilization,
            "counters": self.counters,
            "engine_busy": self.engine_busy,
            "bytes_by_kind": self.bytes_by_kind,
            "layers": self.layers,
            "seconds": self.seconds,
        }
        return out


def simulate(
    code: np.ndarray,
    cfg: ArchConfig,
    timing: Timing | None = None,
    *,
    trace: bool = False,
    layers: list | None = None,
    engine: str = "jit",
) -> CycleReport:
    """Cycle-model a program (its instruction table); see :func:`_simulate`.

    One pass in program order; the fetch unit's bursts are placed on the shared read channel
    as soon as their request cycle is known (when the instruction that makes room in the
    buffer is dispatched), before the load bursts requested after them (:class:`_ReadChannel`).

    ``engine``: ``"jit"`` (default) runs the pass compiled (:mod:`accss3d.cyclejit`, the same
    cycles); ``"python"`` the reference Python pass of :func:`_simulate`.
    """
    if engine not in ("jit", "python"):
        raise ValueError(f"engine must be 'jit' or 'python', not {engine!r}")
    t0 = time.perf_counter()
    report = None
    if engine == "jit":
        report = _simulate_jit(code, cfg, timing, trace=trace, layers=layers)
    if report is None:  # the Python engine, or a program the compiled one leaves to it
        report = _simulate(code, cfg, timing, trace=trace, layers=layers)
    report.seconds = time.perf_counter() - t0
    return report


def _simulate_jit(
    code: np.ndarray,
    cfg: ArchConfig,
    timing: Timing | None = None,
    *,
    trace: bool = False,
    layers: list | None = None,
) -> CycleReport | None:
    """:func:`_simulate` compiled (:func:`accss3d.cyclejit.run`): the same report.

    Returns None for what only the Python engine handles (its errors, for one wording): an
    unknown opcode, a LOAD kind out of range, an empty DMA row, a negative field, a wait
    without a token, a STORE without a burst.
    """
    from . import cyclejit

    t0 = time.perf_counter()
    tm = timing or Timing()
    end = program_end(code)
    table = np.ascontiguousarray(np.asarray(code)[:end], dtype=np.int64)
    B, mb = cfg.bus_bytes, cfg.max_burst_beats
    params = np.array(
        [
            cfg.pe_rows,
            cfg.pe_cols,
            cfg.groups,
            B,
            mb,
            cfg.queue_depth,
            max(1, mb * B // INSTR_BYTES),
            max(1, 2 * mb * B // INSTR_BYTES),
            max(1, INSTR_BYTES // B),
            tm.depth(cfg),
            *asdict(tm).values(),
            INSTR_BYTES,
            cfg.acc_bits // 8,
            cfg.act_bits // 8,
        ],
        dtype=np.int64,
    )
    tr = np.zeros((end if trace else 0, 4), dtype=np.int64)
    dispatched_at = np.zeros(end, dtype=np.int64)
    out = np.zeros(cyclejit.N_OUT, dtype=np.int64)
    capacity = _JIT_ROOM
    while True:
        work = np.empty((cyclejit.N_WORK, capacity), dtype=np.int64)
        status, _ = cyclejit.run(table, _ENGINE_LUT, params, tr, dispatched_at, out, work)
        if status != cyclejit.FULL:
            break
        capacity *= 8  # the read channel's history did not fit: again, with more room
    if status != cyclejit.OK:
        return None
    v = [int(x) for x in out]
    counters = {
        "cycles": v[cyclejit.O_CYCLES],
        "busy": v[cyclejit.O_BUSY],
        "mem_stall": v[cyclejit.O_MEM_STALL],
        "macs": v[cyclejit.O_MACS],
        "instrs": v[cyclejit.O_INSTRS],
        "rd_bytes": v[cyclejit.O_RD],
        "wr_bytes": v[cyclejit.O_WR],
    }
    cycles = counters["cycles"]
    busy = {
        "load": v[cyclejit.O_BUSY_LOAD],
        "compute": v[cyclejit.O_BUSY_COMPUTE],
        "store": v[cyclejit.O_BUSY_STORE],
    }
    by_kind = {k.name: v[cyclejit.O_KIND + int(k)] for k in Kind}
    by_kind["OUT"] = v[cyclejit.O_KIND + len(Kind)]
    return CycleReport(
        cycles=cycles,
        counters=counters,
        engine_busy=busy,
        bytes_by_kind=by_kind,
        utilization=float(
            counters["macs"] / (cfg.pe_rows * cfg.pe_cols * cycles) if cycles else 0.0
        ),
        layers=_layer_cycles(layers, dispatched_at, cycles, end),
        trace=tr if trace else None,
        seconds=time.perf_counter() - t0,
    )


#: Entries of the compiled engine's read-channel history at first (more on demand).
_JIT_ROOM = 1 << 14


def _layer_cycles(layers: list | None, dispatched_at, cycles: int, end: int) -> list[dict]:
    """Per-layer cycles: from the dispatch of a layer's first instruction to the next's."""
    per_layer = []
    if layers:
        marks = np.append(np.asarray(dispatched_at, dtype=np.int64), cycles)
        for layer in layers:
            a, b = layer["pc"]
            if b <= end and a < b:
                per_layer.append({"name": layer["name"], "cycles": int(marks[b] - marks[a])})
    return per_layer


def _simulate(
    code: np.ndarray,
    cfg: ArchConfig,
    timing: Timing | None = None,
    *,
    trace: bool = False,
    layers: list | None = None,
) -> CycleReport:
    """Cycle-model a program (its instruction table).

    Parameters
    ----------
    code : ndarray
        The instruction table (:mod:`accss3d.isatable`); assumed legal and token-consistent
        (the loader checks both).
    cfg : ArchConfig
    timing : Timing, optional
    trace : bool
        Keep per-instruction ``(dispatch, accept, first issue/beat, done)`` cycles.
    layers : list of dict, optional
        Manifest layers (``name``, ``pc``): per-layer cycles are reported.

    Returns
    -------
    CycleReport
    """
    t0 = time.perf_counter()
    tm = timing or Timing()
    end = program_end(code)
    code = np.asarray(code)[:end]
    R, C, G, B = cfg.pe_rows, cfg.pe_cols, cfg.groups, cfg.bus_bytes
    L = tm.mem_latency
    O = tm.outstanding
    depth = tm.depth(cfg)
    Q = cfg.queue_depth
    eng = engine_of(code).tolist()
    rows = code.tolist()
    c = COL
    # Fetch: instruction n is in the buffer after its beats arrive; the buffer holds
    # ``2 * max_burst_beats`` beats, so fetching runs at most that far ahead of dispatch.
    per_burst = max(1, cfg.max_burst_beats * B // INSTR_BYTES)
    buf_instr = max(1, 2 * cfg.max_burst_beats * B // INSTR_BYTES)
    bpi = max(1, INSTR_BYTES // B)  # beats per instruction
    fetched_at: list[int] = []
    # Engine state.
    queues: list[list[int]] = [[], [], []]  # accept cycles of each engine's instructions
    tokens = {name: [] for name in ("l2c", "c2l", "c2s", "s2c")}
    used = {name: 0 for name in tokens}
    ld = {
        "slot_free": 0,
        "finish": [-(10**9), -(10**9)],
        "gen_free": 0,
        "last_req": -1,
        "data_end": -1,
        "ends": [],
    }
    store_free = 0
    comp = {
        "slot_free": 0,
        "last_accept": -(10**9),
        "last_issue": -1,
        "issues": [-(10**9), -(10**9)],
        "last_take": -1,
    }
    done_all = 0
    dispatch = -1
    busy = {"load": 0, "compute": 0, "store": 0}
    counters = {
        "cycles": 0,
        "busy": 0,
        "mem_stall": 0,
        "macs": 0,
        "instrs": 0,
        "rd_bytes": 0,
        "wr_bytes": 0,
    }
    by_kind = {k.name: 0 for k in Kind}
    by_kind["OUT"] = 0
    tr = np.zeros((end, 4), dtype=np.int64) if trace else None
    chan = _ReadChannel()
    dispatched_at: list[int] = []
    # Fetch: burst k (instructions k * per_burst on) is requested once the buffer has room,
    # i.e. once instruction ``gate(k)`` was dispatched; it is placed on the read channel as
    # soon as that is known, before the loads requested after it.
    n_bursts = -(-end // per_burst)
    fetch_pieces: dict[int, list] = {}
    fetch_state = [tm.fetch_start - 1, -1]  # last request, last beat

    def _delay_loads(first: int, over: int) -> None:
        # What the load engine has not yet handed on moves ``over`` cycles later.
        if ld["data_end"] >= first:
            ld["data_end"] += over
        ld["ends"][:] = [v + over if v >= first else v for v in ld["ends"]]
        ld["finish"][:] = [v + over if v >= first else v for v in ld["finish"]]
        toks = tokens["l2c"]
        for i in range(used["l2c"], len(toks)):
            if toks[i] >= first:
                toks[i] += over

    def fetch(k: int) -> None:
        req = fetch_state[0] + 1
        gate = (k + 1) * per_burst - buf_instr - 1
        if gate >= 0:
            req = max(req, dispatched_at[gate])
        first = max(req + L, fetch_state[1] + 1, chan.load.after(req) + 1)
        nb = min(per_burst, end - k * per_burst) * bpi
        pieces = [(first, first + nb - 1)]
        # Load beats already placed in its window were requested after it: they come later.
        over = chan.claim(first, first + nb - 1)
        if over:
            _delay_loads(first, over)
        fetch_state[0] = req
        fetch_state[1] = pieces[-1][1]
        chan.fetch.add(req, pieces[-1][1])
        fetch_pieces[k] = pieces
        counters["rd_bytes"] += min(per_burst, end - k * per_burst) * INSTR_BYTES

    def fetch_gated(n: int) -> None:
        # The burst whose gate is instruction n (its request waits for n's dispatch).
        k, r = divmod(n + buf_instr + 1, per_burst)
        if r == 0 and 0 < k <= n_bursts:
            fetch(k - 1)

    for k in range(n_bursts):
        if (k + 1) * per_burst - buf_instr - 1 >= 0:
            break
        fetch(k)
    for n in range(end):
        row = rows[n]
        op = row[0]
        if n % 256 == 0 and n:
            # Every later burst is requested after the current fetch request and after the
            # last dispatch.
            chan.prune(min(fetch_state[0], dispatched_at[-1]))
            for k in [k for k in fetch_pieces if k < n // per_burst]:
                del fetch_pieces[k]
        # In the buffer the cycle after its last beat.
        ready = _beat_cycle(fetch_pieces[n // per_burst], (n % per_burst + 1) * bpi - 1) + 1
        fetched_at.append(ready)
        e = eng[n]
        if op == Op.SYNC or op == Op.HALT:
            d = max(dispatch + 1, ready, done_all + 1)
            dispatch = d
            dispatched_at.append(d)
            fetch_gated(n)
            done_all = d
            if tr is not None:
                tr[n] = (d, d, d, d)
            continue
        q = queues[e]
        d = max(dispatch + 1, ready)
        if len(q) >= Q:
            d = max(d, q[-Q])  # a queue slot frees when the engine accepts
        dispatch = d
        dispatched_at.append(d)
        fetch_gated(n)
        counters["instrs"] += 1
        earliest = d + 1
        wait = 0
        if e == Engine.LOAD:
            # Accepted when the issue slot is free and at most one earlier LOAD still awaits
            # data (the RTL queues two); the command goes to the burst generator after the
            # token and after the previous command's bursts were all requested.
            a = max(earliest, ld["slot_free"], ld["finish"][-2] + 1)
            cmd = a + 1
            if row[c["wn"]]:
                s = tokens["c2l"][used["c2l"]] + tm.token_seen
                used["c2l"] += 1
                cmd = max(cmd, s)
            cmd = max(cmd, ld["gen_free"])
            sub = row[c["sub"]]
            nbytes = row[c["row_bytes"]]
            bursts = _dma_bursts(
                row[c["ext_addr"]], row[c["rows"]], nbytes, row[c["ext_stride"]], cfg
            )
            req = max(cmd + tm.load_request - 1, ld["last_req"] + 1) - 1
            ends = ld["ends"]
            for b in bursts:  # bursts of all LOADs in one in-order stream
                req += 1
                if len(ends) >= O:
                    req = max(req, ends[-O] + 1)
                start = max(req + L, ld["data_end"] + 1, chan.fetch.after(req) + 1)
                ld["data_end"] = chan.take(start, b)[-1][1]
                chan.load.add(req, ld["data_end"])
                ends.append(ld["data_end"])
            if len(ends) > 4 * O:
                del ends[: len(ends) - O]
            last = ld["data_end"]
            beats = sum(bursts)
            ld["last_req"] = req
            ld["gen_free"] = req + 1
            ld["slot_free"] = cmd + 1
            ld["finish"] = [ld["finish"][-1], last]
            done = last + tm.load_signal
            counters["rd_bytes"] += beats * B
            by_kind[Kind(sub).name] += row[c["rows"]] * nbytes
            busy["load"] += beats
            if row[c["sn"]]:
                tokens["l2c"].append(done)
            first_act = cmd + tm.load_request - 1
        elif e == Engine.COMPUTE:
            a = max(earliest, comp["slot_free"])
            is_compute = op == Op.COMPUTE
            if is_compute:
                a = max(a, comp["last_accept"] + R + 1, comp["issues"][0] + G)
            before = a
            if row[c["wp"]]:
                s = tokens["l2c"][used["l2c"]] + tm.token_seen
                used["l2c"] += 1
                if s > a:
                    wait = s - a
                a = max(a, s)
            if row[c["wn"]]:
                s = tokens["s2c"][used["s2c"]] + tm.token_seen
                used["s2c"] += 1
                a = max(a, s)
            counters["mem_stall"] += max(0, min(wait, a - before))
            # The streamer takes it one cycle after the accept (first issue
            # ``issue_after_idle`` after it), or as the previous run issues its last entry.
            take = max(a + tm.issue_after_idle - 1, comp["last_issue"])
            count = row[c["pairs"]] if is_compute else (row[c["rows"]] if op == Op.FILL else 1)
            first_issue = take + 1
            last_issue = first_issue + count - 1
            comp["slot_free"] = take + 1
            comp["last_issue"] = last_issue
            if is_compute:
                comp["last_accept"] = a
                comp["issues"] = [comp["issues"][1], last_issue]
                counters["busy"] += count
                counters["macs"] += count * R * C
            busy["compute"] += count
            done = last_issue + depth
            if row[c["sp"]]:
                tokens["c2l"].append(done)
            if row[c["sn"]]:
                tokens["c2s"].append(done)
            first_act = first_issue
        else:  # store engine: STORE, CONFIG
            a = max(earliest, store_free)
            if row[c["wp"]]:
                s = tokens["c2s"][used["c2s"]] + tm.token_seen
                used["c2s"] += 1
                a = max(a, s)
            if op == Op.CONFIG:
                done = a + tm.config - 1
                first_act = a
            else:
                nb = row[c["channels"]] * (
                    cfg.acc_bits // 8 if row[c["sub"]] else cfg.act_bits // 8
                )
                bursts = _dma_bursts(
                    row[c["ext_addr"]], row[c["rows"]], nb, row[c["ext_stride"]], cfg
                )
                first_act = a + tm.store_read + tm.store_write
                # Write beats stream from first_act; responses mem_latency after each burst.
                last_beat = first_act - 1
                resp = []
                for k, b in enumerate(bursts):
                    start = last_beat + 1
                    if k >= O:
                        start = max(start, resp[k - O] + tm.store_reissue)
                    last_beat = start + b - 1
                    resp.append(last_beat + L)
                done = resp[-1] + tm.store_signal
                counters["wr_bytes"] += row[c["rows"]] * nb
                by_kind["OUT"] += row[c["rows"]] * nb
            store_free = done + 1
            busy["store"] += done - a + 1
            if row[c["sp"]]:
                tokens["s2c"].append(done)
        q.append(a)
        done_all = max(done_all, done)
        if tr is not None:
            tr[n] = (d, a, first_act, done)
    cycles = max(done_all, dispatch) + 1
    counters["cycles"] = cycles
    util = counters["macs"] / (R * C * cycles) if cycles else 0.0
    per_layer = _layer_cycles(layers, dispatched_at, cycles, end)
    return CycleReport(
        cycles=int(cycles),
        counters={k: int(v) for k, v in counters.items()},
        engine_busy=busy,
        bytes_by_kind=by_kind,
        utilization=float(util),
        layers=per_layer,
        trace=tr,
        seconds=time.perf_counter() - t0,
    )
