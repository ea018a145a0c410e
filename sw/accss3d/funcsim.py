"""Owns the functional simulator: a program executed on its memory image, in numpy.

Sequential semantics of docs/architecture.md ("Semantics"): the instructions take effect one
after the other up to HALT.  LOAD, STORE and FILL run as they come, vectorized over their
rows.  COMPUTEs are *batched*: consecutive COMPUTEs (with the LOADs in between) are collected
and run together - one gather of all their rulebook entries and input slots, one batched
matrix product per run-length bucket, one sequential-semantics scatter into the
accumulators (a row named twice accumulates twice, a ``first`` entry under ``use_first``
restarts its row from the bias).  A LOAD that overwrites L1 words a pending COMPUTE still
has to read first freezes a copy of the old contents (copy on write), so every COMPUTE sees
L1 exactly as it was at its place in the program.  ``batch=False`` runs each COMPUTE alone
(the reference the batched path is tested against).

Checks (one-line :class:`~accss3d.errors.ProgramError` naming the instruction):

* legality before the run (:func:`accss3d.isatable.check_legal`), every rulebook entry's
  IFM word and accumulator row as it is read (``L1_RANGE``) - no access leaves its array;
* token consistency in program order (:func:`accss3d.isatable.check_tokens`);
* races (``check_races``): vector clocks from the tokens (a wait orders everything its
  signaller had completed - engines complete in order - and SYNC/HALT order everything);
  every L1 word and every bus word of external memory remembers its last writer and
  readers, and an access not ordered after a conflicting access of another engine is a
  race - the tokens fail to guard a buffer reuse, so a decoupled run could differ.

# Ref: docs/architecture.md, "Semantics" and "Legality".
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .errors import ProgramError
from .isa import Engine, Kind, Op, StoreMode
from .isatable import (
    COL,
    DIRECTIONS,
    KIND_L1,
    check_legal,
    check_tokens,
    engine_of,
    mnemonic,
    program_end,
)
from .netgolden import tensor_sha256
from .program import Program
from .quant import Requant, wrap

__all__ = ["RunResult", "FuncSim", "run_program", "read_tensor", "accumulate", "knowledge"]

_LOAD, _COMPUTE, _STORE = int(Engine.LOAD), int(Engine.COMPUTE), int(Engine.STORE)
_MAX_BATCH_PAIRS = 1 << 19


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


def accumulate(ofm, rows, prod, reset, bias, acc_bits) -> None:
    """Sequential accumulation of products into accumulator rows (in place).

    Entry ``e`` (in order) does ``ofm[rows[e]] = bias[e] + prod[e]`` when ``reset[e]``, else
    ``ofm[rows[e]] += prod[e]``, wrapped to ``acc_bits``; rows may repeat.  ``bias`` is one
    vector or one per entry.
    """
    n = len(rows)
    if not n:
        return
    bias = np.broadcast_to(bias, prod.shape)
    order = np.argsort(rows, kind="stable")
    r_s = rows[order]
    start = np.ones(n, dtype=bool)
    start[1:] = r_s[1:] != r_s[:-1]
    if start.all():  # distinct rows: one vectorized update
        base = np.where(reset[:, None], bias, ofm[rows])
        ofm[rows] = wrap(base + prod, acc_bits)
        return
    seg = np.cumsum(start) - 1
    starts = np.flatnonzero(start)
    pos = np.arange(n)
    last = np.maximum.reduceat(np.where(reset[order], pos, -1), starts)
    keep = pos >= last[seg]
    sums = np.add.reduceat(np.where(keep[:, None], prod[order], 0), starts, axis=0)
    urows = r_s[starts]
    reset_bias = bias[order][np.maximum(last, 0)]
    base = np.where((last >= 0)[:, None], reset_bias, ofm[urows])
    ofm[urows] = wrap(base + sums, acc_bits)


def knowledge(table: np.ndarray, end: int) -> np.ndarray:
    """Vector clocks: ``K[n, e]`` = last instruction of engine ``e`` known complete when
    instruction ``n`` starts (``K[n, engine(n)] = n``; -1: none).

    A wait consumes the matching signal (in order) and learns everything its signaller knew
    (engines complete in order, so the signaller's own predecessors too); SYNC and HALT
    order everything before them.
    """
    n = min(end, len(table))
    eng = engine_of(table[:n])
    ops = table[:n, COL["op"]]
    barrier = (ops == int(Op.SYNC)) | (ops == int(Op.HALT))
    wait_cols, sig_cols = {}, {}
    for name, prod, pbit, cons, cbit in DIRECTIONS:
        wait_cols[name] = (eng == int(cons)) & (table[:n, COL[cbit]] != 0)
        sig_cols[name] = (eng == int(prod)) & (table[:n, COL[pbit]] != 0)
    event = barrier.copy()
    for name in wait_cols:
        event |= wait_cols[name] | sig_cols[name]
    # Last instruction of each engine at or before n (for barriers).
    last = np.full((3, n), -1, dtype=np.int64)
    idx = np.arange(n)
    for e in range(3):
        last[e] = np.maximum.accumulate(np.where(eng == e, idx, -1)) if n else last[e]
    cur = [[-1, -1, -1] for _ in range(3)]
    queues = {name: deque() for name in wait_cols}
    pos = {e: [] for e in range(3)}
    val = {e: [] for e in range(3)}
    waits_of = {
        e: [(name, wait_cols[name]) for name, _, _, c, _ in DIRECTIONS if c == e] for e in range(3)
    }
    sigs_of = {
        e: [(name, sig_cols[name]) for name, p, _, _, _ in DIRECTIONS if p == e] for e in range(3)
    }
    for i in np.flatnonzero(event).tolist():
        if barrier[i]:
            known = [int(last[e][i - 1]) if i else -1 for e in range(3)]
            for e in range(3):
                cur[e] = [max(a, b) for a, b in zip(cur[e], known, strict=True)]
                pos[e].append(i)
                val[e].append(list(cur[e]))
            continue
        e = int(eng[i])
        c = cur[e]
        for name, col in waits_of[e]:
            if col[i]:
                s = queues[name].popleft()
                c = [max(a, b) for a, b in zip(c, s, strict=True)]
        cur[e] = c
        k = list(c)
        k[e] = i
        for name, col in sigs_of[e]:
            if col[i]:
                queues[name].append(k)
        pos[e].append(i)
        val[e].append(list(c))
    K = np.full((n, 3), -1, dtype=np.int64)
    for e in range(3):
        mine = np.flatnonzero(eng == e)
        if len(pos[e]) and len(mine):
            j = np.searchsorted(np.array(pos[e]), mine, side="right") - 1
            vals = np.array(val[e], dtype=np.int64)
            ok = j >= 0
            K[mine[ok]] = vals[j[ok]]
        K[mine, e] = mine
    return K


class _Kind:
    """One L1 kind written by LOADs and read by COMPUTEs: live bytes, versions, shadows."""

    def __init__(self, name: str, words: int, word_bytes: int):
        self.name = name
        self.words = words
        self.word_bytes = word_bytes
        self.data = np.zeros(words * word_bytes, dtype=np.uint8)
        self.lw = np.full(words, -1, dtype=np.int64)  # last LOAD writing each word
        self.cr = np.full(words, -1, dtype=np.int64)  # last COMPUTE reading it (flushed)
        self.version = 0
        self.referenced = False  # a pending COMPUTE reads the live version
        self.snaps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def before_write(self):
        """Copy on write: freeze the live contents if a pending COMPUTE reads them."""
        if self.referenced:
            self.snaps[self.version] = (self.data.copy(), self.lw.copy())
            self.referenced = False
        self.version += 1

    def stacks(self, versions: np.ndarray):
        """``(data, last-writer)`` stacked over the versions used, and each one's index."""
        uniq, inv = np.unique(versions, return_inverse=True)
        data = [self.snaps[v][0] if v in self.snaps else self.data for v in uniq.tolist()]
        lw = [self.snaps[v][1] if v in self.snaps else self.lw for v in uniq.tolist()]
        return np.stack(data), np.stack(lw), inv

    def clear(self):
        self.snaps.clear()
        self.referenced = False


class FuncSim:
    """Execute a :class:`~accss3d.program.Program` (see the module docstring).

    Parameters
    ----------
    program : Program
    check_races : bool
        Track the last writer/readers of every word and raise on unguarded reuse.
    batch : bool
        Run COMPUTEs in batches (default) or one at a time (the reference).
    """

    def __init__(self, program: Program, *, check_races: bool = True, batch: bool = True):
        self.p = program
        cfg = program.cfg
        self.cfg = cfg
        self.check_races = check_races
        self.batch = batch
        self.R, self.C = cfg.pe_rows, cfg.pe_cols
        self.ab, self.wb, self.accb = cfg.act_bits // 8, cfg.weight_bits // 8, cfg.acc_bits // 8
        self.k = {n: _Kind(n, cfg.words(n), cfg.word_bytes(n)) for n in ("ifm", "wgt", "rbk")}
        self.bias = _Kind("bias", 1, self.C * 8)  # int64 lanes
        self.ofm = np.zeros((cfg.words("ofm"), self.C), dtype=np.int64)
        self.ow = np.full(cfg.words("ofm"), -1, dtype=np.int64)  # last writer
        self.ow_eng = np.full(cfg.words("ofm"), _COMPUTE, dtype=np.int64)
        self.os = np.full(cfg.words("ofm"), -1, dtype=np.int64)  # last STORE reader
        self.requant = (1, 0, 0)  # before the first CONFIG: the identity
        self._rq_cache: dict = {}
        exact32 = cfg.act_bits + cfg.weight_bits - 2 + int(np.ceil(np.log2(self.R))) < 24
        self.fdt = np.float32 if exact32 else np.float64
        self.pending: list[tuple] = []
        self.pending_pairs = 0
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
            f"instruction {n}: {self._name(n)} {verb} {obj} {rel} instruction {int(other)} "
            f"({self._name(int(other))}) with no token ordering them (race)"
        )

    # ------------------------------------------------------------------ run
    def run(self) -> RunResult:
        """Execute the program; raise :class:`ProgramError` on any violation."""
        t0 = time.perf_counter()
        p = self.p
        table = p.code
        check_legal(table, self.cfg, p.mem_bytes)
        end = program_end(table)
        check_tokens(table)
        self.f = {name: table[:end, col] for name, col in COL.items()}
        self.mem = p.memory()
        self.K = knowledge(table, end) if self.check_races else None
        if self.check_races:
            n = self.mem.size // self.cfg.bus_bytes + 1
            self.dram_w = np.full(n, -1, dtype=np.int64)  # last STORE writing a bus word
            self.dram_r = np.full(n, -1, dtype=np.int64)  # last LOAD reading it
        ops = self.f["op"]
        counts = np.bincount(ops, minlength=256)
        self.counters["instructions"] = {op.name: int(counts[op]) for op in Op if counts[op]}
        other = np.flatnonzero(ops != int(Op.COMPUTE)).tolist()
        rows = table[:end].tolist()
        prev = -1
        for i in other:
            if i > prev + 1:
                self._queue(prev + 1, i)
            prev = i
            row = rows[i]
            op = row[0]
            if op == Op.LOAD:
                self._load(i, row)
            elif op == Op.STORE:
                self._flush()
                self._store(i, row)
            elif op == Op.FILL:
                self._flush()
                self._fill(i, row)
            elif op == Op.CONFIG:
                self.requant = (row[COL["multiplier"]], row[COL["shift"]], row[COL["relu"]])
            elif op in (Op.SYNC, Op.HALT):
                self._flush()
        self._flush()
        result = RunResult(self.mem, counters=self.counters)
        for name, entry in p.manifest.get("tensors", {}).items():
            out = read_tensor(self.mem, entry)
            result.outputs[name] = out
            if "golden_sha256" in entry:
                result.matches[name] = tensor_sha256(out) == entry["golden_sha256"]
        result.seconds = time.perf_counter() - t0
        return result

    # ------------------------------------------------------------------ compute batches
    def _queue(self, a: int, b: int):
        """Pend COMPUTEs ``a..b-1`` (they read the live L1 versions)."""
        uses_bias = bool(self.f["use_first"][a:b].any())
        for start in range(a, b) if not self.batch else (a,):
            stop = start + 1 if not self.batch else b
            vers = (
                self.k["ifm"].version,
                self.k["wgt"].version,
                self.k["rbk"].version,
                self.bias.version,
            )
            self.pending.append((start, stop, vers, {}))
            for kind in self.k.values():
                kind.referenced = True
            if uses_bias:
                self.bias.referenced = True
            self.pending_pairs += int(self.f["pairs"][start:stop].sum())
            if not self.batch or self.pending_pairs > _MAX_BATCH_PAIRS:
                self._flush()

    def _pending_arrays(self):
        ns = np.concatenate([np.arange(a, b) for a, b, _, _ in self.pending])
        vers = np.concatenate(
            [np.tile(np.array(v, dtype=np.int64), (b - a, 1)) for a, b, v, _ in self.pending]
        )
        return ns, vers

    def _entries(self, ns, vr):
        """Rulebook words of every pending COMPUTE: (instruction of each entry, entry)."""
        f = self.f
        pairs = f["pairs"][ns]
        seg = np.repeat(np.arange(len(ns)), pairs)
        within = np.arange(int(pairs.sum())) - np.repeat(np.cumsum(pairs) - pairs, pairs)
        word = f["rbk_addr"][ns][seg] + within
        data, lw, inv = self.k["rbk"].stacks(vr)
        words = data.view("<u4")
        ent = words[inv[seg], word].astype(np.int64)
        return seg, word, ent, (lw, inv)

    def _flush(self):
        if not self.pending:
            return
        f, R, C = self.f, self.R, self.C
        ns, vers = self._pending_arrays()
        self.pending, self.pending_pairs = [], 0
        self.counters["batches"] += 1
        seg, rword, ent, (rbk_lw, rbk_inv) = self._entries(ns, vers[:, 2])
        slot = ent & 0xFFFF
        orow = (ent >> 16) & 0x7FFF
        first = (ent >> 31) & 1
        nseg = ns[seg]
        idx = f["ifm_base"][nseg] + slot * f["ifm_stride"][nseg] + f["ifm_offset"][nseg]
        rows = f["ofm_base"][nseg] + orow
        for arr, limit, what in (
            (idx, self.k["ifm"].words, "IFM word"),
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
        ifm_data, ifm_lw, ifm_inv = self.k["ifm"].stacks(vers[:, 0])
        wgt_data, wgt_lw, wgt_inv = self.k["wgt"].stacks(vers[:, 1])
        bias_data, bias_lw, bias_inv = self.bias.stacks(vers[:, 3])
        wa = f["wgt_addr"][ns]
        wwords = wa[:, None] + np.arange(R)
        if self.check_races:
            self._check_reads(
                dict(ns=ns, nseg=nseg, seg=seg, rword=rword, rbk=(rbk_lw, rbk_inv), idx=idx,
                     ifm=(ifm_lw, ifm_inv), wwords=wwords, wgt=(wgt_lw, wgt_inv), reset=reset,
                     bias=(bias_lw, bias_inv))
            )  # fmt: skip
            self._check_ofm_writes(nseg, rows)
        # Products: one batched matmul per run-length bucket.
        ifm_v = ifm_data.view(f"<i{self.ab}").reshape(len(ifm_data), -1, R)
        x = ifm_v[ifm_inv[seg], idx].astype(self.fdt)
        wgt_v = wgt_data.view(f"<i{self.wb}").reshape(len(wgt_data), -1, C)
        w = wgt_v[wgt_inv[:, None], wwords].astype(self.fdt)
        prod = np.zeros((len(seg), C), dtype=np.int64)
        pairs = f["pairs"][ns]
        starts = np.cumsum(pairs) - pairs
        bucket = np.ceil(np.log2(pairs)).astype(np.int64)
        for b in np.unique(bucket).tolist():
            sel = np.flatnonzero(bucket == b)
            width = 1 << b
            lane = np.arange(width)
            take = starts[sel, None] + np.minimum(lane, pairs[sel, None] - 1)
            out = np.matmul(x[take], w[sel])
            valid = lane < pairs[sel, None]
            prod[take[valid]] = out[valid].astype(np.int64)
        bias_rows = bias_data.view("<i8").reshape(len(bias_data), C)[bias_inv[seg]]
        accumulate(self.ofm, rows, prod, reset, bias_rows, self.cfg.acc_bits)
        self.counters["macs"] += len(seg) * R * C
        self.counters["pairs"] += len(seg)
        for kind in (*self.k.values(), self.bias):
            kind.clear()

    def _check_reads(self, b: dict):
        """Every word a pending COMPUTE reads was written by a LOAD it knows of."""
        ns, nseg, seg, rword, idx, wwords, reset = (
            b[k] for k in ("ns", "nseg", "seg", "rword", "idx", "wwords", "reset")
        )
        (rbk_lw, rbk_inv), (ifm_lw, ifm_inv) = b["rbk"], b["ifm"]
        (wgt_lw, wgt_inv), (bias_lw, bias_inv) = b["wgt"], b["bias"]
        kl = self.K[:, _LOAD]
        checks = (
            ("RBK word", rbk_lw[rbk_inv[seg], rword], nseg, rword),
            ("IFM word", ifm_lw[ifm_inv[seg], idx], nseg, idx),
            (
                "reads WGT word",
                wgt_lw[wgt_inv[:, None], wwords].ravel(),
                np.repeat(ns, self.R),
                wwords.ravel(),
            ),
        )
        for what, writer, who, where in checks:
            bad = writer > kl[who]
            if bad.any():
                i = int(np.argmax(bad))
                self._race(int(who[i]), "reads", f"{what} {int(where[i])}", "written by", writer[i])
        if reset.any():
            w = bias_lw[bias_inv[seg[reset]], 0]
            bad = w > kl[nseg[reset]]
            if bad.any():
                i = int(np.argmax(bad))
                self._race(int(nseg[reset][i]), "reads", "the bias", "written by", w[i])
        ck = {
            "rbk": (rword, nseg),
            "ifm": (idx, nseg),
            "wgt": (wwords.ravel(), np.repeat(ns, self.R)),
        }
        for name, (words, who) in ck.items():
            np.maximum.at(self.k[name].cr, words, who)
        if reset.any():
            self.bias.cr[0] = max(int(self.bias.cr[0]), int(nseg[reset].max()))

    def _check_ofm_writes(self, who, rows):
        """Accumulator rows a COMPUTE/FILL writes: earlier PSUM loads and STOREs are known."""
        K = self.K
        for prior, eng, what in (
            (self.ow[rows], self.ow_eng[rows], "written by"),
            (self.os[rows], _STORE, "read by"),
        ):
            bad = prior > K[who, eng]
            if bad.any():
                i = int(np.argmax(bad))
                self._race(int(who[i]), "writes", f"OFM row {int(rows[i])}", what, prior[i])
        np.maximum.at(self.ow, rows, who)
        self.ow_eng[rows] = _COMPUTE

    def _reads_of(self, item, kind: str):
        """Words of ``kind`` the pending COMPUTEs ``item`` read, and who reads each (cached)."""
        cache = item[3]
        if kind not in cache:
            f = self.f
            ns = np.arange(item[0], item[1])
            if kind == "wgt":
                cache[kind] = (
                    (f["wgt_addr"][ns][:, None] + np.arange(self.R)).ravel(),
                    np.repeat(ns, self.R),
                )
            else:
                vr = np.full(len(ns), item[2][2], dtype=np.int64)
                seg, rword, ent, _ = self._entries(ns, vr)
                nseg = ns[seg]
                idx = f["ifm_base"][nseg] + (ent & 0xFFFF) * f["ifm_stride"][nseg]
                idx = idx + f["ifm_offset"][nseg]
                first = ((ent >> 31) & 1).astype(bool) & (f["use_first"][nseg] != 0)
                cache["rbk"] = (rword, nseg)
                cache["ifm"] = (idx, nseg)
                cache["bias"] = (np.zeros(int(first.sum()), dtype=np.int64), nseg[first])
        return cache[kind]

    def _check_pending_war(self, n, kind: str, words: np.ndarray):
        """A LOAD overwriting words that pending COMPUTEs it does not know of still read."""
        known = int(self.K[n, _COMPUTE])
        for item in self.pending:
            if item[1] - 1 <= known:
                continue
            reads, who = self._reads_of(item, kind)
            hit = np.isin(reads, words) & (who > known)
            if hit.any():
                i = int(np.argmax(hit))
                where = f"{kind.upper()} word {int(reads[i])}"
                self._race(n, "overwrites", where, "read by", who[i])

    # ------------------------------------------------------------------ LOAD / STORE / FILL
    def _dram(self, n, addrs, nbytes, write):
        B = self.cfg.bus_bytes
        words = (np.asarray(addrs)[:, None] // B + np.arange(-(-nbytes // B))).ravel()
        if write:
            r = self.dram_r[words]
            bad = r > self.K[n, _LOAD]
            if bad.any():
                i = int(np.argmax(bad))
                self._race(n, "overwrites", f"external bus word {int(words[i])}", "read by", r[i])
            self.dram_w[words] = n
        else:
            w = self.dram_w[words]
            bad = w > self.K[n, _STORE]
            if bad.any():
                i = int(np.argmax(bad))
                self._race(n, "reads", f"external bus word {int(words[i])}", "written by", w[i])
            np.maximum.at(self.dram_r, words, n)

    def _load(self, n, row):
        sub = Kind(row[COL["sub"]])
        rows, rb = row[COL["rows"]], row[COL["row_bytes"]]
        l1, ea = row[COL["l1_addr"]], row[COL["ext_addr"]]
        es, ls = row[COL["ext_stride"]], row[COL["l1_stride"]]
        self.counters["rd_bytes"][sub.name] += rows * rb
        src = as_strided(self.mem[ea:], shape=(rows, rb), strides=(es, 1))
        if self.check_races:
            self._dram(n, ea + es * np.arange(rows), rb, write=False)
        if sub is Kind.PSUM:
            self._flush()
            self._load_psum(n, row, src)
            return
        kind = self.bias if sub is Kind.BIAS else self.k[KIND_L1[sub]]
        if sub is Kind.BIAS:
            words = np.zeros(1, dtype=np.int64)
        else:
            nw = -(-rb // kind.word_bytes)
            words = (l1 + ls * np.arange(rows)[:, None] + np.arange(nw)).ravel()
        if self.check_races:
            bad = kind.cr[words] > self.K[n, _COMPUTE]
            if bad.any():
                i = int(np.argmax(bad))
                self._race(
                    n,
                    "overwrites",
                    f"{kind.name.upper()} word {int(words[i])} read by",
                    kind.cr[words][i],
                )
            if kind.referenced:
                self._check_pending_war(n, kind.name, words)
        kind.before_write()
        if self.check_races:
            kind.lw[words] = n
        if sub is Kind.BIAS:
            lanes = kind.data.view("<i8")
            data = _lanes_to_bytes(lanes[None], self.accb)[0]
            data[:rb] = src[0]
            kind.data = _bytes_to_lanes(data, self.accb, self.C)[0].astype("<i8").view(np.uint8)
            return
        word = kind.word_bytes
        dst = as_strided(kind.data[l1 * word :], shape=(rows, rb), strides=(ls * word, 1))
        dst[...] = src

    def _load_psum(self, n, row, src):
        rows, rb = row[COL["rows"]], row[COL["row_bytes"]]
        l1, ls = row[COL["l1_addr"]], row[COL["l1_stride"]]
        word = self.C * self.accb
        nw = -(-rb // word)
        words = (l1 + ls * np.arange(rows)[:, None] + np.arange(nw)).ravel()
        if self.check_races:
            K = self.K
            for arr, eng, what in ((self.ow, None, "written by"), (self.os, _STORE, "read by")):
                who = arr[words]
                e = self.ow_eng[words] if eng is None else eng
                bad = (who > K[n, e]) & (e != _LOAD)
                if np.any(bad):
                    i = int(np.argmax(bad))
                    self._race(n, "overwrites", f"OFM row {int(words[i])}", what, who[i])
            self.ow[words] = n
            self.ow_eng[words] = _LOAD
        lo, hi = int(words.min()), int(words.max()) + 1
        data = _lanes_to_bytes(self.ofm[lo:hi], self.accb).ravel()
        dst = as_strided(data[(l1 - lo) * word :], shape=(rows, rb), strides=(ls * word, 1))
        dst[...] = src
        self.ofm[lo:hi] = _bytes_to_lanes(data, self.accb, self.C)

    def _fill(self, n, row):
        r0, cnt = row[COL["ofm_row"]], row[COL["rows"]]
        rows = np.arange(r0, r0 + cnt)
        if self.check_races:
            w = self.bias.lw[0]
            if w > self.K[n, _LOAD]:
                self._race(n, "reads", "the bias", "written by", w)
            self.bias.cr[0] = n
            self._check_ofm_writes(np.full(cnt, n), rows)
        self.ofm[r0 : r0 + cnt] = self.bias.data.view("<i8")

    def _store(self, n, row):
        r0, cnt = row[COL["ofm_row"]], row[COL["rows"]]
        ea, es, ch = row[COL["ext_addr"]], row[COL["ext_stride"]], row[COL["channels"]]
        acc = self.ofm[r0 : r0 + cnt, :ch]
        if self.check_races:
            rows = np.arange(r0, r0 + cnt)
            w = self.ow[rows]
            bad = w > self.K[n][self.ow_eng[rows]]
            if bad.any():
                i = int(np.argmax(bad))
                self._race(n, "reads", f"OFM row {int(rows[i])}", "written by", w[i])
            self.os[rows] = n
        if row[COL["sub"]] == StoreMode.RAW:
            data = _lanes_to_bytes(acc, self.accb)
        else:
            rq = self._rq_cache.get(self.requant)
            if rq is None:
                cfg = self.cfg
                m, s, relu = self.requant
                rq = Requant(m, s, bool(relu), cfg.act_bits, cfg.requant_mult_bits, cfg.acc_bits)
                self._rq_cache[self.requant] = rq
            data = _lanes_to_bytes(rq.apply(acc), self.ab)
        nbytes = data.shape[1]
        if self.check_races:
            self._dram(n, ea + es * np.arange(cnt), nbytes, write=True)
        self.counters["wr_bytes"] += cnt * nbytes
        if cnt > 1 and es < nbytes:  # overlapping rows: later rows win, in order
            for r in range(cnt):
                self.mem[ea + r * es : ea + r * es + nbytes] = data[r]
            return
        dst = as_strided(self.mem[ea:], shape=(cnt, nbytes), strides=(es, 1))
        dst[...] = data


def run_program(program: Program, *, check_races: bool = True, batch: bool = True) -> RunResult:
    """Run a program on the functional simulator (see :class:`FuncSim`)."""
    return FuncSim(program, check_races=check_races, batch=batch).run()
