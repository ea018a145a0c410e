"""Owns the compiled functional engine: a program executed one instruction after the other.

The sequential semantics of docs/architecture.md ("Semantics") written as a loop over
instructions and compiled with numba: every LOAD copies its bytes into L1 when it executes,
every COMPUTE streams its rulebook entries through a ``pe_rows x pe_cols`` weight tile into
the accumulator rows they name, every STORE requantizes and writes its rows.  It applies the
same checks as the vectorized engine of :mod:`accss3d.funcsim` - every rulebook entry's IFM
word and accumulator row (``L1_RANGE``) and, with ``check_races``, every access against the
last conflicting access of another engine, ordered by the vector clocks of the tokens -
and is tested against it (same memory, same counters, same verdict).

It only *detects* a violation: :func:`execute` returns the first instruction that breaks a
rule, and :mod:`accss3d.funcsim` then names it with the vectorized engine's one-line
message, executing that instruction alone from the state :func:`execute` returns for the
instructions before it (errors are the rare path; that keeps one wording for every
message).

A COMPUTE gathers the input word of each entry into a ``pairs x pe_rows`` matrix and takes
one BLAS product with its weight tile, in float32 while no sum of ``pe_rows`` products can
reach 2^24, else float64 (every partial sum is an integer the type holds exactly, in any
summation order), then accumulates the rows in entry order.

Cost: about 35 ns per rulebook entry on the development machine (16 x 16 tiles: the gather,
the product row, the checks and the accumulation), plus the bytes loaded; minkunet18 on a
97k-voxel room (279M entries) in under 10 s.  The vectorized engine's cost grows with the
reads it must look up in its LOAD logs.  Compiled once per machine (``cache=True``: numba's
cache next to the module), a few seconds on first use.

# Ref: docs/architecture.md "Semantics"; accss3d.funcsim (the vectorized engine).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .isa import Engine, Kind, Op, StoreMode
from .isatable import _ENGINE_LUT, COL, DIRECTIONS

__all__ = ["knowledge", "execute", "OK", "VIOLATION"]

OK, VIOLATION = 0, 1
_LOAD, _COMPUTE, _STORE = int(Engine.LOAD), int(Engine.COMPUTE), int(Engine.STORE)

# Column indices and opcodes as plain ints (numba freezes module globals at compile time).
_C = COL
_OP, _SUB = _C["op"], _C["sub"]
_L1A, _ROWS, _EXTA, _RB, _EXTS, _L1S = (
    _C[n] for n in ("l1_addr", "rows", "ext_addr", "row_bytes", "ext_stride", "l1_stride")
)
_WGTA, _RBKA, _PAIRS, _IFMB, _IFMS, _IFMO, _OFMB, _UF = (
    _C[n]
    for n in (
        "wgt_addr",
        "rbk_addr",
        "pairs",
        "ifm_base",
        "ifm_stride",
        "ifm_offset",
        "ofm_base",
        "use_first",
    )
)
_OFMR, _CHAN, _MULT, _SHIFT, _RELU = (
    _C[n] for n in ("ofm_row", "channels", "multiplier", "shift", "relu")
)
_O_LOAD, _O_COMPUTE, _O_STORE, _O_FILL, _O_CONFIG = (
    int(Op.LOAD),
    int(Op.COMPUTE),
    int(Op.STORE),
    int(Op.FILL),
    int(Op.CONFIG),
)
_K_IFM, _K_WGT, _K_RBK, _K_PSUM = (int(k) for k in (Kind.IFM, Kind.WGT, Kind.RBK, Kind.PSUM))
_RAW = int(StoreMode.RAW)


# --------------------------------------------------------------------------- tokens
def knowledge(table: np.ndarray, end: int) -> np.ndarray:
    """Vector clocks: ``K[n, e]`` = last instruction of engine ``e`` known complete when
    instruction ``n`` starts (``K[n, engine(n)] = n``; -1: none; SYNC/HALT rows -1).

    A wait consumes the matching signal (in order) and learns everything its signaller knew
    (engines complete in order, so the signaller's own predecessors too); SYNC and HALT
    order everything before them.  One compiled pass (both engines of :mod:`accss3d.funcsim`
    use it); the table must have passed :func:`accss3d.isatable.check_tokens` (every wait
    finds its signal).
    """
    n = min(end, len(table))
    dirs = np.array(
        [[int(prod), COL[pbit], int(cons), COL[cbit]] for _, prod, pbit, cons, cbit in DIRECTIONS],
        dtype=np.int64,
    )
    barrier = np.zeros(256, np.bool_)
    barrier[[int(Op.SYNC), int(Op.HALT)]] = True
    return _knowledge(np.asarray(table, dtype=np.int64), n, _ENGINE_LUT, barrier, dirs)


@njit(cache=True)
def _knowledge(code, n, lut, barrier, dirs):  # pragma: no cover - compiled
    ndir = dirs.shape[0]
    K = np.full((n, 3), -1, np.int64)
    cur = np.full((3, 3), -1, np.int64)  # clock of each engine
    last = np.full(3, -1, np.int64)  # last instruction of each engine so far
    nsig = np.zeros(ndir, np.int64)
    for i in range(n):
        e = lut[code[i, _OP]]
        for d in range(ndir):
            if e == dirs[d, 0] and code[i, dirs[d, 1]] != 0:
                nsig[d] += 1
    queue = np.empty((ndir, max(1, nsig.max()), 3), np.int64)
    head = np.zeros(ndir, np.int64)
    tail = np.zeros(ndir, np.int64)
    for i in range(n):
        op = code[i, _OP]
        e = lut[op]
        if barrier[op]:
            for x in range(3):
                for y in range(3):
                    if last[y] > cur[x, y]:
                        cur[x, y] = last[y]
            continue
        if e < 0 or e > 2:
            continue
        for d in range(ndir):
            if e == dirs[d, 2] and code[i, dirs[d, 3]] != 0:
                h = head[d]
                head[d] = h + 1
                for y in range(3):
                    if queue[d, h, y] > cur[e, y]:
                        cur[e, y] = queue[d, h, y]
        for d in range(ndir):
            if e == dirs[d, 0] and code[i, dirs[d, 1]] != 0:
                q = tail[d]
                tail[d] = q + 1
                for y in range(3):
                    queue[d, q, y] = cur[e, y]
                queue[d, q, e] = i
        for y in range(3):
            K[i, y] = cur[e, y]
        K[i, e] = i
        last[e] = i
    return K


# --------------------------------------------------------------------------- helpers
@njit(cache=True, inline="always")
def _signed(u, bits):  # pragma: no cover - compiled
    """Sign-extend the low ``bits`` bits of ``u`` (int64): :func:`accss3d.quant.wrap`."""
    if bits >= 64:
        return u
    half = np.int64(1) << (bits - 1)
    return ((u + half) & ((np.int64(1) << bits) - 1)) - half


@njit(cache=True, inline="always")
def _word_value(buf, off, nbytes):  # pragma: no cover - compiled
    """Signed little-endian integer of ``nbytes`` bytes at ``buf[off]``."""
    u = np.int64(0)
    for b in range(nbytes):
        u |= np.int64(buf[off + b]) << (8 * b)
    return _signed(u, 8 * nbytes)


@njit(cache=True, inline="always")
def _shl(x, s):  # pragma: no cover - compiled
    """numpy's int64 ``<<``: 0 from a shift of 64 on."""
    return np.int64(0) if s >= 64 else x << s


@njit(cache=True, inline="always")
def _shr(x, s):  # pragma: no cover - compiled
    """numpy's int64 ``>>`` (arithmetic): the sign from a shift of 64 on."""
    if s >= 64:
        return np.int64(-1) if x < 0 else np.int64(0)
    return x >> s


@njit(cache=True, inline="always")
def _requant(acc, mult, shift, relu, out_bits):  # pragma: no cover - compiled
    """:meth:`accss3d.quant.Requant.apply` for one accumulator."""
    y = acc * mult
    if shift:
        y = _shr(y + _shl(np.int64(1), shift - 1), shift)
    if relu and y < 0:
        y = 0
    hi = (np.int64(1) << (out_bits - 1)) - 1
    lo = -hi - 1
    return lo if y < lo else hi if y > hi else y


@njit(cache=True)
def _load(mem, flat, lw, cr, word, l1, ls, ea, es, rows, rb, races, kc, n):
    """The bytes of one LOAD into an L1 kind of ``word``-byte words; True on a race."""
    nw = (rb + word - 1) // word
    for r in range(rows):
        w0 = l1 + r * ls
        src = ea + r * es
        dst = w0 * word
        flat[dst : dst + rb] = mem[src : src + rb]
        for q in range(nw):
            w = w0 + q
            if races and cr[w] > kc:
                return True
            lw[w] = n
    return False


# --------------------------------------------------------------------------- the engine
@njit(cache=True, boundscheck=False)
def _execute(
    code,
    end,
    K,
    races,
    mem,
    bus,
    R,
    C,
    ab,
    wb,
    accb,
    acc_bits,
    act_bits,
    ifm_b,
    ifm_v,
    ifm_lw,
    ifm_cr,
    wgt_b,
    wgt_v,
    wgt_lw,
    wgt_cr,
    rbk_b,
    rbk_v,
    rbk_lw,
    rbk_cr,
    bias_b,
    bias_lw,
    bias_cr,
    ofm,
    ow,
    oweng,
    os_,
    dram_w,
    dram_r,
    counters,
    W,
    G,
    rq,
):  # pragma: no cover - compiled
    """Run instructions ``0 .. end - 1``; returns (status, instruction)."""
    mult, shift, relu = np.int64(1), np.int64(0), np.int64(0)
    ifm_words = ifm_v.shape[0]
    ofm_rows = ofm.shape[0]
    rowb = C * accb
    bias = np.empty(C, np.int64)
    ent_row = np.empty(G.shape[0], np.int64)  # the longest run (or FILL)
    ent_reset = np.empty(G.shape[0], np.bool_)
    for n in range(end):
        op = code[n, _OP]
        if op == _O_COMPUTE or op == _O_FILL:
            kl, ks = K[n, _LOAD], K[n, _STORE]
            compute = op == _O_COMPUTE
            if compute:
                pairs = code[n, _PAIRS]
                ra, wa = code[n, _RBKA], code[n, _WGTA]
                ib, ist, io = code[n, _IFMB], code[n, _IFMS], code[n, _IFMO]
                ob, uf = code[n, _OFMB], code[n, _UF] != 0
                counters[0] += pairs * R * C
                counters[1] += pairs
                for r in range(R):
                    w = wa + r
                    if races:
                        if wgt_lw[w] > kl:
                            return VIOLATION, n
                        wgt_cr[w] = max(wgt_cr[w], n)
                    for c in range(C):
                        W[r, c] = wgt_v[w, c]
                # Every entry, its input word (gathered) and its accumulator row.
                need_bias = False
                for k in range(pairs):
                    w = ra + k
                    if races:
                        if rbk_lw[w] > kl:
                            return VIOLATION, n
                        rbk_cr[w] = max(rbk_cr[w], n)
                    e = np.int64(rbk_v[w])
                    idx = ib + (e & 0xFFFF) * ist + io
                    row = ob + ((e >> 16) & 0x7FFF)
                    if idx >= ifm_words or row >= ofm_rows:
                        return VIOLATION, n
                    if races:
                        if ifm_lw[idx] > kl:
                            return VIOLATION, n
                        ifm_cr[idx] = max(ifm_cr[idx], n)
                    ent_row[k] = row
                    ent_reset[k] = uf and (e >> 31) & 1 != 0
                    need_bias |= ent_reset[k]
                    for r in range(R):
                        G[k, r] = ifm_v[idx, r]
                # One matrix product per COMPUTE (exact: see ``fdt`` in :func:`execute`).
                P = np.dot(G[:pairs], W)
            else:  # FILL: every row restarts from the bias
                pairs, r0 = code[n, _ROWS], code[n, _OFMR]
                for k in range(pairs):
                    ent_row[k] = r0 + k
                    ent_reset[k] = True
                need_bias = True
                P = np.zeros((pairs, C), W.dtype)
            if need_bias:
                if races:
                    if bias_lw[0] > kl:
                        return VIOLATION, n
                    bias_cr[0] = max(bias_cr[0], n)  # a LOAD.BIAS must wait for FILLs too
                for c in range(C):
                    bias[c] = _word_value(bias_b, c * accb, accb)
            # Accumulate in entry order (rows may repeat; a reset restarts from the bias).
            for k in range(pairs):
                row = ent_row[k]
                if races:
                    if oweng[row] == _LOAD and ow[row] > kl:
                        return VIOLATION, n
                    if os_[row] > ks:
                        return VIOLATION, n
                    ow[row] = n
                    oweng[row] = _COMPUTE
                if ent_reset[k]:
                    for c in range(C):
                        ofm[row, c] = _signed(bias[c] + np.int64(P[k, c]), acc_bits)
                else:
                    for c in range(C):
                        ofm[row, c] = _signed(ofm[row, c] + np.int64(P[k, c]), acc_bits)
        elif op == _O_LOAD:
            sub = code[n, _SUB]
            rows, rb = code[n, _ROWS], code[n, _RB]
            l1, ls = code[n, _L1A], code[n, _L1S]
            ea, es = code[n, _EXTA], code[n, _EXTS]
            counters[2 + sub] += rows * rb
            kc, ks = K[n, _COMPUTE], K[n, _STORE]
            if races:
                for r in range(rows):
                    s = ea + r * es
                    b0 = s // bus
                    for b in range(b0, b0 + (rb + bus - 1) // bus):
                        if dram_w[b] > ks:
                            return VIOLATION, n
                        if dram_r[b] < n:
                            dram_r[b] = n
            if sub == _K_PSUM:
                nw = (rb + rowb - 1) // rowb
                for r in range(rows):
                    for q in range(nw):
                        row = l1 + r * ls + q
                        if races:
                            if oweng[row] != _LOAD and ow[row] > K[n, oweng[row]]:
                                return VIOLATION, n
                            if os_[row] > ks:
                                return VIOLATION, n
                            ow[row] = n
                            oweng[row] = _LOAD
                    base = (l1 + r * ls) * rowb
                    for q in range(rb):
                        g = base + q
                        row, lane, byte = g // rowb, (g % rowb) // accb, g % accb
                        sh = 8 * byte
                        u = ofm[row, lane] & ~(np.int64(0xFF) << sh)
                        u |= np.int64(mem[ea + r * es + q]) << sh
                        ofm[row, lane] = _signed(u, acc_bits)
                continue
            if sub == _K_IFM:
                bad = _load(
                    mem, ifm_b, ifm_lw, ifm_cr, R * ab, l1, ls, ea, es, rows, rb, races, kc, n
                )
            elif sub == _K_WGT:
                bad = _load(
                    mem, wgt_b, wgt_lw, wgt_cr, C * wb, l1, ls, ea, es, rows, rb, races, kc, n
                )
            elif sub == _K_RBK:
                bad = _load(mem, rbk_b, rbk_lw, rbk_cr, 4, l1, ls, ea, es, rows, rb, races, kc, n)
            else:
                bad = _load(
                    mem, bias_b, bias_lw, bias_cr, C * accb, l1, ls, ea, es, rows, rb, races, kc, n
                )
            if bad:
                return VIOLATION, n
        elif op == _O_STORE:
            rows, r0 = code[n, _ROWS], code[n, _OFMR]
            ea, es, ch = code[n, _EXTA], code[n, _EXTS], code[n, _CHAN]
            raw = code[n, _SUB] == _RAW
            per = accb if raw else ab
            nbytes = ch * per
            kl = K[n, _LOAD]
            counters[7] += rows * nbytes
            for r in range(rows):
                row = r0 + r
                if races:
                    pw = ow[row]
                    if pw > K[n, oweng[row]]:
                        return VIOLATION, n
                    os_[row] = n
                s = ea + r * es
                if races:
                    b0 = s // bus
                    for b in range(b0, b0 + (nbytes + bus - 1) // bus):
                        if dram_r[b] > kl:
                            return VIOLATION, n
                        dram_w[b] = n
                for c in range(ch):
                    v = ofm[row, c]
                    if not raw:
                        v = _requant(v, mult, shift, relu != 0, act_bits)
                    for q in range(per):
                        mem[s + c * per + q] = (v >> (8 * q)) & 0xFF
        elif op == _O_CONFIG:
            mult, shift, relu = code[n, _MULT], code[n, _SHIFT], code[n, _RELU]
            rq[0], rq[1], rq[2] = mult, shift, relu
    return OK, -1


def execute(program, mem: np.ndarray, end: int, K, check_races: bool) -> tuple[int, int, dict]:
    """Run ``program``'s instructions ``0 .. end - 1`` on ``mem`` (modified in place).

    Parameters
    ----------
    program : accss3d.program.Program
        Its code table must have passed :func:`accss3d.isatable.check_legal` and
        :func:`accss3d.isatable.check_tokens`.
    mem : ndarray (mem_bytes,) uint8
        The external memory, initialised from the program.
    end : int
        Instructions to execute (up to and including HALT).
    K : ndarray (end, 3) int64 or None
        Vector clocks (:func:`knowledge`); required with ``check_races``.
    check_races : bool

    Returns
    -------
    status, instruction, counters, state
        ``(OK, -1, ...)``, or ``(VIOLATION, n, ...)`` for the first instruction ``n`` that
        reads or writes outside L1 or races; the counters so far; the machine state at the
        end: per L1 kind (``ifm``, ``wgt``, ``rbk``, ``bias``) its bytes, last LOAD writing
        and last COMPUTE reading each word; ``ofm``: accumulators, last writer, its engine,
        last STORE reading each row; ``dram``: last STORE writing and last LOAD reading each
        bus word; ``requant``: the requantization in force (what the vectorized engine
        keeps, so that it can go on from there).
    """
    cfg = program.cfg
    R, C = cfg.pe_rows, cfg.pe_cols
    ab, wb, accb = cfg.act_bits // 8, cfg.weight_bits // 8, cfg.acc_bits // 8
    code = np.ascontiguousarray(program.code, dtype=np.int64)

    def bank(kind, lanes, nbytes):
        words = cfg.words(kind) if kind != "bias" else 1
        return (
            np.zeros(words * lanes * nbytes, np.uint8),
            np.full(words, -1, np.int64),  # last LOAD writing each word
            np.full(words, -1, np.int64),  # last COMPUTE reading it
        )

    # Products in floating point: exact while no sum of R products can reach 2^24 (float32)
    # or 2^53 (float64); 8-bit operands on up to 1024 rows stay in float32.
    bits = cfg.act_bits + cfg.weight_bits - 2 + max(1, R - 1).bit_length()
    fdt = np.float32 if bits < 24 else np.float64
    ifm, wgt, rbk, bias = (
        bank("ifm", R, ab),
        bank("wgt", C, wb),
        bank("rbk", 1, 4),
        bank("bias", C, accb),
    )
    # Typed views of the bytes (the same memory): lanes as signed ints, entries as uint32.
    ifm_v = ifm[0].view(f"<i{ab}").reshape(-1, R)
    wgt_v = wgt[0].view(f"<i{wb}").reshape(-1, C)
    rbk_v = rbk[0].view("<u4")
    rows = cfg.words("ofm")
    ofm = np.zeros((rows, C), np.int64)
    ow = np.full(rows, -1, np.int64)
    oweng = np.full(rows, _COMPUTE, np.int64)
    os_ = np.full(rows, -1, np.int64)
    B = cfg.bus_bytes
    nbus = len(mem) // B + 2
    dram_w = np.full(nbus, -1, np.int64)
    dram_r = np.full(nbus, -1, np.int64)
    if K is None:
        K = np.full((max(end, 1), 3), -1, np.int64)
    ops = code[:end, COL["op"]]
    longest = int(
        max(
            1,
            code[:end, COL["pairs"]][ops == int(Op.COMPUTE)].max(initial=0),
            code[:end, COL["rows"]][ops == int(Op.FILL)].max(initial=0),
        )
    )
    counters = np.zeros(8, np.int64)  # macs, pairs, rd_bytes per Kind (5), wr_bytes
    rq = np.array([1, 0, 0], np.int64)  # requantization in force (multiplier, shift, relu)
    status, n = _execute(
        code, end, K, bool(check_races), mem, B, R, C, ab, wb, accb, cfg.acc_bits,
        cfg.act_bits, ifm[0], ifm_v, ifm[1], ifm[2], wgt[0], wgt_v, wgt[1], wgt[2],
        rbk[0], rbk_v, rbk[1], rbk[2], bias[0], bias[1], bias[2],
        ofm, ow, oweng, os_, dram_w, dram_r, counters, np.empty((R, C), fdt),
        np.empty((longest, R), fdt), rq,
    )  # fmt: skip
    out = {
        "macs": int(counters[0]),
        "pairs": int(counters[1]),
        "rd_bytes": {k.name: int(counters[2 + int(k)]) for k in Kind},
        "wr_bytes": int(counters[7]),
    }
    state = {
        "ifm": ifm,
        "wgt": wgt,
        "rbk": rbk,
        "bias": bias,
        "ofm": (ofm, ow, oweng, os_),
        "dram": (dram_w, dram_r),
        "requant": tuple(int(v) for v in rq),
    }
    return int(status), int(n), out, state
