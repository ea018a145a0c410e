"""Owns program order and the token protocol of one layer's blocks.

Input: blocks in a sequentially valid order (:mod:`accss3d.compiler.emit`), each tagged with
the L1 buffer versions it reads and writes.  Two steps:

1. **Dependencies and estimated times.**  A block that reads a buffer version depends on
   the last block of another engine that wrote it (data ready); a block that writes a new
   version depends on the last blocks of other engines that read or wrote the previous one
   (buffer free).  Walking the blocks in order with one clock per engine gives every block
   an estimated start (``max(engine free, dependencies done)``) and every instruction a
   time (the block start plus the estimated costs before it).
2. **Program order and tokens.**  Instructions are sorted by estimated time (stable), which
   interleaves the three engines' streams the way they will run, so the in-order dispatcher
   keeps every queue fed.  For every block and every other engine it depends on, the block's
   first instruction waits (``wp``/``wn``) for a token that the dependency's last
   instruction signals (``sn``/``sp``) - unless an earlier wait of the same engine already
   covers it (engines complete in order).  Waits are matched to signals in order, every
   signal precedes its wait in program order, and each dependency is guarded: the program
   is token-consistent and race-free by construction (the functional model re-checks both).

Both walks over the blocks are sequential and run compiled (numba); :func:`place` writes the
instructions in program order straight into the program table.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..arch import ArchConfig
from ..cyclemodel import Timing
from ..isa import Engine, Op, StoreMode
from ..isatable import COL
from .emit import NCOL, Blocks

__all__ = ["order_blocks", "program_order", "place", "estimated_costs", "block_costs"]


def estimated_costs(rows: np.ndarray, cfg: ArchConfig, timing: Timing) -> np.ndarray:
    """Estimated cycles of every instruction (the program-order estimate, vectorized)."""
    op = rows[:, COL["op"]]
    cost = np.ones(len(rows), dtype=np.float64)
    sel = op == int(Op.COMPUTE)
    cost[sel] = timing.compute_cycles(rows[sel, COL["pairs"]], cfg)
    sel = op == int(Op.FILL)
    cost[sel] = rows[sel, COL["rows"]]
    sel = op == int(Op.LOAD)
    cost[sel] = timing.dma_estimate(rows[sel, COL["rows"]], rows[sel, COL["row_bytes"]], cfg)
    sel = op == int(Op.STORE)
    per = np.where(
        rows[sel, COL["sub"]] == int(StoreMode.RAW), cfg.acc_bits // 8, cfg.act_bits // 8
    )
    cost[sel] = (
        timing.dma_estimate(rows[sel, COL["rows"]], rows[sel, COL["channels"]] * per, cfg)
        + timing.store_read
        + timing.store_write
    )
    cost[op == int(Op.CONFIG)] = timing.config
    return cost


_N_KEYS = 10  # buffer ids (emit._POOL_ID: five pools of at most two buffers)


@njit(cache=True)
def _walk(engine, reads, writes, block_cost):  # pragma: no cover - compiled
    """Dependencies (CSR) and estimated start and end of every block; ``bad``: the first
    block that reads a buffer version never written (-1: none)."""
    n = len(engine)
    ver = np.full(_N_KEYS, -1, dtype=np.int64)  # -1: never written
    writer = np.full(_N_KEYS, -1, dtype=np.int64)
    reader = np.full((_N_KEYS, 3), -1, dtype=np.int64)  # last reader block per engine
    clock = np.zeros(3)
    start = np.zeros(n)
    end = np.zeros(n)
    dep_ptr = np.zeros(n + 1, dtype=np.int64)
    deps = np.empty(8 * n, dtype=np.int64)
    nd = 0
    for b in range(n):
        e = engine[b]
        d0 = nd
        for r in range(4):
            key = reads[b, r, 0]
            if key < 0:
                continue
            if ver[key] != reads[b, r, 1]:
                return start, end, dep_ptr, deps, b
            w = writer[key]
            if w >= 0 and engine[w] != e:
                deps[nd] = w
                nd += 1
        key = writes[b, 0]
        if key >= 0:
            if ver[key] != writes[b, 1]:
                if ver[key] >= 0:
                    w = writer[key]
                    if w >= 0 and engine[w] != e:
                        deps[nd] = w
                        nd += 1
                    for f in range(3):
                        if f != e and reader[key, f] >= 0:
                            deps[nd] = reader[key, f]
                            nd += 1
                ver[key] = writes[b, 1]
                for f in range(3):
                    reader[key, f] = -1
            writer[key] = b
        for r in range(4):
            key = reads[b, r, 0]
            if key >= 0:
                reader[key, e] = b
        t0 = clock[e]
        for q in range(d0, nd):
            if end[deps[q]] > t0:
                t0 = end[deps[q]]
        dep_ptr[b + 1] = nd
        start[b] = t0
        t1 = t0 + block_cost[b]
        end[b] = t1
        clock[e] = t1
    return start, end, dep_ptr, deps, -1


@njit(cache=True)
def _tokens(engine, dep_ptr, deps, first_prog, last_prog):  # pragma: no cover - compiled
    """Program positions of the wp, wn, sp, sn bits (four arrays, each with its count) and
    the first block depending on an engine no token direction connects (-1: none)."""
    n = len(engine)
    out = np.empty((4, n), dtype=np.int64)
    cnt = np.zeros(4, dtype=np.int64)
    covered = np.full((3, 3), -1, dtype=np.int64)  # [engine][engine it waited for]: position
    need = np.empty(3, dtype=np.int64)  # per engine: the last position waited for
    for b in range(n):
        a, z = dep_ptr[b], dep_ptr[b + 1]
        if a == z:
            continue
        e = engine[b]
        need[:] = -1
        for q in range(a, z):
            x = deps[q]
            p = last_prog[x]
            if p > need[engine[x]]:
                need[engine[x]] = p
        for f in range(3):
            req = need[f]
            if req < 0 or req <= covered[e, f]:
                continue
            covered[e, f] = req
            if f == e - 1:  # the previous engine produced: wait wp, it signals sn
                out[0, cnt[0]] = first_prog[b]
                out[3, cnt[3]] = req
                cnt[0] += 1
                cnt[3] += 1
            elif f == e + 1:  # the next engine: wait wn, it signals sp
                out[1, cnt[1]] = first_prog[b]
                out[2, cnt[2]] = req
                cnt[1] += 1
                cnt[2] += 1
            else:
                return out, cnt, b, f
    return out, cnt, -1, -1


@njit(cache=True)
def _row_costs(rec, given_cost, tpl_cost, out):  # pragma: no cover - compiled
    """Estimated cost of every instruction in natural order (see :class:`Blocks`)."""
    at = 0
    for b in range(rec.shape[0]):
        n = rec[b, 1]
        if rec[b, 2] >= 0:
            g = rec[b, 2]
            for q in range(n):
                out[at + q] = given_cost[g + q]
        else:
            g = rec[b, 3]
            for q in range(n):
                out[at + q] = tpl_cost[g + q]
        at += n


def block_costs(blocks: Blocks, cfg: ArchConfig, timing: Timing) -> np.ndarray:
    """:func:`estimated_costs` of the instructions of ``blocks`` in natural order."""
    cost = np.empty(blocks.n_rows, dtype=np.float64)
    tpl_cost = np.ones(len(blocks.tpl), dtype=np.float64)
    tpl_cost[:] = timing.compute_cycles(blocks.tpl[:, 1], cfg)
    _row_costs(blocks.rec, estimated_costs(blocks.given, cfg, timing), tpl_cost, cost)
    return cost


def program_order(
    blocks: Blocks, cfg: ArchConfig, timing: Timing
) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """Program order and tokens of a layer's blocks.

    Returns
    -------
    (order, tokens, cycles)
        The permutation of ``blocks.rows`` into program order, the program positions whose
        ``wp``, ``wn``, ``sp`` and ``sn`` bits are set (:func:`place` applies both) and the
        estimated cycles.
    """
    n_blk = len(blocks)
    if not n_blk:
        return np.zeros(0, dtype=np.int64), {}, 0.0
    engines = blocks.engine
    counts = blocks.counts
    first_nat = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last_nat = first_nat + counts - 1
    n_rows = blocks.n_rows
    cost = block_costs(blocks, cfg, timing)
    block_cost = np.add.reduceat(cost, first_nat)
    start, end, dep_ptr, deps, bad = _walk(engines, blocks.reads, blocks.writes, block_cost)
    if bad >= 0:
        raise AssertionError(f"block {bad} reads a buffer version that was never written")
    # Instruction times and program order.
    excl = np.cumsum(cost) - cost
    within = excl - np.repeat(excl[first_nat], counts)
    times = np.repeat(start, counts) + within
    order = np.argsort(times, kind="stable")
    pos = np.empty(n_rows, dtype=np.int64)
    pos[order] = np.arange(n_rows)
    bits, cnt, b, f = _tokens(engines, dep_ptr, deps, pos[first_nat], pos[last_nat])
    if b >= 0:
        raise AssertionError(
            f"block {b} ({Engine(int(engines[b])).name}) depends on the {Engine(f).name} "
            f"engine: no token direction connects them"
        )
    tokens = {name: bits[col, : cnt[col]] for col, name in enumerate(("wp", "wn", "sp", "sn"))}
    return order, tokens, float(end.max())


def place(blocks: Blocks, order: np.ndarray, tokens: dict, out: np.ndarray) -> None:
    """Write the instructions of ``blocks`` in program order with their token bits into
    ``out`` (zeroed, one row per instruction)."""
    blocks.write(order, out)
    for name, at in tokens.items():
        out[at, COL[name]] |= 1


def order_blocks(blocks: Blocks, cfg: ArchConfig, timing: Timing) -> tuple[np.ndarray, float]:
    """Program order with tokens of a layer's blocks.

    Returns
    -------
    (table, cycles)
        The instruction table (program order, token bits set) and the estimated cycles.
    """
    order, tokens, cycles = program_order(blocks, cfg, timing)
    table = np.zeros((blocks.n_rows, NCOL), dtype=np.int64)
    place(blocks, order, tokens, table)
    return table, cycles
