"""Owns the functional simulator: a program executed on its memory image.

Sequential semantics of docs/architecture.md ("Semantics"): the instructions take effect one
after the other up to HALT.  Two engines, tested against each other and against the
one-at-a-time reference below: the compiled engine of :mod:`accss3d.funcjit` (the default,
``engine="jit"``: a loop over instructions, about 35 ns per rulebook entry), which stops at
the first violation and lets this module name it; and the vectorized numpy engine of this
module (``engine="numpy"``), which runs the instructions in *batches*, vectorized across
instructions:

* a LOAD updates L1 at once and appends the new value of every word it touched to the
  batch's *log* (word, instruction, value);
* COMPUTE, FILL and STORE are queued; at the end of the batch every word a queued
  instruction reads - its rulebook entries, input slots, weight rows, the bias - is looked up
  in the log *as of that instruction* (the last logged write before it, else the value at the
  batch start), so each one sees L1 exactly as it was at its place in the program;
* reads are grouped by *version*: the COMPUTEs of a batch that read the same rulebook run
  (address, length) with no LOAD of those words between them (:meth:`_Mem.versions`) read
  it once, at the first of them; likewise one input gather per (run, IFM base, stride,
  offset, version) and one weight tile per (address, version).  Race checks read as the
  first of a group (its knowledge is the least: engines learn in program order) and are
  overwritten after the last of it, so they are exactly as strict as per COMPUTE;
* COMPUTEs that read the same rulebook run into the same accumulator rows (the Cin tiles of
  one weight plane) are fused into one wider matrix product at the first one's place -
  unless their rows repeat or a reset, FILL or STORE of their rows comes between them (then
  each stands alone); products are computed with one batched matrix product per (run
  length, width) bucket, in float32 while no partial sum can reach 2^24 (exact), else
  float64;
* the accumulators are one event-sorted pass per batch: per row, in program order, a
  contribution adds, a ``first`` entry under ``use_first`` (or a FILL) restarts from the bias,
  a STORE reads the running value.

A batch ends at SYNC/HALT, before a PSUM load, before a LOAD of external memory that a queued
STORE writes, and when it grows large.  ``batch=False`` flushes after every instruction,
``group=False`` reads and multiplies per COMPUTE (the references the batched, grouped path
is tested against).

Checks (one-line :class:`~accss3d.errors.ProgramError` naming the instruction):

* legality before the run (:func:`accss3d.isatable.check_legal`), every rulebook entry's
  IFM word and accumulator row as it is read (``L1_RANGE``) - no access leaves its array;
* token consistency in program order (:func:`accss3d.isatable.check_tokens`);
* races (``check_races``): vector clocks from the tokens (a wait learns everything its
  signaller had completed - engines complete in order - and SYNC/HALT order everything);
  every access must be ordered after the last conflicting access of another engine to the
  same L1 word or bus word of external memory (read after write, write after read), else
  the tokens fail to guard a buffer reuse and a decoupled run could differ.

# Ref: docs/architecture.md, "Semantics" and "Legality".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from . import funcjit
from .errors import ProgramError
from .funcjit import knowledge
from .isa import Engine, Kind, Op, StoreMode
from .isatable import (
    COL,
    KIND_L1,
    mnemonic,
)
from .netgolden import tensor_sha256
from .program import Program
from .quant import Requant, wrap

__all__ = ["RunResult", "FuncSim", "run_program", "read_tensor", "accumulate", "knowledge"]

_LOAD, _COMPUTE, _STORE = int(Engine.LOAD), int(Engine.COMPUTE), int(Engine.STORE)
_MAX_BATCH_PAIRS = 1 << 18
_MAX_BATCH_LOADS = 1 << 14
_SHIFT = 20  # event position = instruction << _SHIFT | index within it
_VERSION_BLOCKS = 64  # granularity of :meth:`_Mem.versions`
_MAX_TABLE = 1 << 24  # entries of a lookup table (:meth:`_Mem.lookup`)


@dataclass(eq=False)
class RunResult:
    """What a functional run produced."""

    memory: np.ndarray
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    matches: dict[str, bool] = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def all_match(self) -> bool:
        """Every tensor with a recorded golden hash matches it."""
        return all(self.matches.values())


def read_tensor(memory: np.ndarray, entry: dict) -> np.ndarray:
    """A tensor ``(rows, channels)`` read from external memory as the manifest places it."""
    rows, ch, stride = int(entry["rows"]), int(entry["channels"]), int(entry["row_stride"])
    bpc = int(entry.get("bytes_per_channel", 1))
    addr = int(entry["addr"])
    if rows == 0:
        return np.zeros((0, ch), dtype=f"<i{bpc}")
    view = as_strided(memory[addr:], shape=(rows, ch * bpc), strides=(stride, 1))
    return np.ascontiguousarray(view).view(f"<i{bpc}").reshape(rows, ch).copy()


def _lanes_to_bytes(values: np.ndarray, nbytes: int) -> np.ndarray:
    """Little-endian ``nbytes`` per lane of int64 values: ``(..., lanes * nbytes)`` uint8."""
    v = np.ascontiguousarray(values, dtype="<i8")
    b = v.view(np.uint8).reshape(*v.shape, 8)[..., :nbytes]
    return b.reshape(*v.shape[:-1], v.shape[-1] * nbytes)


def _bytes_to_lanes(data: np.ndarray, nbytes: int, lanes: int) -> np.ndarray:
    """Inverse of :func:`_lanes_to_bytes` (sign-extended from ``8 * nbytes`` bits)."""
    data = np.asarray(data, dtype=np.uint8).reshape(-1, lanes, nbytes)
    full = np.zeros((len(data), lanes, 8), dtype=np.uint8)
    full[..., :nbytes] = data
    return wrap(full.view("<i8").reshape(len(data), lanes), 8 * nbytes)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(start, start + length)``: (values, owner index of each)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.asarray(starts, dtype=np.int64)[owner] + within, owner


def _group(keys, split=None):
    """Group equal key tuples: (group of each item, first item, last item of each group),
    groups numbered in order of their first item; ``split[i]`` starts a new group at item
    ``i`` (within its key)."""
    n = len(keys[0])
    if not n:
        z = np.zeros(0, np.int64)
        return z, z, z
    order = np.lexsort(keys[::-1])  # stable: items ascending within a key
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for k in keys:
        ks = k[order]
        new[1:] |= ks[1:] != ks[:-1]
    if split is not None:
        new |= split[order]
    starts = np.flatnonzero(new)
    first = order[starts]
    last = order[np.append(starts[1:], n) - 1]
    rank = np.argsort(first)
    renum = np.empty(len(rank), np.int64)
    renum[rank] = np.arange(len(rank))
    gid = np.empty(n, np.int64)
    gid[order] = renum[np.cumsum(new) - 1]
    return gid, first[rank], last[rank]


def accumulate(ofm, rows, prod, reset, bias, acc_bits) -> None:
    """Sequential accumulation of products into accumulator rows (in place).

    Entry ``e`` (in order) does ``ofm[rows[e]] = bias[e] + prod[e]`` when ``reset[e]``, else
    ``ofm[rows[e]] += prod[e]``, wrapped to ``acc_bits``; rows may repeat.  ``bias`` is one
    vector or one per entry.
    """
    n = len(rows)
    if not n:
        return
    pos = np.arange(n, dtype=np.int64)
    final, _ = _events(
        ofm,
        rows,
        pos,
        np.asarray(prod, np.int64),
        reset,
        np.zeros(n, bool),
        np.broadcast_to(bias, (n, ofm.shape[1])),
    )
    ofm[final[0]] = wrap(final[1], acc_bits)


def _events(ofm, rows, pos, prod, reset, read, bias):
    """Evaluate accumulator events in program order, per row.

    Each event ``e`` touches row ``rows[e]`` at position ``pos[e]``: a reset sets the row to
    ``bias[e] + prod[e]``, a contribution adds ``prod[e]``, a read (``read[e]``, prod 0)
    observes the running value.  ``bias`` is one vector per event, or ``(vectors, index
    per event)``.  Returns ``((rows touched, final values), values of the read events in
    the input order)``.

    Sums run per *segment* (``np.add.reduceat``): a segment starts at a row, at a reset and
    after a read, so a read ends one and sees its running sum (int64, wrapped by the caller:
    the same sums modulo 2^64 as one after the other).
    """
    C = ofm.shape[1]
    order = np.lexsort((pos, rows))
    r = rows[order]
    n = len(r)
    if not n:
        z = np.zeros((0, C), np.int64)
        return (r, z), z
    new_row = np.ones(n, dtype=bool)
    new_row[1:] = r[1:] != r[:-1]
    rs, rd = reset[order], read[order]
    epoch_start = new_row | rs
    seg_start = epoch_start.copy()
    seg_start[1:] |= rd[:-1]
    starts = np.flatnonzero(seg_start)
    csum = np.cumsum(np.add.reduceat(prod[order], starts, axis=0), axis=0)
    opens = epoch_start[starts]  # the segment opens an epoch
    seg_epoch = np.cumsum(opens) - 1
    first = np.flatnonzero(opens)
    before = np.zeros((len(first), C), np.int64)
    before[1:] = csum[first[1:] - 1]
    es = starts[first]  # first event of each epoch
    so = order[es]
    if isinstance(bias, tuple):  # (vectors, index of each event's)
        bias_s = bias[0][bias[1][so]]
    else:
        bias_s = bias[so]
    base = np.where(rs[es][:, None], bias_s, ofm[r[es]])
    value = base[seg_epoch] + csum - before[seg_epoch]  # at the end of each segment
    last = np.flatnonzero(np.append(new_row[starts][1:], True))  # last segment of each row
    end = np.append(starts[1:], n) - 1
    reads = np.flatnonzero(rd[end])
    reads = reads[np.argsort(order[end[reads]])]
    return (r[starts[last]], value[last]), value[reads]


class _Mem:
    """One L1 kind written by LOADs: words at the batch start, the batch's LOADs, their log.

    LOADs are queued; at the end of a batch :meth:`settle` resolves them at byte level
    (later LOADs win, bytes beyond ``row_bytes`` keep their value) into a log of the full
    value of every word each LOAD touched, which :meth:`lookup` searches.
    """

    def __init__(self, name: str, words: int, word_bytes: int):
        self.name = name
        self.words = words
        self.word_bytes = word_bytes
        self.data = np.zeros((words, word_bytes), dtype=np.uint8)
        self.lw = np.full(words, -1, dtype=np.int64)  # last LOAD writing each word
        self.cr = np.full(words, -1, dtype=np.int64)  # last COMPUTE reading it (settled)
        self.loads: list[int] = []
        self._empty_log()

    def _empty_log(self):
        self.log_key = np.zeros(0, np.int64)
        self.log_w = np.zeros(0, np.int64)
        self.log_n = np.zeros(0, np.int64)
        self.log_v = np.zeros((0, self.word_bytes), np.uint8)
        self.writers = np.zeros(0, np.int64)  # the batch's LOADs, in program order
        self.log_k = None  # index in writers of each entry's LOAD (when needed)
        self.log_dups = False  # a LOAD writes a word twice (overlapping rows)

    def settle(self, f: dict, mem: np.ndarray):
        """Resolve the queued LOADs into the log; returns (words, writer) of every entry."""
        if not self.loads:
            self._empty_log()
            return self.log_w, self.log_n
        n = np.array(self.loads, dtype=np.int64)
        self.writers = n
        wb = self.word_bytes
        rows, rb = f["rows"][n], f["row_bytes"][n]
        self.log_dups = bool(np.any((rows > 1) & (f["l1_stride"][n] < -(-rb // wb))))
        self.log_k = None
        r_idx, owner = _ranges(np.zeros(len(n), np.int64), rows)
        w0 = f["l1_addr"][n][owner] + r_idx * f["l1_stride"][n][owner]
        src0 = f["ext_addr"][n][owner] + r_idx * f["ext_stride"][n][owner]
        row_rb = rb[owner]
        k, row_of = _ranges(np.zeros(len(owner), np.int64), -(-row_rb // wb))
        w = w0[row_of] + k  # every word written, in program order per word
        who = n[owner][row_of]
        src = src0[row_of] + k * wb
        nbytes = np.minimum(wb, row_rb[row_of] - k * wb)
        partial = nbytes < wb
        logs = []
        if partial.any():
            # Words with a partial write: resolve their writes byte by byte.
            pw_set = np.unique(w[partial])
            sel = np.isin(w, pw_set)
            logs.append(self._bytes(w[sel], who[sel], src[sel], nbytes[sel], mem))
            w, who, src = w[~sel], who[~sel], src[~sel]
        if len(w):
            # In program order per word already: a stable sort by word sorts by (word, LOAD).
            order = np.argsort(w.astype(np.uint16) if self.words <= 1 << 16 else w, kind="stable")
            w, who = w[order], who[order]
            logs.append(((w << 31) | who, w, who, sliding_window_view(mem, wb)[src[order]]))
        if len(logs) == 1:
            self.log_key, self.log_w, self.log_n, self.log_v = logs[0]
        else:
            key = np.concatenate([x[0] for x in logs])
            order = np.argsort(key, kind="stable")
            self.log_key = key[order]
            self.log_w = np.concatenate([x[1] for x in logs])[order]
            self.log_n = np.concatenate([x[2] for x in logs])[order]
            self.log_v = np.concatenate([x[3] for x in logs])[order]
        self.loads = []
        return self.log_w, self.log_n

    def _bytes(self, w, who, src, nbytes, mem):
        """Full values of words after partial writes (later writes win, other bytes keep)."""
        wb = self.word_bytes
        within, of = _ranges(np.zeros(len(w), np.int64), nbytes)
        dst = w[of] * wb + within
        key = (dst << 31) | who[of]
        vals = mem[src[of] + within]
        order = np.argsort(key, kind="stable")
        key, vals = key[order], vals[order]
        pair = np.unique((w << 31) | who)
        pw, pn = pair >> 31, pair & ((1 << 31) - 1)
        qbyte = (pw * wb)[:, None] + np.arange(wb)
        i = np.searchsorted(key, (qbyte << 31) | pn[:, None], side="right") - 1
        hit = i >= 0
        hit[hit] = (key[i[hit]] >> 31) == qbyte[hit]
        values = np.where(hit, vals[np.maximum(i, 0)], self.data.reshape(-1)[qbyte])
        return pair, pw, pn, values.astype(np.uint8)

    def _writer_index(self) -> np.ndarray:
        if self.log_k is None:
            self.log_k = np.searchsorted(self.writers, self.log_n)
        return self.log_k

    def versions(self, at: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """A version of words ``lo..hi`` as of each instruction ``at`` (of this batch).

        Two instructions reading the same words get the same version only when no LOAD
        of the batch between them writes one of them, so they read the same values and
        the same last writers.  Conservative (words in blocks): a different version
        does not mean different values.
        """
        if not len(self.log_n) or not len(at):
            return np.zeros(len(at), np.int64)
        bs = -(-self.words // _VERSION_BLOCKS)
        nb = -(-self.words // bs)
        writers = self.writers
        cov = np.zeros((len(writers), nb), dtype=np.int32)
        cov[self._writer_index(), self.log_w // bs] = 1
        cum = np.zeros((len(writers) + 1, nb + 1), dtype=np.int32)
        np.cumsum(cov, axis=0, out=cov)
        np.cumsum(cov, axis=1, out=cum[1:, 1:])
        k = np.searchsorted(writers, at)  # writers before each instruction
        bl = np.clip(lo // bs, 0, nb - 1)
        bh = np.clip(hi // bs, 0, nb - 1)
        return cum[k, bh + 1] - cum[k, bl]

    def lookup(self, words: np.ndarray, at: np.ndarray):
        """Value and last writer of each word as it was when instruction ``at`` ran."""
        if not len(self.log_key):
            return self.data[words], self.lw[words]
        nw = len(self.writers)
        size = (nw + 1) * self.words
        if size <= 16 * len(words) and size <= _MAX_TABLE:
            # A table of the last log entry of every word after each writer of the batch
            # (entries of a word are in program order: later writers, later entries).
            lw, lk = self.log_w, self._writer_index()
            last = np.full((nw + 1, self.words), -1, dtype=np.int32)
            if self.log_dups:  # the last entry of each (word, LOAD)
                one = np.flatnonzero(np.append((lw[1:] != lw[:-1]) | (lk[1:] != lk[:-1]), True))
                last[lk[one] + 1, lw[one]] = one
            else:
                last[lk + 1, lw] = np.arange(len(lw), dtype=np.int32)
            np.maximum.accumulate(last, axis=0, out=last)
            i = last[np.searchsorted(self.writers, at), words]
            hit = np.flatnonzero(i >= 0)
        else:
            i = np.searchsorted(self.log_key, (words << 31) | at) - 1
            ok = i >= 0
            ok[ok] = self.log_w[i[ok]] == words[ok]
            hit = np.flatnonzero(ok)
        j = i[hit]
        miss = np.ones(len(words), bool)
        miss[hit] = False
        miss = np.flatnonzero(miss)
        values = np.empty((len(words), self.word_bytes), np.uint8)
        values[hit] = self.log_v[j]
        values[miss] = self.data[words[miss]]
        writer = np.empty(len(words), np.int64)
        writer[hit] = self.log_n[j]
        writer[miss] = self.lw[words[miss]]
        return values, writer

    def commit(self):
        """Apply the log: words and last writers as at the end of the batch."""
        if len(self.log_key):
            last = np.append(self.log_w[1:] != self.log_w[:-1], True)
            self.data[self.log_w[last]] = self.log_v[last]
            self.lw[self.log_w[last]] = self.log_n[last]
        self._empty_log()


class FuncSim:
    """Execute a :class:`~accss3d.program.Program` (see the module docstring).

    Parameters
    ----------
    program : Program
    check_races : bool
        Check that the tokens order every conflicting access (races).
    batch : bool
        Run in large batches (default) or flush after every instruction (the reference).
    group : bool
        Read each rulebook run, input gather and weight tile once per version and fuse the
        COMPUTEs of a run (default), or read and multiply per COMPUTE (the reference).
    engine : {"jit", "numpy"}
        ``"jit"`` (default): the compiled sequential engine (:mod:`accss3d.funcjit`), whose
        violations are then named by the vectorized engine; ``"numpy"``: the vectorized
        engine described above.  ``batch=False`` or ``group=False`` select ``"numpy"``.
    """

    def __init__(
        self,
        program: Program,
        *,
        check_races: bool = True,
        batch: bool = True,
        group: bool = True,
        engine: str = "jit",
    ):
        if engine not in ("jit", "numpy"):
            raise ValueError(f"engine must be 'jit' or 'numpy', not {engine!r}")
        self.p = program
        cfg = program.cfg
        self.cfg = cfg
        self.check_races = check_races
        self.batch = batch
        self.group = group
        self.engine = "jit" if (engine == "jit" and batch and group) else "numpy"
        self.R, self.C = cfg.pe_rows, cfg.pe_cols
        self.ab, self.wb, self.accb = cfg.act_bits // 8, cfg.weight_bits // 8, cfg.acc_bits // 8
        self.m = {n: _Mem(n, cfg.words(n), cfg.word_bytes(n)) for n in ("ifm", "wgt", "rbk")}
        self.m["bias"] = _Mem("bias", 1, self.C * self.accb)  # one accumulator row
        self.ofm = np.zeros((cfg.words("ofm"), self.C), dtype=np.int64)
        self.ow = np.full(cfg.words("ofm"), -1, dtype=np.int64)  # last writer of each row
        self.ow_eng = np.full(cfg.words("ofm"), _COMPUTE, dtype=np.int64)
        self.os = np.full(cfg.words("ofm"), -1, dtype=np.int64)  # last STORE reading it
        self.requant = (1, 0, 0)  # before the first CONFIG: the identity
        self._rq_cache: dict = {}
        exact32 = cfg.act_bits + cfg.weight_bits - 2 + int(np.ceil(np.log2(self.R * 64))) < 24
        self.fdt = np.float32 if exact32 else np.float64
        self.queue: list[tuple] = []  # ("c", a, b) / ("s", n, requant) / ("f", n)
        self.queued_pairs = 0
        self.queued_loads = 0
        self.pending_dram = None
        self.pending_box = [1 << 62, -1]  # bounds of the True part of pending_dram
        self.counters = {
            "instructions": {},
            "macs": 0,
            "pairs": 0,
            "rd_bytes": {k.name: 0 for k in Kind},
            "wr_bytes": 0,
            "batches": 0,
        }

    # ------------------------------------------------------------------ errors
    def _name(self, n: int) -> str:
        return mnemonic(int(self.f["op"][n]), int(self.f["sub"][n]))

    def _race(self, n, verb, obj, rel, other):
        raise ProgramError(
            f"instruction {int(n)}: {self._name(int(n))} {verb} {obj} {rel} instruction "
            f"{int(other)} ({self._name(int(other))}) with no token ordering them (race)"
        )

    def _check(self, bad, who, verb, objs, rel, other):
        """Raise for the first (in program order) True of ``bad`` (``who``: instructions)."""
        if bad.any():
            cand = np.flatnonzero(bad)
            i = cand[np.argmin(who[cand])] if np.ndim(who) else cand[0]
            self._race(who[i] if np.ndim(who) else who, verb, objs(i), rel, other[i])

    # ------------------------------------------------------------------ run
    def run(self) -> RunResult:
        """Execute the program; raise :class:`ProgramError` on any violation."""
        t0 = time.perf_counter()
        p = self.p
        table = p.code
        end = p.check()
        self.f = {name: table[:end, col] for name, col in COL.items()}
        self.mem = p.memory()
        if self.engine == "jit":
            return self._run_jit(end, t0)
        self.K = knowledge(table, end) if self.check_races else None
        self._start_dram()
        ops = self.f["op"]
        counts = np.bincount(ops, minlength=256)
        self.counters["instructions"] = {op.name: int(counts[op]) for op in Op if counts[op]}
        other = np.flatnonzero(ops != int(Op.COMPUTE))
        pairs = np.concatenate([[0], np.cumsum(self.f["pairs"] * (ops == int(Op.COMPUTE)))])
        lo, hi = self._bus_span(other)
        prev = -1
        for i, op, sub, lo_i, hi_i in zip(
            other.tolist(),
            ops[other].tolist(),
            self.f["sub"][other].tolist(),
            lo.tolist(),
            hi.tolist(),
            strict=True,
        ):
            if i > prev + 1:
                if self.batch:
                    self.queue.append(("c", prev + 1, i))
                else:  # the reference: one COMPUTE at a time
                    for k in range(prev + 1, i):
                        self.queue.append(("c", k, k + 1))
                        self._flush()
                self.queued_pairs += int(pairs[i] - pairs[prev + 1])
            prev = i
            self._issue(i, op, sub, lo_i, hi_i)
            if (
                not self.batch
                or self.queued_pairs > _MAX_BATCH_PAIRS
                or (self.queued_loads > _MAX_BATCH_LOADS)
            ):
                self._flush()
        self._flush()
        return self._result(t0)

    def _start_dram(self):
        B = self.cfg.bus_bytes
        self.pending_dram = np.zeros(self.mem.size // B + 1, dtype=bool)
        if self.check_races:
            self.dram_w = np.full(self.mem.size // B + 1, -1, dtype=np.int64)
            self.dram_r = np.full(self.mem.size // B + 1, -1, dtype=np.int64)

    def _bus_span(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """External bus-word interval each LOAD/STORE ``idx`` touches (a conservative hazard
        check)."""
        f, B = self.f, self.cfg.bus_bytes
        per = np.where(f["sub"][idx] == int(StoreMode.RAW), self.accb, self.ab)
        nbytes = np.where(
            f["op"][idx] == int(Op.LOAD), f["row_bytes"][idx], f["channels"][idx] * per
        )
        lo = f["ext_addr"][idx] // B
        hi = (
            f["ext_addr"][idx]
            + np.maximum(f["rows"][idx] - 1, 0) * f["ext_stride"][idx]
            + nbytes
            - 1
        ) // B
        return lo, hi

    def _issue(self, i: int, op: int, sub: int, lo_i: int, hi_i: int):
        """Queue (or run) instruction ``i``, not a COMPUTE; ``lo_i..hi_i``: its bus words."""
        if op == Op.LOAD:
            box = self.pending_box  # bus words of the queued STOREs: a quick test first
            if (
                lo_i <= box[1] and hi_i >= box[0] and self.pending_dram[lo_i : hi_i + 1].any()
            ):  # reads what a queued STORE writes
                self._flush()
            if sub == Kind.PSUM:
                self._flush()
                self._load_psum(i)
            else:
                self.m["bias" if sub == Kind.BIAS else KIND_L1[Kind(sub)]].loads.append(i)
                self.queued_loads += 1
        elif op == Op.STORE:
            self.queue.append(("s", i, self.requant))
            self.pending_dram[lo_i : hi_i + 1] = True
            box = self.pending_box
            box[0], box[1] = min(box[0], lo_i), max(box[1], hi_i)
        elif op == Op.FILL:
            self.queue.append(("f", i))
        elif op == Op.CONFIG:
            self.requant = (
                int(self.f["multiplier"][i]),
                int(self.f["shift"][i]),
                int(self.f["relu"][i]),
            )
        elif op in (Op.SYNC, Op.HALT):
            self._flush()

    def _resume(self, state: dict, mem: np.ndarray, n: int, end: int, K) -> None:
        """Execute instruction ``n`` alone from the state the compiled engine reached just
        before it (:func:`accss3d.funcjit.execute`: the same state as this engine's there)."""
        p = self.p
        self.f = {name: p.code[:end, col] for name, col in COL.items()}
        self.mem, self.K = mem, K
        for name, m in self.m.items():
            data, lw, cr = state[name]
            m.data[...] = data.reshape(m.data.shape)
            m.lw[...], m.cr[...] = lw, cr
        ofm, ow, oweng, os_ = state["ofm"]
        self.ofm[...], self.ow[...], self.ow_eng[...], self.os[...] = ofm, ow, oweng, os_
        self._start_dram()
        if self.check_races:
            size = len(self.dram_w)
            self.dram_w[...], self.dram_r[...] = (a[:size] for a in state["dram"])
        self.requant = state["requant"]
        op = int(self.f["op"][n])
        if op == Op.COMPUTE:
            self.queue.append(("c", n, n + 1))
        else:
            lo, hi = self._bus_span(np.array([n]))
            self._issue(n, op, int(self.f["sub"][n]), int(lo[0]), int(hi[0]))
        self._flush()

    def _result(self, t0: float) -> RunResult:
        result = RunResult(self.mem, counters=self.counters)
        for name, entry in self.p.manifest.get("tensors", {}).items():
            out = read_tensor(self.mem, entry)
            result.outputs[name] = out
            if "golden_sha256" in entry:
                result.matches[name] = tensor_sha256(out) == entry["golden_sha256"]
        result.seconds = time.perf_counter() - t0
        return result

    def _run_jit(self, end: int, t0: float) -> RunResult:
        """The compiled engine.  A violation at instruction ``n`` is named as the
        one-instruction-at-a-time reference names it: the compiled engine runs again up to
        ``n`` (no violation before it), and the vectorized engine executes ``n`` alone from
        that state - the same state as its own there, so the same message, at the cost of
        two compiled passes, not a vectorized run of the whole program."""
        p = self.p
        K = knowledge(p.code, end) if self.check_races else None
        status, n, counters, _ = funcjit.execute(p, self.mem, end, K, self.check_races)
        if status != funcjit.OK:
            # Name it as the one-at-a-time reference does: the state just before ``n``
            # (compiled again), then ``n`` alone on the vectorized engine.
            mem = p.memory()
            status, _, _, state = funcjit.execute(p, mem, n, K, self.check_races)
            sim = FuncSim(p, check_races=self.check_races, engine="numpy", batch=False)
            if status == funcjit.OK:
                sim._resume(state, mem, n, end, K)
            raise RuntimeError(  # pragma: no cover - the engines disagree: a simulator bug
                f"instruction {n}: the compiled engine finds a violation the vectorized "
                f"engine does not (please report)"
            )
        ops = self.f["op"]
        counts = np.bincount(ops, minlength=256)
        self.counters.update(counters)
        self.counters["instructions"] = {op.name: int(counts[op]) for op in Op if counts[op]}
        return self._result(t0)

    # ------------------------------------------------------------------ LOAD
    def _settle_loads(self):
        """Resolve the batch's queued LOADs; check them against external memory and earlier
        readers; count their bytes."""
        f, K, B = self.f, self.K, self.cfg.bus_bytes
        for m in self.m.values():
            if m.loads and self.check_races:
                n = np.array(m.loads, dtype=np.int64)
                rows, rb = f["rows"][n], f["row_bytes"][n]
                r_idx, owner = _ranges(np.zeros(len(n), np.int64), rows)
                start = f["ext_addr"][n][owner] + r_idx * f["ext_stride"][n][owner]
                beats = -(-rb[owner] // B)
                bus, row_of = _ranges(start // B, beats)
                who = n[owner][row_of]
                w = self.dram_w[bus]
                self._check(
                    w > K[who, _STORE],
                    who,
                    "reads",
                    lambda i, bus=bus: f"external bus word {int(bus[i])}",
                    "written by",
                    w,
                )
                np.maximum.at(self.dram_r, bus, who)
            if m.loads:
                ld = np.array(m.loads, dtype=np.int64)
                subs = f["sub"][ld]
                nbytes = np.bincount(subs, weights=f["rows"][ld] * f["row_bytes"][ld])
                for sub in np.flatnonzero(nbytes).tolist():
                    self.counters["rd_bytes"][Kind(sub).name] += int(nbytes[sub])
            words, who = m.settle(f, self.mem)
            if self.check_races and len(words):
                cr = m.cr[words]
                self._check(
                    cr > K[who, _COMPUTE],
                    who,
                    "overwrites",
                    lambda i, m=m, words=words: f"{m.name.upper()} word {int(words[i])}",
                    "read by",
                    cr,
                )
        self.queued_loads = 0

    def _load_psum(self, n):
        f = self.f
        rows, rb = int(f["rows"][n]), int(f["row_bytes"][n])
        l1, ls = int(f["l1_addr"][n]), int(f["l1_stride"][n])
        ea, es = int(f["ext_addr"][n]), int(f["ext_stride"][n])
        self.counters["rd_bytes"]["PSUM"] += rows * rb
        B = self.cfg.bus_bytes
        starts = ea + es * np.arange(rows)
        if self.check_races:
            bus = (starts[:, None] // B + np.arange(-(-rb // B))).ravel()
            w = self.dram_w[bus]
            self._check(
                w > self.K[n, _STORE],
                n,
                "reads",
                lambda i: f"external bus word {int(bus[i])}",
                "written by",
                w,
            )
            np.maximum.at(self.dram_r, bus, n)
        src = self.mem[starts[:, None] + np.arange(rb)]
        word = self.C * self.accb
        nw = -(-rb // word)
        words = (l1 + ls * np.arange(rows)[:, None] + np.arange(nw)).ravel()
        if self.check_races:
            K = self.K
            who = np.full(len(words), n)
            ow, eng = self.ow[words], self.ow_eng[words]
            self._check(
                (ow > K[n, eng]) & (eng != _LOAD),
                who,
                "overwrites",
                lambda i: f"OFM row {int(words[i])}",
                "written by",
                ow,
            )
            os_ = self.os[words]
            self._check(
                os_ > K[n, _STORE],
                who,
                "overwrites",
                lambda i: f"OFM row {int(words[i])}",
                "read by",
                os_,
            )
            self.ow[words] = n
            self.ow_eng[words] = _LOAD
        lo, hi = int(words.min()), int(words.max()) + 1
        data = _lanes_to_bytes(self.ofm[lo:hi], self.accb).ravel()
        dst = as_strided(data[(l1 - lo) * word :], shape=(rows, rb), strides=(ls * word, 1))
        dst[...] = src
        self.ofm[lo:hi] = _bytes_to_lanes(data, self.accb, self.C)

    # ------------------------------------------------------------------ batches
    def _flush(self):
        if self.queue or self.queued_loads:
            self._settle_loads()
        if self.queue:
            self.counters["batches"] += 1
            self._run_batch()
        self.queue, self.queued_pairs = [], 0
        for m in self.m.values():
            m.commit()
        self.pending_dram[:] = False
        self.pending_box = [1 << 62, -1]

    def _run_batch(self):
        if self.group:
            return self._run_batch_grouped()
        f, R, C = self.f, self.R, self.C
        comp = [(q[1], q[2]) for q in self.queue if q[0] == "c"]
        ns = np.concatenate([np.arange(a, b) for a, b in comp]) if comp else np.zeros(0, np.int64)
        # Rulebook entries of every COMPUTE, as of that COMPUTE.
        pairs = f["pairs"][ns]
        rword, seg = _ranges(f["rbk_addr"][ns], pairs)
        nseg = ns[seg]
        rb = self.m["rbk"]
        ent_b, ent_w = rb.lookup(rword, nseg)
        ent = ent_b.view("<u4").reshape(-1).astype(np.int64)
        self._ent = ent
        slot = ent & 0xFFFF
        orow = (ent >> 16) & 0x7FFF
        first = (ent >> 31) & 1
        idx = f["ifm_base"][nseg] + slot * f["ifm_stride"][nseg] + f["ifm_offset"][nseg]
        rows = f["ofm_base"][nseg] + orow
        for arr, limit, what in (
            (idx, self.m["ifm"].words, "IFM word"),
            (rows, len(self.ofm), "accumulator row"),
        ):
            bad = arr >= limit
            if bad.any():
                e = int(np.argmax(bad))
                n = int(nseg[e])
                k = int(rword[e] - f["rbk_addr"][n])
                raise ProgramError(
                    f"instruction {n}: COMPUTE entry {k} (RBK word {int(rword[e])}) names {what} "
                    f"{int(arr[e])}, beyond the {limit} in L1 (L1_RANGE)"
                )
        reset = (f["use_first"][nseg] != 0) & (first != 0)
        # Weight rows and input slots, as of each COMPUTE.
        wwords = (f["wgt_addr"][ns][:, None] + np.arange(R)).ravel()
        wwho = np.repeat(ns, R)
        w_b, w_w = self.m["wgt"].lookup(wwords, wwho)
        x_b, x_w = self.m["ifm"].lookup(idx, nseg)
        bias_need = np.flatnonzero(reset)
        b_b, b_w = self.m["bias"].lookup(np.zeros(len(bias_need), np.int64), nseg[bias_need])
        if self.check_races:
            self._raw_reads(
                [
                    (ent_w, nseg, "RBK word", rword),
                    (x_w, nseg, "IFM word", idx),
                    (w_w, wwho, "WGT word", wwords),
                    (b_w, nseg[bias_need], "the bias", None),
                ]
            )
            self._war_reads(
                [
                    (self.m["rbk"], rword, nseg),
                    (self.m["ifm"], idx, nseg),
                    (self.m["wgt"], wwords, wwho),
                    (self.m["bias"], *self._bias_readers(nseg[bias_need])),
                ]
            )
        # Products: fuse the COMPUTEs that share a rulebook run and accumulator rows.
        prod, keep = self._products(ns, pairs, seg, ent, x_b, w_b, rows, reset)
        self.counters["macs"] += len(seg) * R * C
        self.counters["pairs"] += len(seg)
        # Accumulator events: contributions, FILL resets, STORE reads.
        bias_e = np.zeros((len(seg), C), dtype=np.int64)
        bias_e[bias_need] = _bytes_to_lanes(b_b, self.accb, C)
        epos0 = (nseg << _SHIFT) | (rword - f["rbk_addr"][nseg])
        ev_rows, ev_pos, ev_prod, ev_reset, ev_read, ev_bias, ev_who = (
            [rows[keep]], [epos0[keep]], [prod[keep]], [reset[keep]],
            [np.zeros(int(keep.sum()), bool)], [bias_e[keep]], [nseg[keep]],
        )  # fmt: skip
        stores = []
        for q, rr in self._fill_store_rows():
            n, cnt = q[1], len(rr)
            ev_rows.append(rr)
            ev_pos.append(np.full(cnt, n << _SHIFT))
            ev_prod.append(np.zeros((cnt, C), np.int64))
            ev_who.append(np.full(cnt, n))
            if q[0] == "f":
                bv, bw = self.m["bias"].lookup(np.zeros(1, np.int64), np.array([n]))
                if self.check_races and bw[0] > self.K[n, _LOAD]:
                    self._race(n, "reads", "the bias", "written by", bw[0])
                ev_reset.append(np.ones(cnt, bool))
                ev_read.append(np.zeros(cnt, bool))
                ev_bias.append(np.repeat(_bytes_to_lanes(bv, self.accb, C), cnt, axis=0))
            else:
                ev_reset.append(np.zeros(cnt, bool))
                ev_read.append(np.ones(cnt, bool))
                ev_bias.append(np.zeros((cnt, C), np.int64))
                stores.append((q, sum(x[2] for x in stores), cnt))
        erow = np.concatenate(ev_rows)
        epos = np.concatenate(ev_pos)
        ereset = np.concatenate(ev_reset)
        eread = np.concatenate(ev_read)
        ewho = np.concatenate(ev_who)
        if self.check_races:
            self._ofm_races(
                np.concatenate([rows, erow[len(ev_rows[0]) :]]),
                np.concatenate([epos0, epos[len(ev_rows[0]) :]]),
                np.concatenate([np.zeros(len(rows), bool), eread[len(ev_rows[0]) :]]),
                np.concatenate([nseg, ewho[len(ev_rows[0]) :]]),
            )
        (frows, fvals), values = _events(
            self.ofm, erow, epos, np.concatenate(ev_prod), ereset, eread,
            np.concatenate(ev_bias),
        )  # fmt: skip
        self.ofm[frows] = wrap(fvals, self.cfg.acc_bits)
        values = wrap(values, self.cfg.acc_bits)
        for q, at, cnt in stores:
            self._store(q[1], q[2], values[at : at + cnt])

    def _products(self, ns, pairs, seg, ent, x_b, w_b, rows, reset):
        """Products of every entry, and which entries carry them.

        COMPUTEs that read the same rulebook run into the same accumulator rows (the Cin
        tiles of a weight plane) are fused: one product ``[x_1 .. x_m] @ [W_1; ..; W_m]`` on
        the first one's entries - exact when nothing else touches those rows between the
        first and the last of them (checked; otherwise every COMPUTE stands alone).
        """
        R, C = self.R, self.C
        E = len(seg)
        if not E:
            return np.zeros((0, C), np.int64), np.zeros(0, bool)
        starts = np.cumsum(pairs) - pairs
        group = self._fusion_groups(ns, pairs, seg, ent, starts)
        if group is not None and not self._fusion_ok(ns, group, seg, rows, starts):
            group = None
        if group is None:
            group = np.arange(len(ns))
        xv = x_b.view(f"<i{self.ab}").reshape(E, R)
        wv = w_b.view(f"<i{self.wb}").reshape(len(ns), R, C)
        prod = np.zeros((E, C), dtype=np.int64)
        members = np.bincount(group)
        by_group = np.argsort(group, kind="stable")  # positions in ns, grouped, in order
        first_of = np.concatenate([[0], np.cumsum(members)])[:-1]
        leader = by_group[first_of]
        gp = pairs[leader]
        bucket = np.ceil(np.log2(gp)).astype(np.int64)
        for m_count in np.unique(members).tolist():
            for b in np.unique(bucket[members == m_count]).tolist():
                sel = np.flatnonzero((members == m_count) & (bucket == b))
                width = 1 << b
                lane = np.arange(width)
                mpos = by_group[first_of[sel][:, None] + np.arange(m_count)]  # (G, m)
                take = starts[mpos][:, :, None] + np.minimum(lane, gp[sel][:, None, None] - 1)
                x = xv[take].astype(self.fdt).transpose(0, 2, 1, 3)
                x = x.reshape(len(sel), width, m_count * R)
                w = wv[mpos].astype(self.fdt).reshape(len(sel), m_count * R, C)
                out = np.matmul(x, w)
                valid = lane < gp[sel][:, None]
                prod[take[:, 0, :][valid]] = out[valid].astype(np.int64)
        is_leader = np.zeros(len(ns), bool)
        is_leader[leader] = True
        return prod, is_leader[seg]

    def _fusion_groups(self, ns, pairs, seg, ent, starts):
        """Group COMPUTEs by (run entries, length, accumulator base); a ``use_first`` one
        starts a new group.  None when nothing would fuse."""
        f = self.f
        E = len(seg)
        within = np.arange(E) - starts[seg]
        coef = np.random.default_rng(7).integers(1, 1 << 31, size=(2, int(pairs.max())))
        low = (ent & 0x7FFFFFFF) + 1
        h = [np.add.reduceat(low * coef[k][within] % ((1 << 31) - 1), starts) for k in range(2)]
        key = np.stack([h[0], h[1], pairs, f["ofm_base"][ns]], axis=1)
        _, gid = np.unique(key, axis=0, return_inverse=True)
        gid = gid.reshape(-1)
        if len(np.unique(gid)) == len(ns):
            return None
        order = np.lexsort((ns, gid))
        g_s = gid[order]
        new = np.ones(len(ns), bool)
        new[1:] = g_s[1:] != g_s[:-1]
        new |= f["use_first"][ns][order] != 0
        group = np.empty(len(ns), np.int64)
        group[order] = np.cumsum(new) - 1
        return group

    def _fusion_ok(self, ns, group, seg, rows, starts):
        """Fusing moves a group's later COMPUTEs onto its first one's position: exact unless
        a reset (``first`` under ``use_first``, FILL) or a STORE reads one of its rows in
        between, or a row repeats within the fused run."""
        members = np.bincount(group)
        eg = group[seg]
        multi = members[eg] > 1
        if not multi.any():
            return True
        f = self.f
        pos = (ns[seg] << _SHIFT) | (np.arange(len(seg)) - starts[seg])
        within = np.arange(len(seg)) - starts[seg]
        # Last member of each group: its position of each entry index.
        last_member = np.zeros(len(members), np.int64)
        np.maximum.at(last_member, group, ns)
        # Barriers: resets of single COMPUTEs (leaders' own resets sit at their position),
        # FILL rows and STORE reads.
        first = ((self._ent >> 31) & 1).astype(bool) & (f["use_first"][ns[seg]] != 0)
        b_rows, b_pos = [rows[first]], [pos[first]]
        for q, rr in self._fill_store_rows():
            b_rows.append(rr)
            b_pos.append(np.full(len(rr), q[1] << _SHIFT))
        first_ns = np.full(len(members), np.iinfo(np.int64).max)
        np.minimum.at(first_ns, group, ns)
        is_first_member = ns[seg] == first_ns[eg]
        sel = multi & is_first_member
        r = rows[sel]
        b_pos_all = np.concatenate(b_pos)
        hi_pos = (last_member[eg[sel]] << _SHIFT) | within[sel]
        # (row, position) keys: the row stride exceeds every position (absolute instruction
        # indices of programs with millions of instructions need more than 2^40).
        stride = 1 + max(
            int(pos.max(initial=0)), int(b_pos_all.max(initial=0)), int(hi_pos.max(initial=0))
        )
        bkey = np.sort(np.concatenate(b_rows) * stride + b_pos_all)
        lo = r * stride + pos[sel]
        hi = r * stride + hi_pos
        between = np.searchsorted(bkey, hi) - np.searchsorted(bkey, lo, side="right")
        if (between > 0).any():
            return False
        # Rows distinct within each fused run.
        key = eg[sel] * (len(self.ofm) + 1) + r
        return len(np.unique(key)) == len(key)

    def _fill_store_rows(self):
        """(queue entry, accumulator rows) of the queued FILLs and STOREs, in order."""
        f = self.f
        for q in self.queue:
            if q[0] != "c":
                r0 = int(f["ofm_row"][q[1]])
                yield q, np.arange(r0, r0 + int(f["rows"][q[1]]))

    def _run_batch_grouped(self):
        """:meth:`_run_batch` reading each rulebook run, input gather and weight tile once
        per version (the COMPUTEs that read it with no LOAD of it between them), fusing
        the COMPUTEs of one run into the same accumulator rows."""
        f, R, C = self.f, self.R, self.C
        comp = [(q[1], q[2]) for q in self.queue if q[0] == "c"]
        ns = np.concatenate([np.arange(a, b) for a, b in comp]) if comp else np.zeros(0, np.int64)
        rb, im, wm, bm_ = self.m["rbk"], self.m["ifm"], self.m["wgt"], self.m["bias"]
        pairs = f["pairs"][ns]
        self.counters["macs"] += int(pairs.sum()) * R * C
        self.counters["pairs"] += int(pairs.sum())
        # Rulebook runs: one lookup per (address, length, version).
        ra = f["rbk_addr"][ns]
        gid, glead, glast = _group((ra, pairs, rb.versions(ns, ra, ra + pairs - 1)))
        gp = pairs[glead]
        gstart = np.cumsum(gp) - gp
        rword, gseg = _ranges(ra[glead], gp)
        ent_b, ent_w = rb.lookup(rword, ns[glead][gseg])
        ent = ent_b.view("<u4").reshape(-1).astype(np.int64)
        slot = ent & 0xFFFF
        orow = (ent >> 16) & 0x7FFF
        first = (ent >> 31) & 1
        ib, ist, io = f["ifm_base"][ns], f["ifm_stride"][ns], f["ifm_offset"][ns]
        ob, uf = f["ofm_base"][ns], f["use_first"][ns] != 0
        if len(ns):
            smin = np.minimum.reduceat(slot, gstart)
            smax = np.maximum.reduceat(slot, gstart)
            omax = np.maximum.reduceat(orow, gstart)
            has_first = np.maximum.reduceat(first, gstart) != 0
        else:
            smin = smax = omax = np.zeros(0, np.int64)
            has_first = np.zeros(0, bool)
        # Input gathers: one lookup per (run, base, stride, offset, version).
        xlo, xhi = ib + io + smin[gid] * ist, ib + io + smax[gid] * ist
        xid, xlead, xlast = _group((gid, ib, ist, io, im.versions(ns, xlo, xhi)))
        xg = gid[xlead]
        xp = gp[xg]
        xstart = np.cumsum(xp) - xp
        xe, xseg = _ranges(gstart[xg], xp)  # entry (of its run) of every gathered input
        xl = xlead[xseg]
        idx = ib[xl] + slot[xe] * ist[xl] + io[xl]
        bad = idx >= im.words
        if bad.any():
            e = int(np.argmax(bad))
            n, k = int(ns[xl[e]]), int(xe[e] - gstart[xg[xseg[e]]])
            raise ProgramError(
                f"instruction {n}: COMPUTE entry {k} (RBK word {int(ra[xl[e]]) + k}) names "
                f"IFM word {int(idx[e])}, beyond the {im.words} in L1 (L1_RANGE)"
            )
        bad = ob + omax[gid] >= len(self.ofm)
        if bad.any():
            m = int(np.argmax(bad))
            g = gid[m]
            rows_m = ob[m] + orow[gstart[g] : gstart[g] + gp[g]]
            k = int(np.argmax(rows_m >= len(self.ofm)))
            raise ProgramError(
                f"instruction {int(ns[m])}: COMPUTE entry {k} (RBK word {int(ra[m]) + k}) names "
                f"accumulator row {int(rows_m[k])}, beyond the {len(self.ofm)} in L1 (L1_RANGE)"
            )
        # Weight tiles: one lookup per (address, version).
        wa = f["wgt_addr"][ns]
        wid, wlead, wlast = _group((wa, wm.versions(ns, wa, wa + R - 1)))
        wwords = (wa[wlead][:, None] + np.arange(R)).ravel()
        w_b, w_w = wm.lookup(wwords, np.repeat(ns[wlead], R))
        x_b, x_w = im.lookup(idx, ns[xl])
        # The bias, for every COMPUTE with resets.
        breset = uf & has_first[gid]
        bmem = np.flatnonzero(breset)
        b_b, b_w = bm_.lookup(np.zeros(len(bmem), np.int64), ns[bmem])
        if self.check_races:
            self._raw_reads(
                [
                    (ent_w, ns[glead][gseg], "RBK word", rword),
                    (x_w, ns[xl], "IFM word", idx),
                    (w_w, np.repeat(ns[wlead], R), "WGT word", wwords),
                    (b_w, ns[bmem], "the bias", None),
                ]
            )
            self._war_reads(
                [
                    (rb, rword, ns[glast][gseg]),
                    (im, idx, ns[xlast][xseg]),
                    (wm, wwords, np.repeat(ns[wlast], R)),
                    (bm_, *self._bias_readers(ns[bmem])),
                ]
            )
        n0 = int(self.queue[0][1])  # positions relative to the batch's first instruction
        # Fusion: the COMPUTEs of one run into the same accumulator rows, a new group at
        # each use_first one; one whose rows repeat, or that a reset, FILL or STORE of its
        # rows interleaves, falls back to one group per COMPUTE.
        fid, flead, flast = _group((gid, ob), uf)
        nf = len(flead)
        members = np.bincount(fid, minlength=nf)
        multi = members > 1
        if multi.any():
            fbad = self._fusion_bad(
                n0, ns, gid, gstart, gp, orow, first, ob, breset, flead, flast, multi
            )
            if fbad.any():
                solo = fbad[fid]
                fid = np.where(solo, nf + np.arange(len(ns)), fid)
                fid, flead, flast = _group((fid,))
                nf = len(flead)
                members = np.bincount(fid, minlength=nf)
        # Products of every fused group: [x_1 .. x_m] @ [W_1; ..; W_m] on its run's entries.
        fg = gid[flead]
        fp = gp[fg]
        fstart = np.cumsum(fp) - fp
        E = int(fp.sum())
        prod = np.zeros((E, C), dtype=np.int64)
        xv = x_b.view(f"<i{self.ab}").reshape(len(idx), R)
        wv = w_b.view(f"<i{self.wb}").reshape(len(wlead), R, C)
        by_f = np.lexsort((np.arange(len(ns)), fid))  # members grouped, in program order
        mfirst = np.cumsum(members) - members
        bucket = np.ceil(np.log2(np.maximum(fp, 1))).astype(np.int64)
        for m_count in np.unique(members).tolist():
            for b in np.unique(bucket[members == m_count]).tolist():
                sel = np.flatnonzero((members == m_count) & (bucket == b))
                width = 1 << b
                lane = np.arange(width)
                mpos = by_f[mfirst[sel][:, None] + np.arange(m_count)]  # (G, m) members
                clip = np.minimum(lane, fp[sel][:, None] - 1)  # (G, width)
                take = xstart[xid[mpos]][:, None, :] + clip[:, :, None]  # (G, width, m)
                # Exact in float32 while no partial sum can reach 2^24.
                bits = self.cfg.act_bits + self.cfg.weight_bits - 2
                fdt = np.float32 if (m_count * R) << bits <= 1 << 24 else np.float64
                x = xv[take].astype(fdt).reshape(len(sel), width, m_count * R)
                w = wv[wid[mpos]].astype(fdt).reshape(len(sel), m_count * R, C)
                out = np.matmul(x, w)
                valid = lane < fp[sel][:, None]
                prod[(fstart[sel][:, None] + clip)[valid]] = out[valid].astype(np.int64)
        # Accumulator events: fused contributions, FILL resets, STORE reads.
        fe, fseg = _ranges(gstart[fg], fp)  # entry of its run, per fused contribution
        k = fe - gstart[fg][fseg]
        lead_n = ns[flead][fseg]
        c_rows = ob[flead][fseg] + orow[fe]
        c_pos = ((lead_n - n0) << _SHIFT) | k
        c_reset = uf[flead][fseg] & (first[fe] != 0)
        bias_tab = [np.zeros((1, C), np.int64)]
        bias_of = np.zeros(len(ns), np.int64)
        if len(bmem):
            bias_tab.append(_bytes_to_lanes(b_b, self.accb, C))
            bias_of[bmem] = 1 + np.arange(len(bmem))
        c_bias = np.where(c_reset, bias_of[flead][fseg], 0)
        ev = [(c_rows, c_pos, np.zeros(E, bool), c_reset, c_bias, lead_n, ns[flast][fseg])]
        stores = []
        at = 0  # index among the read events
        nb = 1 + len(bmem)
        for q, rr in self._fill_store_rows():
            n, cnt = q[1], len(rr)
            pos = np.full(cnt, (n - n0) << _SHIFT)
            who = np.full(cnt, n)
            if q[0] == "f":
                bv, bw = bm_.lookup(np.zeros(1, np.int64), np.array([n]))
                if self.check_races and bw[0] > self.K[n, _LOAD]:
                    self._race(n, "reads", "the bias", "written by", bw[0])
                bias_tab.append(_bytes_to_lanes(bv, self.accb, C))
                ev.append(
                    (rr, pos, np.zeros(cnt, bool), np.ones(cnt, bool), np.full(cnt, nb), who, who)
                )
                nb += 1
            else:
                ev.append(
                    (
                        rr,
                        pos,
                        np.ones(cnt, bool),
                        np.zeros(cnt, bool),
                        np.zeros(cnt, np.int64),
                        who,
                        who,
                    )
                )
                stores.append((q, at, cnt))
                at += cnt
        erow, epos, eread, ereset, ebias, ewho, elast = (
            np.concatenate(c) for c in zip(*ev, strict=True)
        )
        if self.check_races:
            self._ofm_races(erow, epos, eread, ewho, elast)
        eprod = np.zeros((len(erow), C), np.int64)
        eprod[:E] = prod
        (frows, fvals), values = _events(
            self.ofm, erow, epos, eprod, ereset, eread, (np.concatenate(bias_tab), ebias)
        )
        self.ofm[frows] = wrap(fvals, self.cfg.acc_bits)
        values = wrap(values, self.cfg.acc_bits)
        for q, at, cnt in stores:
            self._store(q[1], q[2], values[at : at + cnt])

    def _fusion_bad(self, n0, ns, gid, gstart, gp, orow, first, ob, breset, flead, flast, multi):
        """Fused groups that cannot be fused: rows repeat in their run, or a reset (a
        ``first`` entry under ``use_first`` of another COMPUTE), FILL or STORE touches one of
        their rows between their first and last COMPUTE."""
        bad = np.zeros(len(flead), bool)
        # Runs whose rows repeat.
        e_g = np.repeat(np.arange(len(gp)), gp)
        key = e_g * (int(orow.max()) + 1) + orow
        key.sort()
        dup_e = np.flatnonzero(key[1:] == key[:-1])
        if len(dup_e):
            gdup = np.zeros(len(gp), bool)
            gdup[key[dup_e] // (int(orow.max()) + 1)] = True
            bad |= multi & gdup[gid[flead]]
        # Barriers: resets of COMPUTEs, FILL rows, STORE reads.
        rm = np.flatnonzero(breset)
        re_, rseg = _ranges(gstart[gid[rm]], gp[gid[rm]])
        keep = first[re_] != 0
        b_rows = [ob[rm][rseg][keep] + orow[re_][keep]]
        b_pos = [((ns[rm][rseg][keep] - n0) << _SHIFT) | (re_ - gstart[gid[rm]][rseg])[keep]]
        for q, rr in self._fill_store_rows():
            b_rows.append(rr)
            b_pos.append(np.full(len(rr), (q[1] - n0) << _SHIFT))
        b_rows, b_pos = np.concatenate(b_rows), np.concatenate(b_pos)
        sel = np.flatnonzero(multi & ~bad)
        if len(b_rows) and len(sel):
            top = max(int(b_pos.max()), int((ns[flast[sel]] - n0).max() + 1) << _SHIFT)
            shift = top.bit_length() + 1
            if shift + len(self.ofm).bit_length() > 62:  # keys would overflow: no fusion
                return bad | multi
            bkey = np.sort(b_rows << shift | b_pos)
            g = gid[flead[sel]]
            fe, fseg = _ranges(gstart[g], gp[g])
            k = fe - gstart[g][fseg]
            r = ob[flead[sel]][fseg] + orow[fe]
            lo = r << shift | (((ns[flead[sel]][fseg] - n0) << _SHIFT) | k)
            hi = r << shift | (((ns[flast[sel]][fseg] - n0) << _SHIFT) | k)
            between = np.searchsorted(bkey, hi) - np.searchsorted(bkey, lo, side="right")
            if (between > 0).any():
                bad[sel[np.unique(fseg[between > 0])]] = True
        return bad

    # ------------------------------------------------------------------ races
    def _raw_reads(self, reads):
        """Reads after the LOADs that wrote them: ``reads`` is (writer, reader, what, words)
        per memory (words None: ``what`` names the one word)."""
        kl = self.K[:, _LOAD]
        for writer, who, what, where in reads:
            self._check(
                writer > kl[who],
                who,
                "reads",
                lambda i, what=what, where=where: (
                    what if where is None else f"{what} {int(where[i])}"
                ),
                "written by",
                writer,
            )

    def _bias_readers(self, computes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word 0, reader) of every bias read of the batch: the COMPUTEs that reset from it
        and every FILL (a LOAD.BIAS must wait for them all)."""
        fills = np.array([q[1] for q in self.queue if q[0] == "f"], dtype=np.int64)
        who = np.concatenate([computes, fills])
        return np.zeros(len(who), np.int64), who

    def _war_reads(self, reads):
        """Reads of queued COMPUTEs vs the LOADs of this batch that overwrote them later:
        ``reads`` is (memory, words, reader) per memory; of repeated reads of a word with
        no write between them, the last one is enough."""
        K = self.K
        for m, words, who in reads:
            lw, ln = m.log_w, m.log_n
            if len(lw) and len(words):
                # For each write, the last read of the word before it (reads sorted by key).
                rkey = words * (1 << 40) + who
                rkey.sort()
                i = np.searchsorted(rkey, lw * (1 << 40) + ln) - 1
                ok = i >= 0
                ok[ok] = (rkey[i[ok]] >> 40) == lw[ok]
                reader = np.where(ok, rkey[np.maximum(i, 0)] & ((1 << 40) - 1), -1)
                self._check(
                    reader > K[ln, _COMPUTE],
                    ln,
                    "overwrites",
                    lambda i, m=m, lw=lw: f"{m.name.upper()} word {int(lw[i])}",
                    "read by",
                    reader,
                )
            if len(words):
                np.maximum.at(m.cr, words, who)

    def _ofm_races(self, erow, epos, eread, ewho, elast=None):
        """Accumulator rows: a STORE after the writes it reads, a write after the STOREs
        (and PSUM loads) before it, in program order.  A fused write (``elast``: its last
        COMPUTE, else ``ewho``) is checked as its first COMPUTE and read as its last."""
        K = self.K
        order = np.lexsort((epos, erow))
        r, rd, who = erow[order], eread[order], ewho[order]
        wl = who if elast is None else elast[order]
        n = len(r)
        new_row = np.ones(n, bool)
        new_row[1:] = r[1:] != r[:-1]
        idx = np.arange(n)
        seg0 = np.maximum.accumulate(np.where(new_row, idx, 0))
        # Latest writer / index of the last read strictly before each event, in its row.
        big = np.int64(1) << 32
        segbase = (np.cumsum(new_row) - 1) * big
        wacc = np.maximum.accumulate(segbase + np.where(rd, 0, wl + 1))
        prev_w = np.concatenate([[-1], wacc[:-1]]) - segbase - 1
        ls = np.maximum.accumulate(np.where(rd, idx, -1))
        ls = np.concatenate([[-1], ls[:-1]])
        in_w, in_s = prev_w >= 0, ls >= seg0
        pw = np.where(in_w, prev_w, self.ow[r])
        pw_eng = np.where(in_w, _COMPUTE, self.ow_eng[r])
        ps = np.where(in_s, who[np.maximum(ls, 0)], self.os[r])
        bad = rd & (pw > K[who, pw_eng])
        self._check(bad, who, "reads", lambda i: f"OFM row {int(r[i])}", "written by", pw)
        bad = ~rd & (pw_eng == _LOAD) & (pw > K[who, _LOAD])
        self._check(bad, who, "writes", lambda i: f"OFM row {int(r[i])}", "written by", pw)
        bad = ~rd & (ps > K[who, _STORE])
        self._check(bad, who, "writes", lambda i: f"OFM row {int(r[i])}", "read by", ps)
        last = np.flatnonzero(np.append(new_row[1:], True))
        rows = r[last]
        w_last = wacc[last] - segbase[last] - 1
        ls_last = np.maximum.accumulate(np.where(rd, idx, -1))[last]
        wrote = w_last >= 0
        self.ow[rows[wrote]] = w_last[wrote]
        self.ow_eng[rows[wrote]] = _COMPUTE
        read = ls_last >= seg0[last]
        self.os[rows[read]] = who[ls_last[read]]

    # ------------------------------------------------------------------ STORE
    def _store(self, n, requant, acc_rows):
        f = self.f
        cnt = int(f["rows"][n])
        ea, es, ch = int(f["ext_addr"][n]), int(f["ext_stride"][n]), int(f["channels"][n])
        acc = acc_rows[:, :ch]
        if f["sub"][n] == StoreMode.RAW:
            data = _lanes_to_bytes(acc, self.accb)
        else:
            rq = self._rq_cache.get(requant)
            if rq is None:
                cfg = self.cfg
                m, s, relu = requant
                rq = Requant(m, s, bool(relu), cfg.act_bits, cfg.requant_mult_bits, cfg.acc_bits)
                self._rq_cache[requant] = rq
            data = _lanes_to_bytes(rq.apply(acc), self.ab)
        nbytes = data.shape[1]
        B = self.cfg.bus_bytes
        starts = ea + es * np.arange(cnt)
        bus = (starts[:, None] // B + np.arange(-(-nbytes // B))).ravel()
        if self.check_races:
            r = self.dram_r[bus]
            self._check(
                r > self.K[n, _LOAD],
                np.full(len(bus), n),
                "overwrites",
                lambda i: f"external bus word {int(bus[i])}",
                "read by",
                r,
            )
            self.dram_w[bus] = n
        self.counters["wr_bytes"] += cnt * nbytes
        if cnt > 1 and es < nbytes:  # overlapping rows: later rows win, in order
            for r in range(cnt):
                self.mem[ea + r * es : ea + r * es + nbytes] = data[r]
            return
        self.mem[starts[:, None] + np.arange(nbytes)] = data


def run_program(
    program: Program,
    *,
    check_races: bool = True,
    batch: bool = True,
    group: bool = True,
    engine: str = "jit",
) -> RunResult:
    """Run a program on the functional simulator (see :class:`FuncSim`)."""
    return FuncSim(program, check_races=check_races, batch=batch, group=group, engine=engine).run()
