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
"""

from __future__ import annotations

import numpy as np

from ..arch import ArchConfig
from ..cyclemodel import Timing
from ..isa import Engine, Op, StoreMode
from ..isatable import COL
from .emit import NCOL, Block

__all__ = ["order_blocks", "estimated_costs"]


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


def order_blocks(blocks: list[Block], cfg: ArchConfig, timing: Timing) -> tuple[np.ndarray, float]:
    """Program order with tokens of a layer's blocks.

    Returns
    -------
    (table, cycles)
        The instruction table (program order, token bits set) and the estimated cycles.
    """
    n_blk = len(blocks)
    if not n_blk:
        return np.zeros((0, NCOL), dtype=np.int64), 0.0
    engines = np.array([b.engine for b in blocks], dtype=np.int64)
    counts = np.array([len(b.rows) for b in blocks], dtype=np.int64)
    first_nat = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last_nat = first_nat + counts - 1
    rows = np.concatenate([b.rows for b in blocks])
    cost = estimated_costs(rows, cfg, timing)
    block_cost = np.add.reduceat(cost, first_nat).tolist()
    clock = [0.0, 0.0, 0.0]
    start = [0.0] * n_blk
    end = [0.0] * n_blk
    eng = engines.tolist()
    deps: list = [None] * n_blk  # blocks of other engines each block depends on
    state: dict = {}  # buffer -> [version, last writer block, {engine: last reader block}]
    for b, blk in enumerate(blocks):
        e = blk.engine
        d = []
        reads = blk.reads
        for key, ver in reads:
            st = state.get(key)
            if st is None or st[0] != ver:
                raise AssertionError(f"block {b} reads {key} v{ver} that was never written")
            w = st[1]
            if w is not None and eng[w] != e:
                d.append(w)
        for key, ver in blk.writes:
            st = state.get(key)
            if st is None or st[0] != ver:
                if st is not None:
                    w = st[1]
                    if w is not None and eng[w] != e:
                        d.append(w)
                    for f, r in st[2].items():
                        if f != e:
                            d.append(r)
                state[key] = [ver, b, {}]
            else:
                st[1] = b
        for key, _ in reads:
            state[key][2][e] = b
        t0 = clock[e]
        if d:
            deps[b] = d
            for x in d:
                if end[x] > t0:
                    t0 = end[x]
        start[b] = t0
        t1 = t0 + block_cost[b]
        end[b] = t1
        clock[e] = t1
    start = np.array(start)
    # Instruction times and program order.
    excl = np.cumsum(cost) - cost
    within = excl - np.repeat(excl[first_nat], counts)
    times = np.repeat(start, counts) + within
    order = np.lexsort((np.arange(len(rows)), times))
    pos = np.empty(len(rows), dtype=np.int64)
    pos[order] = np.arange(len(rows))
    first_prog = pos[first_nat].tolist()
    last_prog = pos[last_nat].tolist()
    bits: tuple[list, ...] = ([], [], [], [])  # wp wn sp sn: program positions
    covered = [[-1] * 3 for _ in range(3)]  # [engine][engine it waited for]: last position
    for b in range(n_blk):
        d = deps[b]
        if d is None:
            continue
        e = eng[b]
        need = [-1, -1, -1]  # per engine: the last position waited for
        for x in d:
            p = last_prog[x]
            if p > need[eng[x]]:
                need[eng[x]] = p
        cov = covered[e]
        for f in range(3):
            req = need[f]
            if req < 0 or req <= cov[f]:
                continue
            cov[f] = req
            if f == e - 1:  # the previous engine produced: wait wp, it signals sn
                bits[0].append(first_prog[b])
                bits[3].append(req)
            elif f == e + 1:  # the next engine: wait wn, it signals sp
                bits[1].append(first_prog[b])
                bits[2].append(req)
            else:
                raise AssertionError(
                    f"block {b} ({Engine(e).name}) depends on the {Engine(f).name} engine: no "
                    f"token direction connects them"
                )
    table = rows[order]
    for col, name in enumerate(("wp", "wn", "sp", "sn")):
        table[np.array(bits[col], dtype=np.int64), COL[name]] |= 1
    return table, float(max(end))
