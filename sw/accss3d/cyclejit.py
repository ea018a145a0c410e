"""Owns the compiled engine of the cycle model: :func:`accss3d.cyclemodel._simulate` in numba.

The same event-driven pass over the instructions as the reference Python engine of
:mod:`accss3d.cyclemodel`, rule for rule and in the same order, so that every cycle is the
same (the engines are tested against each other): the fetch bursts placed on the shared read
channel when the instruction that gates them is dispatched, the load bursts placed after
them, the same pruning of the channel's history every 256 instructions.  The Python lists
become int64 arrays: the channel's busy intervals and each initiator's requests live in
``[lo, hi)`` of preallocated rows, compacted when full (and the kernel runs again on longer
rows when what lives fills more than half; pruning keeps it to a few hundred entries), the
last ``outstanding`` load bursts and store responses in rings, the tokens of each direction
in an array of the size the program needs.  The hot loop (one iteration per load burst) is
written out: numba counts references to arrays passed to a helper that calls another
function, and to array variables reassigned in a loop, at every iteration (2x slower).

Cost: about 25 ns per DMA burst, all included (0.3 s on the 1.34M instructions and 12.5M
bursts of minkunet18 on ``room:0:20k``, where the Python engine takes 30 s).

It only runs well-formed programs to the end: when a wait finds no token (or a STORE has no
burst) it returns :data:`STOPPED`, and :mod:`accss3d.cyclemodel` lets the Python engine raise
its error (the rare path keeps one wording).  Compiled once per machine (``cache=True``), a
few seconds on first use.

# Ref: accss3d.cyclemodel (the reference engine and the timing rules).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .isa import Kind, Op
from .isatable import COL

__all__ = ["run", "OK", "STOPPED", "FULL", "N_OUT", "N_WORK"]

OK, STOPPED, FULL = 0, 1, 2
# Column indices and opcodes as plain ints (numba freezes module globals at compile time).
_OP, _SUB, _WP, _WN, _SP, _SN = (COL[k] for k in ("op", "sub", "wp", "wn", "sp", "sn"))
_ROWS, _ROW_BYTES, _CHANNELS, _PAIRS = (COL[k] for k in ("rows", "row_bytes", "channels", "pairs"))
_EXT_ADDR, _EXT_STRIDE = COL["ext_addr"], COL["ext_stride"]
#: Columns the kernel reads (a negative value anywhere: the Python engine runs the table).
_CHECKED = (_SUB, _WP, _WN, _SP, _SN, _ROWS, _ROW_BYTES, _CHANNELS, _PAIRS, _EXT_ADDR, _EXT_STRIDE)
_O_COMPUTE, _O_FILL, _O_STORE, _O_CONFIG = (
    int(o) for o in (Op.COMPUTE, Op.FILL, Op.STORE, Op.CONFIG)
)
_N_KINDS = len(Kind)
_PAGE = 4096
_FAR = -(10**9)

#: Layout of the ``out`` array: counters, per-engine busy cycles, bytes per kind (5 LOAD
#: kinds, then the STORE bytes).
(
    O_CYCLES,
    O_BUSY,
    O_MEM_STALL,
    O_MACS,
    O_INSTRS,
    O_RD,
    O_WR,
    O_BUSY_LOAD,
    O_BUSY_COMPUTE,
    O_BUSY_STORE,
    O_KIND,
) = range(11)
N_OUT = O_KIND + 6
#: Rows of the ``work`` array: the read channel's busy intervals (starts, ends), the fetch
#: unit's and the load engine's burst requests (request cycles, running last beats).
N_WORK = 6


# ------------------------------------------------------------------ sorted-array helpers
# Scalar results only and inlined into the kernel (a call that passes arrays costs reference
# counting in the hot loop).
@njit(inline="always")
def _bisect_left(a, lo, hi, x):
    """:func:`bisect.bisect_left` on ``a[lo:hi]`` (an index into ``a``)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(inline="always")
