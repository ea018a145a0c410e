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
  loads; ``sp`` ``store_signal`` cycles after the last write response (``mem_latency`` after
  its last beat).

Counters as in docs/architecture.md: CYCLES, BUSY (entries issued), MEM_STALL (cycles the
compute engine waited for a load token), MACS (``pairs * R * C``), INSTRS, RD/WR bytes; PE
utilization = ``MACS / (R * C * CYCLES)``.

# Ref: docs/architecture.md, "Instructions and engines", "Timing", "Performance counters".
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .arch import ArchConfig
from .errors import ConfigError
from .isa import INSTR_BYTES, Engine, Kind, Op
from .isatable import COL, engine_of, program_end

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
    config : int
        Cycles of a CONFIG.
    token_seen : int
        Cycles from a token's signal to the waiting engine seeing it.
    fetch_share : float
        Fraction of a concurrent fetch burst's beats a load burst waits for on the shared
        read-data channel (round-robin arbitration: about half).
    """

    mem_latency: int = 8
    outstanding: int = 4
    fetch_share: float = 0.25
    fetch_start: int = 2
    load_request: int = 3
    load_signal: int = 2
    issue_after_idle: int = 2
    signal_after_issue: int = 4
    store_read: int = 2
    store_write: int = 7
    store_signal: int = 2
    config: int = 3
    token_seen: int = 1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "fetch_share":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not (0.0 <= value <= 1.0)
                ):
                    raise ConfigError(f"timing fetch_share must be in [0, 1], not {value!r}")
                continue
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


class _ReadChannel:
    """Busy intervals of the AXI read-data channel (fetch and load share it in the RTL).

    A load burst that could start at ``t`` takes the first gap of its length at or after
    ``t`` among the fetch unit's bursts (from the previous pass of :func:`simulate`).
    """

    def __init__(self, intervals=(), share: float = 1.0):
        # ``share``: the fraction of a fetch burst a load burst yields to (the arbiter
        # alternates between the two initiators, so a load waits on average for half).
        pairs = sorted((a, max(1, round(b * share))) for a, b in intervals)
        self.starts = [a for a, _ in pairs]
        self.ends = [a + b for a, b in pairs]

    def place(self, earliest: int, beats: int) -> int:
        import bisect

        i = bisect.bisect_right(self.ends, earliest)
        t = earliest
        while i < len(self.starts) and self.starts[i] < t + beats:
            t = max(t, self.ends[i])
            i += 1
        return t


def _stream(
    bursts: list[int],
    first_request: int,
    latency: int,
    outstanding: int,
    channel: _ReadChannel | None = None,
):
    """In-order burst stream: ``(last data beat, number of beats)``.

    Requests one per cycle from ``first_request``, at most ``outstanding`` in flight (a slot
    frees when a burst's last beat arrives); data ``latency`` cycles after a request, one beat
    per cycle, in order, around the fetch unit's beats on the shared read ``channel``.
    """
    req = first_request - 1
    end = first_request + latency - 1
    ends: list[int] = []
    for k, b in enumerate(bursts):
        req += 1
        if k >= outstanding:
            req = max(req, ends[k - outstanding] + 1)
        start = max(req + latency, end + 1)
        if channel is not None:
            start = channel.place(start, b)
        end = start + b - 1
        ends.append(end)
    return end, sum(bursts)


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
    fetch_bursts: list = field(default_factory=list, repr=False)

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
) -> CycleReport:
    """Cycle-model a program (its instruction table); see :func:`_simulate`.

    The fetch unit and the load engine share the read-data channel: a first pass finds when
    the fetch unit's bursts return, a second pass lets the load bursts flow around them
    (the RTL arbitrates the two round-robin; the fetch's bursts are short and paced by
    dispatch, so the loads are the ones that wait).  On a bus as wide as an instruction the
    fetch takes one beat per instruction and the second pass changes little.
    """
    t0 = time.perf_counter()
    first = _simulate(code, cfg, timing, trace=False, layers=None, fetch_obstacles=None)
    report = _simulate(
        code, cfg, timing, trace=trace, layers=layers, fetch_obstacles=first.fetch_bursts
    )
    report.seconds = time.perf_counter() - t0
    return report


def _simulate(
    code: np.ndarray,
    cfg: ArchConfig,
    timing: Timing | None = None,
    *,
    trace: bool = False,
    layers: list | None = None,
    fetch_obstacles: list | None = None,
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
    beats_per_instr = max(1, INSTR_BYTES // B)
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
    fetch_req = tm.fetch_start - 1
    fetch_last = -1
    fetch_bursts: list[tuple[int, int]] = []
    rchan = _ReadChannel(fetch_obstacles, tm.fetch_share) if fetch_obstacles else None
    dispatched_at: list[int] = []
    for n in range(end):
        row = rows[n]
        op = row[0]
        # Fetch: the burst holding instruction n.
        if n % per_burst == 0:
            k = n // per_burst
            req = fetch_req + 1
            gate = (k + 1) * per_burst - buf_instr - 1
            if gate >= 0 and gate < len(dispatched_at):
                req = max(req, dispatched_at[gate])
            fetch_req = req
            first = max(req + L, fetch_last + 1)
            fetch_last = first + min(per_burst, end - n) * beats_per_instr - 1
            fetch_bursts.append((first, fetch_last - first + 1))
            counters["rd_bytes"] += min(per_burst, end - n) * INSTR_BYTES
            burst_first = first
        ready = burst_first + (n % per_burst + 1) * beats_per_instr
        fetched_at.append(ready)
        e = eng[n]
        if op == Op.SYNC or op == Op.HALT:
            d = max(dispatch + 1, ready, done_all + 1)
            dispatch = d
            dispatched_at.append(d)
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
                start = max(req + L, ld["data_end"] + 1)
                if rchan is not None:
                    start = rchan.place(start, b)
                ld["data_end"] = start + b - 1
                ends.append(ld["data_end"])
            if len(ends) > 4 * O:
                del ends[: len(ends) - O]
            last = ld["data_end"]
            beats = sum(bursts)
            ld["last_req"] = req
            ld["gen_free"] = req + 1
            ld["slot_free"] = cmd + 1
            ld["finish"].append(last)
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
                        start = max(start, resp[k - O] + 1)
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
    per_layer = []
    if layers:
        marks = np.array(dispatched_at + [cycles])
        for layer in layers:
            a, b = layer["pc"]
            if b <= end and a < b:
                per_layer.append({"name": layer["name"], "cycles": int(marks[b] - marks[a])})
    return CycleReport(
        cycles=int(cycles),
        counters={k: int(v) for k, v in counters.items()},
        engine_busy=busy,
        bytes_by_kind=by_kind,
        utilization=float(util),
        layers=per_layer,
        trace=tr,
        seconds=time.perf_counter() - t0,
        fetch_bursts=fetch_bursts,
    )