def _bisect_right(a, lo, hi, x):
    """:func:`bisect.bisect_right` on ``a[lo:hi]`` (an index into ``a``)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(inline="always")
def _merge(cs, ce, lo, hi, first, last):
    """Make ``[first, last]`` busy in the intervals ``[lo, hi)``: the new ``hi``.

    The arrays must have room for one more interval after ``hi``.
    """
    a = _bisect_left(ce, lo, hi, first - 1)
    b = _bisect_right(cs, lo, hi, last + 1)
    if a < b:
        first = min(first, cs[a])
        last = max(last, ce[b - 1])
    if b == a:  # insert at a
        for k in range(hi, a, -1):
            cs[k] = cs[k - 1]
            ce[k] = ce[k - 1]
        hi += 1
    elif b - a > 1:  # drop [a + 1, b)
        gone = b - a - 1
        for k in range(b, hi):
            cs[k - gone] = cs[k]
            ce[k - gone] = ce[k]
        hi -= gone
    cs[a] = first
    ce[a] = last
    return hi


@njit(inline="always")
def _take(cs, ce, lo, hi, earliest, beats):
    """Occupy the first ``beats`` free cycles from ``earliest``: ``(last cycle, new hi)``.

    The arrays must have room for one more interval after ``hi``.
    """
    i = _bisect_left(ce, lo, hi, earliest)
    t = earliest
    first = -1
    while beats > 0:
        if i < hi and cs[i] <= t:
            t = max(t, ce[i] + 1)
            i += 1
            continue
        n = beats if i == hi else min(beats, cs[i] - t)
        if first < 0:
            first = t
        beats -= n
        t += n
    hi = _merge(cs, ce, lo, hi, first, t - 1)
    return t - 1, hi


@njit(inline="always")
def _dma(rows, nbytes, ext, stride, B, max_beats):
    """The burst cursor of a DMA (:func:`_burst`): gapless rows as one run, else one per row.

    ``(runs, beats per run, ext, stride, B, max_beats, run, offset in the page, beats left)``.
    """
    beats = -(-nbytes // B)
    if rows == 1 or stride == beats * B:
        return (1, rows * beats, ext, stride, B, max_beats, -1, 0, 0)
    return (rows, beats, ext, stride, B, max_beats, -1, 0, 0)


@njit(inline="always")
def _burst(cur):
    """The next burst of a DMA: ``(beats, cursor)``, 0 beats after the last.

    A burst takes at most ``max_beats`` of its run and never crosses a 4 KB page.
    """
    runs, run_beats, ext, stride, B, max_beats, r, offset, left = cur
    while left == 0:
        r += 1
        if r >= runs:
            return 0, cur
        offset = (ext + r * stride) % _PAGE
        left = run_beats
    b = min(left, max_beats, (_PAGE - offset % _PAGE) // B)
    return b, (runs, run_beats, ext, stride, B, max_beats, r, offset + b * B, left - b)


@njit(inline="always")
def _wait(tok, used, pushed, d, seen):
    """The cycle a wait on direction ``d`` sees its token (consumed); none: 0, and the flag
    ``used[4]`` set."""
    if used[d] >= pushed[d]:
        used[4] = 1
        return 0
    used[d] += 1
    return tok[d, used[d] - 1] + seen


@njit(inline="always")
def _signal(tok, pushed, d, cycle):
    """A token on direction ``d`` signalled at ``cycle``."""
    tok[d, pushed[d]] = cycle
    pushed[d] += 1


@njit(cache=True)
def _make_room(work, clo, chi, flo, fhi, llo, lhi):
    """Move the live entries of the ``work`` rows (``[lo, hi)`` of each pair) to the front.

    Returns ``(ok, clo, chi, flo, fhi, llo, lhi)``; not ok when the live entries would fill
    more than half a row: the caller then runs again with longer rows (so that moving entries
    costs a constant per entry added).  The rows are never replaced inside the kernel: numba
    counts references to an array variable reassigned in a loop at every iteration.
    """
    bounds = ((clo, chi), (flo, fhi), (llo, lhi))
    out = [0] * 6
    for p in range(3):
        lo, hi = bounds[p]
        n = hi - lo
        if 2 * (n + 2) > work.shape[1]:
            return False, clo, chi, flo, fhi, llo, lhi
        for k in range(n):
            work[2 * p, k] = work[2 * p, lo + k]
            work[2 * p + 1, k] = work[2 * p + 1, lo + k]
        out[2 * p + 1] = n
    return True, out[0], out[1], out[2], out[3], out[4], out[5]


# ------------------------------------------------------------------ the kernel
@njit(cache=True)
def run(code, lut, params, trace, dispatched_at, out, work):
    """Cycle-model the instruction table ``code`` (up to and including its first HALT).

    Parameters
    ----------
    code : ndarray of int64, shape (n, len(COL))
        The instructions (:mod:`accss3d.isatable`).
    lut : ndarray of int64
        The engine of every opcode (0 load, 1 compute, 2 store, 3 SYNC/HALT, -1 none).
    params : ndarray of int64
        ``R, C, G, B, max_burst_beats, queue_depth, per_burst, buf_instr, bpi, depth``, the
        13 :class:`accss3d.cyclemodel.Timing` fields in their order, ``INSTR_BYTES`` and the
        bytes of an accumulator and of an activation.
    trace : ndarray of int64, shape (n, 4) or (0, 4)
        Filled with ``(dispatch, accept, first action, done)`` when it has ``n`` rows.
    dispatched_at : ndarray of int64
        Filled with the dispatch cycles.
    out : ndarray of int64
        Filled with the counters (``O_*`` layout).
    work : ndarray of int64, shape (N_WORK, capacity)
        Room for the read channel's history (see :data:`N_WORK`).

    Returns
    -------
    status : int
        :data:`OK`; or, and what it filled in is then meaningless, :data:`STOPPED` (what
        only the Python engine runs: an unknown opcode, a negative field, a LOAD kind out
        of range, an empty DMA row, a wait without a token, a STORE without a burst) or
        :data:`FULL` (``work`` too short: run again with a longer one).
    n : int
        The instruction that stopped it (``len(code)`` when OK).
    """
    end = code.shape[0]
    R, C, G, B, mb, Q, per_burst, buf_instr, bpi, depth = params[:10]
    L, O, fetch_start, load_request, load_signal, issue_after_idle = params[10:16]
    store_read, store_write, store_signal, store_reissue = params[17:21]
    config, token_seen = params[21], params[22]
    INSTR_BYTES, acc_bytes, act_bytes = params[23], params[24], params[25]
    do_trace = trace.shape[0] == end

    # Engines and DMA row bytes; what only the Python engine runs; the tokens signalled per
    # direction: 0 load->compute, 1 compute->load, 2 compute->store, 3 store->compute.
    eng = np.empty(end, np.int64)
    nbytes = np.zeros(end, np.int64)
    n_tokens = np.zeros(4, np.int64)
    for n in range(end):
        o = code[n, _OP]
        e = lut[o] if 0 <= o < len(lut) else -1
        for k in _CHECKED:
            if code[n, k] < 0:
                e = -1
        eng[n] = e
        if e == 0:
            nbytes[n] = code[n, _ROW_BYTES]
            if code[n, _SUB] >= _N_KINDS:
                e = -1
        elif o == _O_STORE:
            nbytes[n] = code[n, _CHANNELS] * (acc_bytes if code[n, _SUB] else act_bytes)
        if e < 0 or ((e == 0 or o == _O_STORE) and code[n, _ROWS] > 0 and nbytes[n] <= 0):
            return STOPPED, n
        if e == 0 and code[n, _SN]:
            n_tokens[0] += 1
        elif e == 1:
            n_tokens[1] += code[n, _SP] != 0
            n_tokens[2] += code[n, _SN] != 0
        elif e == 2 and code[n, _SP]:
            n_tokens[3] += 1
    tok = np.empty((4, max(1, n_tokens.max())), np.int64)
    pushed = np.zeros(4, np.int64)
    used = np.zeros(5, np.int64)  # and a flag: a wait found no token
    # Accept cycles of each engine's last Q instructions (ring).
    queue = np.zeros((3, Q), np.int64)
    queued = np.zeros(3, np.int64)
    # The read channel: busy intervals [cs, ce] in [clo, chi); the initiators' requests and
    # running last beats in [flo, fhi) / [llo, lhi), with the last beat pruned in fbase/lbase.
    cs, ce, fr, fe, lr, le = work[0], work[1], work[2], work[3], work[4], work[5]
    cap = work.shape[1]
    clo = chi = 0
    flo = fhi = 0
    fbase = -1
    llo = lhi = 0
    lbase = -1
    # Load engine: the last O data ends (ring), the two latest finishes.
    lends = np.zeros(O, np.int64)
    n_lends = 0
    l_slot_free = 0
    fin0 = fin1 = _FAR
    gen_free = 0
    last_req = -1
    data_end = -1
    store_free = 0
    resp = np.zeros(O, np.int64)
    c_slot_free = 0
    last_accept = _FAR
    c_last_issue = -1
    iss0 = iss1 = _FAR
    done_all = 0
    dispatch = -1
    out[:] = 0
    # Fetch: burst k covers instructions k * per_burst on; its first beat.
    n_bursts = -(-end // per_burst)
    fetch_first = np.empty(n_bursts, np.int64)
    next_k = 0
    f_req = fetch_start - 1
    f_last = -1

    n = -1  # the instruction just dispatched (-1: before the first)
    while True:
        # Fetch bursts whose request waits for instruction n's dispatch (gate == n), and
        # before the start those with no gate.
        while next_k < n_bursts and (next_k + 1) * per_burst - buf_instr - 1 <= n:
            k = next_k
            next_k += 1
            req = f_req + 1
            gate = (k + 1) * per_burst - buf_instr - 1
            if gate >= 0:
                req = max(req, dispatched_at[gate])
            i = _bisect_left(lr, llo, lhi, req)  # load bursts requested before it
            after = le[i - 1] if i > llo else lbase
            first = max(req + L, f_last + 1, after + 1)
            cnt = min(per_burst, end - k * per_burst)
            last = first + cnt * bpi - 1
            # Claim [first, last]: load beats already there move after it.
            if max(chi + 2, fhi + 1) > cap:
                ok, clo, chi, flo, fhi, llo, lhi = _make_room(work, clo, chi, flo, fhi, llo, lhi)
                if not ok:
                    return FULL, n
            i = _bisect_left(ce, clo, chi, first)
            over = 0
            while i < chi and cs[i] <= last:
                over += min(last, ce[i]) - max(first, cs[i]) + 1
                i += 1
            chi = _merge(cs, ce, clo, chi, first, last)
            if over:
                _, chi = _take(cs, ce, clo, chi, last + 1, over)
                # What the load engine has not handed on yet moves ``over`` later.
                if data_end >= first:
                    data_end += over
                for j in range(O):
                    if lends[j] >= first:
                        lends[j] += over
                if fin0 >= first:
                    fin0 += over
                if fin1 >= first:
                    fin1 += over
                for j in range(used[0], pushed[0]):
                    if tok[0, j] >= first:
                        tok[0, j] += over
            f_req = req
            f_last = last
            fr[fhi] = req
            fe[fhi] = max(last, fe[fhi - 1]) if fhi > flo else max(last, fbase)
            fhi += 1
            if fhi < 0:
                return FULL, n
            fetch_first[k] = first
            out[O_RD] += cnt * INSTR_BYTES

        if n >= 0 and eng[n] != 3:
            e = eng[n]
            o = code[n, _OP]
            d = dispatch
            earliest = d + 1
            wait = 0
            if e == 0:  # LOAD
                a = max(earliest, l_slot_free, fin0 + 1)
                cmd = a + 1
                if code[n, _WN]:
                    s = _wait(tok, used, pushed, 1, token_seen)
                    cmd = max(cmd, s)
                cmd = max(cmd, gen_free)
                req = max(cmd + load_request - 1, last_req + 1) - 1
                # Bursts: gapless rows as one run, else one run per row; each run cut at
                # max_burst_beats and at 4 KB pages.
                nb, nr = nbytes[n], code[n, _ROWS]
                cur = _dma(nr, nb, code[n, _EXT_ADDR], code[n, _EXT_STRIDE], B, mb)
                total = 0
                while True:
                    b, cur = _burst(cur)
                    if b == 0:
                        break
                    total += b
                    # One burst, in the in-order stream of all LOADs' bursts.
                    req += 1
                    w = n_lends % O
                    if n_lends >= O:
                        req = max(req, lends[w] + 1)
                    i = _bisect_right(fr, flo, fhi, req)  # the fetch bursts before it
                    after = fe[i - 1] if i > flo else fbase
                    start = max(req + L, data_end + 1, after + 1)
                    if max(chi + 2, lhi + 1) > cap:
                        ok, clo, chi, flo, fhi, llo, lhi = _make_room(
                            work, clo, chi, flo, fhi, llo, lhi
                        )
                        if not ok:
                            return FULL, n
                    if chi == clo or start > ce[chi - 1]:  # free from start on (usual)
                        data_end = start + b - 1
                        if chi > clo and ce[chi - 1] == start - 1:
                            ce[chi - 1] = data_end
                        else:
                            cs[chi] = start
                            ce[chi] = data_end
                            chi += 1
                    else:
                        data_end, chi = _take(cs, ce, clo, chi, start, b)
                    lr[lhi] = req
                    le[lhi] = max(data_end, le[lhi - 1]) if lhi > llo else max(data_end, lbase)
                    lhi += 1
                    lends[w] = data_end
                    n_lends += 1
                last_req = req
                gen_free = req + 1
                l_slot_free = cmd + 1
                fin0 = fin1
                fin1 = data_end
                done = data_end + load_signal
                out[O_RD] += total * B
                out[O_KIND + code[n, _SUB]] += nr * nb
                out[O_BUSY_LOAD] += total
                if code[n, _SN]:
                    _signal(tok, pushed, 0, done)
                first_act = cmd + load_request - 1
            elif e == 1:  # COMPUTE, FILL, NOP
                a = max(earliest, c_slot_free)
                is_compute = o == _O_COMPUTE
                if is_compute:
                    a = max(a, last_accept + R + 1, iss0 + G)
                before = a
                if code[n, _WP]:
                    s = _wait(tok, used, pushed, 0, token_seen)
                    if s > a:
                        wait = s - a
                    a = max(a, s)
                if code[n, _WN]:
                    s = _wait(tok, used, pushed, 3, token_seen)
                    a = max(a, s)
                out[O_MEM_STALL] += max(0, min(wait, a - before))
                take = max(a + issue_after_idle - 1, c_last_issue)
                cnt = code[n, _PAIRS] if is_compute else (code[n, _ROWS] if o == _O_FILL else 1)
                first_act = take + 1
                last_issue = first_act + cnt - 1
                c_slot_free = take + 1
                c_last_issue = last_issue
                if is_compute:
                    last_accept = a
                    iss0 = iss1
                    iss1 = last_issue
                    out[O_BUSY] += cnt
                    out[O_MACS] += cnt * R * C
                out[O_BUSY_COMPUTE] += cnt
                done = last_issue + depth
                if code[n, _SP]:
                    _signal(tok, pushed, 1, done)
                if code[n, _SN]:
                    _signal(tok, pushed, 2, done)
            else:  # STORE, CONFIG
                a = max(earliest, store_free)
                if code[n, _WP]:
                    s = _wait(tok, used, pushed, 2, token_seen)
                    a = max(a, s)
                if o == _O_CONFIG:
                    done = a + config - 1
                    first_act = a
                else:
                    nb, nr = nbytes[n], code[n, _ROWS]
                    first_act = a + store_read + store_write
                    last_beat = first_act - 1
                    k = 0
                    cur = _dma(nr, nb, code[n, _EXT_ADDR], code[n, _EXT_STRIDE], B, mb)
                    while True:
                        b, cur = _burst(cur)
                        if b == 0:
                            break
                        start = last_beat + 1
                        if k >= O:
                            start = max(start, resp[k % O] + store_reissue)
                        last_beat = start + b - 1
                        resp[k % O] = last_beat + L
                        k += 1
                    if k == 0:
                        return STOPPED, n  # no burst: the Python engine raises
                    done = resp[(k - 1) % O] + store_signal
                    out[O_WR] += nr * nb
                    out[O_KIND + 5] += nr * nb
                store_free = done + 1
                out[O_BUSY_STORE] += done - a + 1
                if code[n, _SP]:
                    _signal(tok, pushed, 3, done)
            if used[4]:
                return STOPPED, n
            queue[e, queued[e] % Q] = a
            queued[e] += 1
            done_all = max(done_all, done)
            if do_trace:
                trace[n, 0] = d
                trace[n, 1] = a
                trace[n, 2] = first_act
                trace[n, 3] = done

        n += 1
        if n == end:
            break
        if n % 256 == 0:
            # Every later burst is requested after the current fetch request and after the
            # last dispatch: forget what lies before.
            floor = min(f_req, dispatched_at[n - 1])
            if chi - clo > 64:
                clo = _bisect_left(ce, clo, chi, floor - 1)
            i = _bisect_left(fr, flo, fhi, floor)
            if i > flo:
                fbase = fe[i - 1]
                flo = i
            i = _bisect_left(lr, llo, lhi, floor)
            if i > llo:
                lbase = le[i - 1]
                llo = i
        # In the buffer the cycle after its last beat; dispatched in order, one per cycle.
        ready = fetch_first[n // per_burst] + (n % per_burst + 1) * bpi
        o = code[n, _OP]
        e = eng[n]
        if e == 3:  # SYNC, HALT: after every earlier instruction completed
            d = max(dispatch + 1, ready, done_all + 1)
            done_all = d
            if do_trace:
                for j in range(4):
                    trace[n, j] = d
        else:
            d = max(dispatch + 1, ready)
            if queued[e] >= Q:
                d = max(d, queue[e, queued[e] % Q])  # a slot frees when the engine accepts
            out[O_INSTRS] += 1
        dispatch = d
        dispatched_at[n] = d
    out[O_CYCLES] = max(done_all, dispatch) + 1
    return OK, end
