"""Owns the instruction streams of one layer: loop nests, L1 buffers, DMA and COMPUTE rows.

The emitter walks the loop nest of a :class:`~accss3d.schedule.Schedule` and produces
*blocks* (consecutive instructions of one engine that touch the same L1 buffer contents)
in a sequentially valid order.  L1 is managed as *pools* of buffers (two per bank kind when
double-buffered, one spanning the whole kind otherwise) holding named *contents* (the
gathered inputs of a tile and Cin pass, a rulebook chunk, a group of weight tiles, a bias
row); a content already resident is reused, otherwise it is loaded into the least recently
used buffer.  Every block records the buffer *versions* it reads and writes;
:mod:`accss3d.compiler.order` turns those into program order and tokens.

Blocks are flat integer records (:class:`Blocks`): a LOAD points at its rows (made once per
content and buffer), a COMPUTE block at per-content template rows plus its buffer bases, so
no per-block arrays are made; the rows are written once, in program order, into the
program.  The ``tile`` nests run compiled (numba, :func:`_tile_blocks`); ``plane`` (small
layers only: all outputs of a Cout tile in one OFM buffer) keeps the Python loop, with the
same pools and records.

Loop nests (one COMPUTE per rulebook part and Cin tile):

* ``tile`` / Cout outer: for each Cout tile ``j``, for each voxel tile, for each IFM pass,
  for each rulebook chunk, for each part (weight plane), for each Cin tile of the pass.
* ``tile`` / Cout inner: for each voxel tile, for each Cout tile ``j`` (its own accumulator
  rows), then as above.
* ``plane``: for each Cout tile, for each IFM pass, for each group of weight tiles, for each
  voxel tile, for each chunk and part whose plane is in the group; the accumulators of the
  whole layer stay in one OFM buffer.

# Ref: US 11,620,818 (weight planes, rulebook lines, partial accumulation); VTA's decoupled
# access/execute token protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..arch import ArchConfig
from ..cyclemodel import Timing
from ..errors import ConfigError
from ..isa import Engine, Kind, Op, StoreMode
from ..isatable import COL, COLUMNS
from ..quant import Requant
from ..rulebook import KernelMap
from ..schedule import Schedule
from .layout import DataArena, Window, align
from .tiles import make_tiles

__all__ = ["Blocks", "Pool", "Region", "Content", "LayerEmitter", "NCOL"]

NCOL = len(COLUMNS)
_OP, _WGT, _RBK, _PAIRS = COL["op"], COL["wgt_addr"], COL["rbk_addr"], COL["pairs"]
_IFMB, _IFMS, _IFMO = COL["ifm_base"], COL["ifm_stride"], COL["ifm_offset"]
_OFMB, _UF, _L1 = COL["ofm_base"], COL["use_first"], COL["l1_addr"]
_L1S, _OFMR = COL["l1_stride"], COL["ofm_row"]
_MAX_ROW_BYTES = (1 << 12) - 1
_MAX_STRIDE_WORDS = (1 << 8) - 1


def _rows(n: int, op: Op, sub: int = 0, **cols) -> np.ndarray:
    t = np.zeros((n, NCOL), dtype=np.int64)
    t[:, COL["op"]] = int(op)
    t[:, COL["sub"]] = int(sub)
    for name, v in cols.items():
        t[:, COL[name]] = v
    return t


#: Fields of one block record (:attr:`LayerEmitter._rec`, flat): engine, rows, index of its
#: first row in ``Blocks.given`` (-1: COMPUTE rows made from a template), the template's first
#: row and its rbk, ifm, ofm and weight bases, then four read tags and one write tag
#: (``(buffer id, version)``, -1 when absent).
_REC = 18
_COMPUTE = int(Op.COMPUTE)
_RD = 8  # first read tag field


@dataclass(eq=False)
class Blocks:
    """The blocks of one layer: consecutive instructions of one engine that touch the same
    L1 buffer contents, in a sequentially valid order.

    Their instructions (*natural order*: block after block) are kept as made: the explicit
    rows of the blocks that have them (``given``: a LOAD's rows once however many blocks
    load the same content into the same buffer) and, for the COMPUTE
    blocks, a first template row and buffer bases (``rec``, :data:`_REC` fields) over the
    template rows ``tpl``; :meth:`table` and :meth:`write` make the rows.

    Attributes
    ----------
    engine : ndarray (n,) int
        Engine of every block.
    counts : ndarray (n,) int
        Instructions of every block.
    reads : ndarray (n, 4, 2) int
        ``(buffer id, version)`` of the L1 buffer versions a block reads (-1: none).
    writes : ndarray (n, 2) int
        ``(buffer id, version)`` of the buffer version a block writes (-1: none).
    rec : ndarray (n, _REC) int
        The block records.
    given : ndarray (m, NCOL) int
        The explicit rows.
    tpl : ndarray (t, 7) int
        COMPUTE template rows: rbk_addr, pairs, ifm_base, ifm_stride, ifm_offset,
        use_first and weight sequence position.
    pe_rows : int
        Words of one weight tile (weight address of sequence position ``p``: ``p * pe_rows``
        past the block's weight base).
    """

    engine: np.ndarray
    counts: np.ndarray
    reads: np.ndarray
    writes: np.ndarray
    rec: np.ndarray
    given: np.ndarray
    tpl: np.ndarray
    pe_rows: int

    def __len__(self) -> int:
        return len(self.engine)

    @property
    def n_rows(self) -> int:
        """Instructions of all blocks."""
        return int(self.counts.sum())

    def op_counts(self) -> np.ndarray:
        """Instructions per opcode (256,)."""
        given = (self.rec[:, 2] >= 0) & (self.counts > 0)
        per = np.zeros(256, dtype=np.int64)
        np.add.at(per, self.given[self.rec[given, 2], _OP], self.counts[given])
        per[_COMPUTE] += int(self.counts[self.rec[:, 2] < 0].sum())
        return per

    def table(self) -> np.ndarray:
        """The instructions in natural order."""
        order = np.arange(self.n_rows, dtype=np.int64)
        out = np.zeros((len(order), NCOL), dtype=np.int64)
        self.write(order, out)
        return out

    def write(self, order: np.ndarray, out: np.ndarray) -> None:
        """``out[k]`` = natural instruction ``order[k]`` (``out`` zeroed, ``len(order)``
        rows)."""
        counts = self.counts
        first = np.cumsum(counts) - counts
        block = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        _write_rows(self.rec, self.given, self.tpl, self.pe_rows, order, block, first, out)


#: Buffer id of buffer ``b`` of a pool: ``2 * _POOL_ID[name] + b`` (a pool has at most two).
_POOL_ID = {"ifm": 0, "ofm": 1, "rbk": 2, "bias": 3, "wgt": 4}


class Pool:
    """The buffers of one L1 kind, each holding one named content (LRU replacement)."""

    def __init__(self, name: str, n_buf: int, words: int, align_words: int):
        cap = words // n_buf
        cap -= cap % align_words
        self.name = name
        self.id0 = 2 * _POOL_ID[name]
        self.cap = cap
        self.n = n_buf
        self.key: list = [None] * n_buf
        self.where: dict = {}  # key -> buffer holding it
        self.version = [0] * n_buf
        self.last = [-1] * n_buf
        self.tick = 0

    def base(self, buf: int) -> int:
        """First word of a buffer."""
        return buf * self.cap

    def ensure(self, key) -> tuple[int, bool]:
        """The buffer holding ``key`` and whether it was already there (else: reassigned)."""
        self.tick += 1
        b = self.where.get(key)
        if b is not None:
            self.last[b] = self.tick
            return b, True
        last = self.last
        b = 0 if self.n == 1 or last[0] <= last[1] else 1
        self.where.pop(self.key[b], None)
        self.where[key] = b
        self.key[b] = key
        self.version[b] += 1
        self.last[b] = self.tick
        return b, False

    def tag(self, buf: int) -> tuple[int, int]:
        """``(buffer id, version)``: what a block reads or writes."""
        return (self.id0 + buf, self.version[buf])


@dataclass(frozen=True)
class Region:
    """Part of an IFM content: one source (main inputs or residual) and a Cin tile range."""

    source: str  # "main" or "res"
    i0: int
    i1: int
    base: int  # first word within the buffer
    stride: int  # words per slot (ifm_stride)


@dataclass(frozen=True)
class Content:
    """One IFM content per tile (an IFM pass): its regions."""

    regions: tuple[Region, ...]

    def has(self, source: str) -> bool:
        return any(r.source == source for r in self.regions)


@dataclass
class LayerInfo:
    """What the emitter reports about a layer (for the manifest)."""

    tiles: int = 0
    passes: int = 0
    chunks: int = 0
    weight_groups: int = 0
    regions: dict = field(default_factory=dict)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of runs of consecutive integers in a sorted array."""
    if not len(values):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    brk = np.flatnonzero(np.diff(values) != 1) + 1
    starts = np.concatenate([[0], brk])
    lengths = np.diff(np.append(starts, len(values)))
    return starts, lengths


def _tile_runs(values: np.ndarray, ptr: np.ndarray):
    """Runs of consecutive integers in ``values``, cut at the tile starts ``ptr``: first
    index, length and tile of every run, tile by tile."""
    n = len(values)
    cut = np.ones(n, dtype=bool)
    cut[1:] = np.diff(values) != 1
    cut[ptr[(ptr > 0) & (ptr < n)]] = True
    st = np.flatnonzero(cut)
    return st, np.diff(np.append(st, n)), np.searchsorted(ptr, st, side="right") - 1


@njit(cache=True)
def _write_rows(rec, given, tpl, R, order, block, first, out):  # pragma: no cover - compiled
    """``out[k]`` = natural row ``order[k]``: a row of ``given`` for a block of explicit rows,
    else a COMPUTE row from the template rows ``tpl`` placed at the block's buffer bases
    (:data:`_REC`).  COMPUTE rows only write their non-zero columns (``out`` is zeroed)."""
    ncol = out.shape[1]
    for k in range(len(order)):
        r = order[k]
        b = block[r]
        q = r - first[b]
        row = out[k]
        if rec[b, 2] >= 0:
            src = given[rec[b, 2] + q]
            for c in range(ncol):
                row[c] = src[c]
        else:
            t = tpl[rec[b, 3] + q]
            row[_OP] = _COMPUTE
            row[_RBK] = rec[b, 4] + t[0]
            row[_PAIRS] = t[1]
            row[_IFMB] = rec[b, 5] + t[2]
            row[_IFMS] = t[3]
            row[_IFMO] = t[4]
            row[_UF] = t[5]
            row[_OFMB] = rec[b, 6]
            row[_WGT] = rec[b, 7] + t[6] * R


_P_IFM, _P_OFM, _P_RBK, _P_BIAS, _P_WGT = 0, 1, 2, 3, 4  # pool indices (_POOL_ID)
_SUB, _NROWS, _EXT = COL["sub"], COL["rows"], COL["ext_addr"]
_EXTS, _CHANS = COL["ext_stride"], COL["channels"]
_STORE, _REQUANT = int(Op.STORE), int(StoreMode.REQUANT)
_MAX_STORE_ROWS = 65535


_KEY, _VER, _LAST, _TICK, _NBUF, _CAP = 0, 2, 4, 6, 7, 8  # columns of the pool state


@njit(cache=True)
def _ensure(pools, p, key):  # pragma: no cover - compiled
    """:meth:`Pool.ensure` of pool ``p`` (one row of state per pool, integer keys)."""
    st = pools[p]
    st[_TICK] += 1
    for b in range(st[_NBUF]):
        if st[_KEY + b] == key:
            st[_LAST + b] = st[_TICK]
            return b, True
    b = 0 if st[_NBUF] == 1 or st[_LAST] <= st[_LAST + 1] else 1
    st[_KEY + b] = key
    st[_VER + b] += 1
    st[_LAST + b] = st[_TICK]
    return b, False


@njit(cache=True)
def _acquire(pools, p, key, rec, nr, given, ng, placed, table, ptr):  # pragma: no cover
    """The buffer of pool ``p`` holding content ``key`` (piece ``key`` of ``table``), after
    recording its LOAD at ``rec[nr]`` when it was not there (:func:`_load`).  Returns the
    buffer, ``given``, its rows used and the records used."""
    b, hit = _ensure(pools, p, key)
    if not hit:
        base, tag = b * pools[p, _CAP], (2 * p + b, pools[p, _VER + b])
        given, ng = _load(rec, nr, given, ng, placed, key, b, table, ptr, base, tag[0], tag[1])
        nr += 1
    return b, given, ng, nr


@njit(cache=True)
def _room(a, need):  # pragma: no cover - compiled
    """``a`` or a copy with at least ``need`` rows (doubling)."""
    if need <= a.shape[0]:
        return a
    cap = max(a.shape[0], 1)
    while cap < need:
        cap *= 2
    b = np.zeros((cap, a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _put(given, ng, src, a, z, col, add):  # pragma: no cover - compiled
    """Copy ``src[a:z]`` to ``given[ng:]`` adding ``add`` to column ``col``."""
    for q in range(z - a):
        for c in range(src.shape[1]):
            given[ng + q, c] = src[a + q, c]
        given[ng + q, col] += add


@njit(cache=True)
def _record(rec, nr, engine, n, at, rk, rv, wk, wv):  # pragma: no cover - compiled
    """Record ``rec[nr]``: a block of ``n`` explicit rows from ``at``, reading ``(rk, rv)``
    and writing ``(wk, wv)`` (-1: none)."""
    rec[nr, :] = -1
    rec[nr, 0], rec[nr, 1], rec[nr, 2] = engine, n, at
    rec[nr, 3:8] = 0
    rec[nr, _RD], rec[nr, _RD + 1] = rk, rv
    rec[nr, _RD + 8], rec[nr, _RD + 9] = wk, wv


@njit(cache=True)
def _load(rec, nr, given, ng, placed, piece, b, table, ptr, base, wk, wv):  # pragma: no cover
    """Record ``rec[nr]``: the LOAD of piece ``piece`` of ``table`` into buffer ``b`` (first
    word ``base``) writing ``(wk, wv)``; its rows are placed once per piece and buffer
    (``placed``: where in ``given``).  Returns ``given`` and its rows used."""
    a, z = ptr[piece], ptr[piece + 1]
    if placed[piece, b] < 0:
        given = _room(given, ng + z - a)
        _put(given, ng, table, a, z, _L1, base)
        placed[piece, b] = ng
        ng += z - a
    _record(rec, nr, 0, z - a, placed[piece, b], -1, -1, wk, wv)
    return given, ng


@njit(cache=True)
def _tile_blocks(
    cout_inner, n_co, bounds, n_chunks, chunk_first, n_contents, pn, pcap,
    seg_ptr, seg_lo, seg_n, seg_g, seg_uf, nch, grouped, L, gidx, n_gs, R,
    ifm_t, ifm_p, rbk_t, rbk_p, wgt_t, wgt_p, bias_t, fill_t, fill_p,
    out_addr, out_stride, C, ab, cout,
):  # pragma: no cover - compiled  # fmt: skip
    """The blocks of the ``tile`` loop nests, as :meth:`LayerEmitter._plane_order` makes those
    of ``plane`` with :class:`Pool` and :meth:`LayerEmitter._computes`: block records
    (:data:`_REC`) and the explicit rows they point at.

    Pool keys: the step (OFM), ``j`` (bias), ``ci * n_tiles + t`` (IFM), the chunk (RBK),
    ``j * n_gs + group`` or 0 when grouped over Cout tiles (WGT); LOAD rows come from the
    tables ``*_t`` (pieces ``*_p``, L1 addresses from 0), placed once per piece and buffer."""
    n_t = len(bounds) - 1
    pools = np.zeros((5, 9), dtype=np.int64)
    pools[:, _KEY : _KEY + 2] = -1
    pools[:, _LAST : _LAST + 2] = -1
    pools[:, _NBUF] = pn
    pools[:, _CAP] = pcap
    ifm_at = np.full((n_contents * n_t, 2), -1, dtype=np.int64)
    rbk_at = np.full((len(rbk_p) - 1, 2), -1, dtype=np.int64)
    wgt_at = np.full((len(wgt_p) - 1, 2), -1, dtype=np.int64)
    bias_at = np.full((n_co, 1), -1, dtype=np.int64)
    bias_p = np.arange(n_co + 1)
    rec = np.zeros((1024, _REC), dtype=np.int64)
    given = np.zeros((1024, ifm_t.shape[1]), dtype=np.int64)
    nr = 0
    ng = 0
    n_steps = n_t if cout_inner else n_t * n_co
    for step in range(n_steps):
        if cout_inner:
            t, j0, nj = step, 0, n_co
        else:
            t, j0, nj = step % n_t, step // n_t, 1
        ob, _ = _ensure(pools, _P_OFM, step)
        ok, ov = 2 * _P_OFM + ob, pools[_P_OFM, _VER + ob]
        o0 = bounds[t]
        size = bounds[t + 1] - o0
        for jj in range(nj):
            j = j0 + jj
            ofm_base = ob * pcap[_P_OFM] + jj * size
            rec = _room(rec, nr + 4)
            bb, given, ng, nr = _acquire(
                pools, _P_BIAS, j, rec, nr, given, ng, bias_at, bias_t, bias_p
            )
            bk, bv = 2 * _P_BIAS + bb, pools[_P_BIAS, _VER + bb]
            fa, fz = fill_p[t], fill_p[t + 1]
            if fz > fa:
                given = _room(given, ng + fz - fa)
                _put(given, ng, fill_t, fa, fz, _OFMR, ofm_base)
                _record(rec, nr, 1, fz - fa, ng, bk, bv, ok, ov)
                nr += 1
                ng += fz - fa
            for ci in range(n_contents):
                piece = ci * n_t + t
                rec = _room(rec, nr + 1)
                ib, given, ng, nr = _acquire(
                    pools, _P_IFM, piece, rec, nr, given, ng, ifm_at, ifm_t, ifm_p
                )
                ik, iv = 2 * _P_IFM + ib, pools[_P_IFM, _VER + ib]
                ifm_base = ib * pcap[_P_IFM]
                k0 = t * nch
                for chunk in range(n_chunks[t]):
                    sp, se = seg_ptr[ci, k0 + chunk], seg_ptr[ci, k0 + chunk + 1]
                    if sp == se:
                        continue
                    m = chunk_first[t] + chunk
                    rec = _room(rec, nr + 1 + 2 * (se - sp))
                    rb, given, ng, nr = _acquire(
                        pools, _P_RBK, m, rec, nr, given, ng, rbk_at, rbk_t, rbk_p
                    )
                    rk, rv = 2 * _P_RBK + rb, pools[_P_RBK, _VER + rb]
                    rbk_base = rb * pcap[_P_RBK]
                    for s in range(sp, se):
                        if grouped:
                            gid, g0 = 0, 0
                        else:
                            gid, g0 = j * n_gs + gidx[seg_g[s]], j * L + seg_g[s]
                        wb, given, ng, nr = _acquire(
                            pools, _P_WGT, gid, rec, nr, given, ng, wgt_at, wgt_t, wgt_p
                        )
                        wk, wv = 2 * _P_WGT + wb, pools[_P_WGT, _VER + wb]
                        wgt_base = wb * pcap[_P_WGT]
                        r = rec[nr]
                        r[0], r[1], r[2], r[3] = 1, seg_n[s], -1, seg_lo[s]
                        r[4], r[5], r[6] = rbk_base, ifm_base, ofm_base
                        r[7] = wgt_base + (j * L - g0) * R
                        r[_RD], r[_RD + 1], r[_RD + 2], r[_RD + 3] = ik, iv, rk, rv
                        r[_RD + 4], r[_RD + 5] = wk, wv
                        if seg_uf[s]:
                            r[_RD + 6], r[_RD + 7] = bk, bv
                        else:
                            r[_RD + 6], r[_RD + 7] = -1, -1
                        r[_RD + 8], r[_RD + 9] = ok, ov
                        nr += 1
            n_st = (size + _MAX_STORE_ROWS - 1) // _MAX_STORE_ROWS
            given = _room(given, ng + n_st)
            for q in range(n_st):
                g = given[ng + q]
                g[:] = 0
                start = q * _MAX_STORE_ROWS
                g[_OP], g[_SUB] = _STORE, _REQUANT
                g[_OFMR] = ofm_base + start
                g[_NROWS] = min(_MAX_STORE_ROWS, size - start)
                g[_EXT] = out_addr + (o0 + start) * out_stride + j * C * ab
                g[_EXTS] = out_stride
                g[_CHANS] = min(C, cout - j * C)
            rec = _room(rec, nr + 1)
            _record(rec, nr, 2, n_st, ng, ok, ov, -1, -1)
            nr += 1
            ng += n_st
    return rec[:nr].copy(), given[:ng].copy()


def _align_up(values: np.ndarray, to: int) -> np.ndarray:
    """:func:`~accss3d.compiler.layout.align` of every value."""
    return -(-values // to) * to


def _spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    off = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - off, lengths) + np.arange(
        int(lengths.sum())
    )


class LayerEmitter:
    """Emit the blocks of one layer.

    Parameters
    ----------
    cfg : ArchConfig
    timing : Timing
    name : str
        Layer name (error messages).
    schedule : Schedule
    kmap : KernelMap
    bounds : ndarray
        Voxel tile boundaries (outputs ``bounds[t]:bounds[t + 1]`` form tile ``t``).
    residual : bool
        The layer has a residual plane.
    n_ci, n_cr : int
        Cin tiles of the input window and of the residual window (0 without residual).
    win_in, win_res : Window
    out_addr, out_stride, cout : int
        Where the output tensor's row 0 lives, bytes between rows, channels.
    weights : ndarray (K + 1, n_ci_max * R, n_co * C) int
        Weight planes in lane layout (plane ``K``: residual weights).
    bias : ndarray (Cout,) int
    requant : Requant
    arena : DataArena
        Receives the weights, bias and rulebook regions.
    """

    def __init__(
        self,
        cfg: ArchConfig,
        timing: Timing,
        name: str,
        schedule: Schedule,
        kmap: KernelMap,
        bounds: np.ndarray,
        residual: bool,
        n_ci: int,
        n_cr: int,
        win_in: Window,
        win_res: Window | None,
        out_addr: int,
        out_stride: int,
        cout: int,
        weights: np.ndarray,
        bias: np.ndarray,
        requant: Requant,
        arena: DataArena,
    ):
        self.cfg, self.timing, self.name, self.s = cfg, timing, name, schedule
        self.n_ci, self.n_cr = n_ci, n_cr
        self.win_in, self.win_res = win_in, win_res
        self.out_addr, self.out_stride, self.cout = out_addr, out_stride, cout
        self.requant = requant
        self.arena = arena
        R, C = cfg.pe_rows, cfg.pe_cols
        self.R, self.C = R, C
        self.ab = cfg.act_bits // 8
        self.wb = cfg.weight_bits // 8
        self.accb = cfg.acc_bits // 8
        self.n_co = -(-cout // C)
        self.K = kmap.volume
        self._rec: list[int] = []  # block records, _REC fields each
        self._arrays: list[np.ndarray] = []  # explicit rows (Blocks.given)
        self._given_rows = 0
        self._tpl: list[np.ndarray] = []  # COMPUTE template rows (see _collect)
        self._tpl_rows = 0
        db = schedule.double_buffer
        bus = cfg.bus_bytes
        self.align = {k: max(1, bus // cfg.word_bytes(k)) for k in ("ifm", "wgt", "rbk", "ofm")}
        self.ifm = Pool("ifm", 2 if db else 1, cfg.words("ifm"), self.align["ifm"])
        self.ofm = Pool("ofm", 2 if db else 1, cfg.words("ofm"), self.align["ofm"])
        self.rbk = Pool("rbk", 2 if db else 1, cfg.words("rbk"), self.align["rbk"])
        self.bias_pool = Pool("bias", 1, 1, 1)
        self._templates: dict = {}
        self._template_lists: dict = {}
        self._kernel_blocks = None  # (records, explicit rows) of _tile_order
        self._load_cache: dict = {}
        self._ifm_tables: dict = {}
        self._rbk_table = None
        self._wgt_table = None
        self.tiles = make_tiles(kmap, bounds, residual, self.rbk.cap)
        self.info = LayerInfo(tiles=self.tiles.n_tiles)
        self._check_ofm()
        self.contents = self._contents()
        self.info.passes = len(self.contents)
        self._weights(weights)
        self._bias(bias)
        self._rulebooks()
        # Plain lists for the per-block loops.
        self._gstart = self.gstart.tolist()
        self._chunk_first = self.chunk_first.tolist()
        self._n_chunks = (-(-np.diff(self.tiles.ent_ptr) // self.tiles.chunk)).tolist()

    # ------------------------------------------------------------------ capacities
    def _fail(self, why: str):
        raise ConfigError(f"layer {self.name} cannot be tiled on {self.cfg.name}: {why}")

    def _check_ofm(self):
        s, t = self.s, self.tiles
        cap = self.ofm.cap
        if s.order == "plane":
            need = int(t.bounds[-1])
            what = f"order plane keeps all {need} outputs of a Cout tile in OFM"
        else:
            need = t.max_size * (self.n_co if s.cout_inner else 1)
            what = f"a voxel tile of {t.max_size} outputs needs {need} accumulator rows"
        if need > cap:
            self._fail(f"{what}, an OFM buffer holds {cap} rows")

    def _contents(self) -> list[Content]:
        """IFM passes: all Cin tiles (and the residual) at once when they fit, else split."""
        cap = self.ifm.cap
        a = self.align["ifm"]
        t = self.tiles
        slots, size = t.max_slots, t.max_size
        word = self.cfg.word_bytes("ifm")
        limit = min(_MAX_STRIDE_WORDS, _MAX_ROW_BYTES // word)

        def stride(n):
            return align(n, a)

        if self.n_ci > _MAX_STRIDE_WORDS or self.n_cr > _MAX_STRIDE_WORDS:
            self._fail(f"{max(self.n_ci, self.n_cr)} Cin tiles exceed the 8-bit ifm_stride")
        main_w = slots * stride(self.n_ci)
        res_w = size * stride(self.n_cr) if self.n_cr else 0
        if self.n_ci <= limit and self.n_cr <= limit and main_w + res_w <= cap:
            regions = [Region("main", 0, self.n_ci, 0, stride(self.n_ci))]
            if self.n_cr:
                regions.append(Region("res", 0, self.n_cr, align(main_w, a), stride(self.n_cr)))
            return [Content(tuple(regions))]
        out = []
        for source, n, count in (("main", self.n_ci, slots), ("res", self.n_cr, size)):
            if not n:
                continue
            if count * stride(1) > cap:
                what = "gathers" if source == "main" else "has"
                self._fail(
                    f"a voxel tile {what} {count} {'inputs' if source == 'main' else 'outputs'}"
                    f", one Cin tile of them needs {count * stride(1)} IFM words, an IFM buffer "
                    f"holds {cap} (use smaller tiles or split)"
                )
            g = 1
            while g < min(n, limit) and count * stride(g + 1) <= cap:
                g += 1
            for i0 in range(0, n, g):
                i1 = min(n, i0 + g)
                out.append(Content((Region(source, i0, i1, 0, stride(i1 - i0)),)))
        return out

    # ------------------------------------------------------------------ data regions
    def _weights(self, weights: np.ndarray):
        """Pre-tile the weights in the order the loops consume them; make the groups."""
        K, R, C = self.K, self.R, self.C
        s = self.s
        seq = []  # (content index, plane, cin tile)
        for ci, c in enumerate(self.contents):
            for r in c.regions:
                planes = self.tiles.planes if r.source == "main" else np.array([K])
                for k in planes:
                    for i in range(r.i0, r.i1):
                        seq.append((ci, int(k), i))
        L = len(seq)
        self.seq_len = L
        n_ci_max = max(self.n_ci, self.n_cr)
        self.seqpos = np.full((len(self.contents), K + 1, n_ci_max), -1, dtype=np.int64)
        for p, (ci, k, i) in enumerate(seq):
            self.seqpos[ci, k, i] = p
        tiles = np.zeros((self.n_co, L, R, C), dtype=np.int64)
        for p, (_, k, i) in enumerate(seq):
            tiles[:, p] = (
                weights[k, i * R : (i + 1) * R].reshape(R, self.n_co, C).transpose(1, 0, 2)
            )
        dt = np.dtype(f"<i{self.wb}")
        self.tile_bytes = R * C * self.wb
        self.w_addr = self.arena.add(tiles.astype(dt).tobytes())
        # Groups of weight tiles: start (absolute position j * L + p) and length.
        words = self.cfg.words("wgt")
        if s.weights_resident and s.order == "tile":
            total = L * (self.n_co if s.cout_inner else 1)
            if total * R > words:
                self._fail(
                    f"weights_resident needs {total} weight tiles of {R}x{C} resident, WGT holds "
                    f"{words // R} (stream them)"
                )
            self.wgt = Pool("wgt", 1, words, self.align["wgt"])
            self.gstart = np.zeros(L, dtype=np.int64)
            self.glen = np.full(L, L, dtype=np.int64)
            self.grouped_over_j = bool(s.cout_inner)
        else:
            n_buf = 2 if (s.double_buffer and words // 2 >= R) else 1
            self.wgt = Pool("wgt", n_buf, words, self.align["wgt"])
            cap_t = self.wgt.cap // R
            self.gstart = np.zeros(L, dtype=np.int64)
            self.glen = np.zeros(L, dtype=np.int64)
            ci_of = np.array([q[0] for q in seq], dtype=np.int64)
            for ci in range(len(self.contents)):
                pos = np.flatnonzero(ci_of == ci)
                if not len(pos):
                    continue
                cs, ce = int(pos[0]), int(pos[-1]) + 1
                starts = np.arange(cs, ce, cap_t)
                for g0 in starts:
                    g1 = min(ce, g0 + cap_t)
                    self.gstart[g0:g1] = g0
                    self.glen[g0:g1] = g1 - g0
            self.grouped_over_j = False
        self.info.weight_groups = int(len(np.unique(self.gstart))) * (
            1 if self.grouped_over_j else self.n_co
        )

    def _bias(self, bias: np.ndarray):
        C = self.C
        row = align(C * self.accb, self.cfg.bus_bytes)
        data = np.zeros((self.n_co, row), dtype=np.uint8)
        full = np.zeros(self.n_co * C, dtype=np.int64)
        full[: len(bias)] = bias
        mask = (1 << self.cfg.acc_bits) - 1 if self.cfg.acc_bits < 64 else -1
        lanes = (full & mask).astype("<u8").view(np.uint8).reshape(self.n_co, C, 8)
        data[:, : C * self.accb] = lanes[:, :, : self.accb].reshape(self.n_co, -1)
        self.bias_row = row
        self.bias_addr = self.arena.add(data.tobytes())

    def _rulebooks(self):
        t = self.tiles
        cap = self.rbk.cap
        if cap < 1:
            self._fail("the RBK buffer holds no entry")
        per = np.diff(t.ent_ptr)
        n_chunks = -(-per // t.chunk)
        chunk_tile = np.repeat(np.arange(t.n_tiles), n_chunks)
        chunk_idx = np.arange(len(chunk_tile)) - np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
        sizes = np.minimum(t.chunk, per[chunk_tile] - chunk_idx * t.chunk)
        pad = max(1, self.cfg.bus_bytes // 4)
        padded = -(-sizes // pad) * pad
        offs = np.concatenate([[0], np.cumsum(padded)])
        words = np.zeros(int(offs[-1]), dtype="<u4")
        # Entry q of chunk m (tile t, index c) is entry c * chunk + q of the tile.
        within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        src = np.repeat(t.ent_ptr[chunk_tile] + chunk_idx * t.chunk, sizes) + within
        words[np.repeat(offs[:-1], sizes) + within] = t.ent_word[src]
        self.rbk_addr = self.arena.add(words.tobytes())
        self.chunk_first = np.concatenate([[0], np.cumsum(n_chunks)])  # per tile
        self.chunk_addr = self.rbk_addr + 4 * offs[:-1]
        self.chunk_size = sizes
        self.info.chunks = int(len(sizes))

    # ------------------------------------------------------------------ DMA helpers
    def _dma_many(self, kind: str, sub: Kind, ext, nbytes) -> tuple[np.ndarray, np.ndarray]:
        """LOAD rows copying ``nbytes[m]`` contiguous bytes from ``ext[m]`` to contiguous L1
        words from word 0, for every ``m``: the table and the first row of each copy."""
        cfg = self.cfg
        word = cfg.word_bytes(kind)
        a = self.align[kind]
        q = int(np.lcm(word * a, cfg.bus_bytes))
        maxrow = (_MAX_ROW_BYTES // q) * q
        ext = np.asarray(ext, dtype=np.int64)
        nbytes = np.asarray(nbytes, dtype=np.int64)
        small = nbytes <= _MAX_ROW_BYTES
        full, rem = np.divmod(nbytes, maxrow)
        second = ~small & (rem > 0)
        ptr = np.concatenate([[0], np.cumsum(1 + second)])
        t = _rows(int(ptr[-1]), Op.LOAD, int(sub))
        one = ptr[:-1]
        t[one, COL["rows"]] = np.where(small, 1, full)
        t[one, COL["ext_addr"]] = ext
        t[one, COL["row_bytes"]] = np.where(small, nbytes, maxrow)
        t[one, COL["ext_stride"]] = np.where(small, 0, maxrow)
        t[one, _L1S] = np.where(small, _align_up(-(-nbytes // word), a), maxrow // word)
        two = one[second] + 1
        t[two, _L1] = full[second] * maxrow // word
        t[two, COL["rows"]] = 1
        t[two, COL["ext_addr"]] = ext[second] + full[second] * maxrow
        t[two, COL["row_bytes"]] = rem[second]
        t[two, _L1S] = _align_up(-(-rem[second] // word), a)
        return t, ptr

    def _emit(self, engine: int, rows: np.ndarray, reads=(), writes=(), at: int | None = None):
        """Append a block of explicit rows (at most four read tags and one write tag);
        ``at``: where ``rows`` already are in the explicit rows (:meth:`_given`)."""
        tags = [-1] * 10
        for n, (key, ver) in enumerate(reads):
            tags[2 * n], tags[2 * n + 1] = key, ver
        if writes:
            tags[8], tags[9] = writes[0]
        if at is None:
            at = self._given(rows)
        self._rec.extend((int(engine), len(rows), at, 0, 0, 0, 0, 0, *tags))

    def _given(self, rows: np.ndarray) -> int:
        """Add explicit rows; their first row's index."""
        at = self._given_rows
        self._arrays.append(rows)
        self._given_rows += len(rows)
        return at

    def _cached_load(self, key, build, base: int) -> tuple[np.ndarray, int]:
        """LOAD rows built once per content and buffer (L1 addresses relative to the buffer,
        placed at ``base``; blocks share them) and where they are in the explicit rows."""
        placed = self._load_cache.get((key, base))
        if placed is None:
            rows = self._load_cache.get(key)
            if rows is None:
                rows = build()
                self._load_cache[key] = rows
            placed = rows.copy()
            placed[:, _L1] += base
            placed = placed, self._given(placed)
            self._load_cache[(key, base)] = placed
        return placed

    # ------------------------------------------------------------------ contents
    def _ensure_bias(self, j: int):
        b, hit = self.bias_pool.ensure(("bias", j))
        if not hit:
            rows = self._bias_table()[j : j + 1].copy()
            self._emit(Engine.LOAD, rows, writes=[self.bias_pool.tag(b)])
        return self.bias_pool.tag(b)

    def _bias_table(self) -> np.ndarray:
        """The LOAD row of the bias of every Cout tile."""
        return _rows(
            self.n_co,
            Op.LOAD,
            int(Kind.BIAS),
            rows=1,
            ext_addr=self.bias_addr + np.arange(self.n_co) * self.bias_row,
            row_bytes=self.C * self.accb,
            l1_stride=1,
        )

    def _ensure_ifm(self, t: int, ci: int):
        b, hit = self.ifm.ensure(("ifm", t, ci))
        if not hit:
            rows, at = self._cached_load(
                ("ifm", t, ci), lambda: self._ifm_rows(t, ci), self.ifm.base(b)
            )
            self._emit(Engine.LOAD, rows, writes=[self.ifm.tag(b)], at=at)
        return b

    def _ifm_rows(self, t: int, ci: int) -> np.ndarray:
        """The gather of tile ``t`` for IFM content ``ci`` (one LOAD per run of inputs)."""
        if ci not in self._ifm_tables:
            self._ifm_tables[ci] = self._ifm_table(ci)
        table, ptr = self._ifm_tables[ci]
        return table[ptr[t] : ptr[t + 1]]

    def _ifm_table(self, ci: int) -> tuple[np.ndarray, np.ndarray]:
        """The gathers of every tile for IFM content ``ci``: region by region, one LOAD per run
        of consecutive inputs; the table and the first row of each tile."""
        R, ab = self.R, self.ab
        tl = self.tiles
        parts, owner = [], []
        for r in self.contents[ci].regions:
            win = self.win_in if r.source == "main" else self.win_res
            lo = r.i0 * R * ab
            nbytes = min(win.span - lo, (r.i1 - r.i0) * R * ab)
            if r.source == "main":
                st, ln, tile = _tile_runs(tl.slots, tl.slot_ptr)
                l1 = r.base + (st - tl.slot_ptr[tile]) * r.stride
                ext = win.addr + tl.slots[st] * win.row_stride + lo
            else:
                tile = np.arange(tl.n_tiles)
                ln = np.diff(tl.bounds)
                l1 = np.full(tl.n_tiles, r.base)
                ext = win.addr + tl.bounds[:-1] * win.row_stride + lo
            parts.append(
                _rows(
                    len(ln),
                    Op.LOAD,
                    int(Kind.IFM),
                    l1_addr=l1,
                    rows=ln,
                    ext_addr=ext,
                    row_bytes=nbytes,
                    ext_stride=win.row_stride,
                    l1_stride=r.stride,
                )
            )
            owner.append(tile)
        tile = np.concatenate(owner)
        order = np.argsort(tile, kind="stable")
        table = np.concatenate(parts)[order]
        return table, np.searchsorted(tile[order], np.arange(tl.n_tiles + 1))

    def _ensure_rbk(self, t: int, chunk: int):
        b, hit = self.rbk.ensure(("rbk", t, chunk))
        if not hit:
            m = self._chunk_first[t] + chunk
            rows, at = self._cached_load(("rbk", m), lambda: self._rbk_rows(m), self.rbk.base(b))
            self._emit(Engine.LOAD, rows, writes=[self.rbk.tag(b)], at=at)
        return b

    def _rbk_rows(self, m: int) -> np.ndarray:
        """The LOAD rows of rulebook chunk ``m`` (all chunks' rows are made at once)."""
        if self._rbk_table is None:
            self._rbk_table = self._dma_many("rbk", Kind.RBK, self.chunk_addr, 4 * self.chunk_size)
        table, ptr = self._rbk_table
        return table[ptr[m] : ptr[m + 1]]

    def _ensure_wgt(self, j: int, p: int):
        """The buffer and group start (absolute position) holding sequence position ``p``."""
        L = self.seq_len
        if self.grouped_over_j:
            g0 = gs = 0
            key = ("wgt",)
        else:
            gs = self._gstart[p]
            g0 = j * L + gs
            key = ("wgt", j, gs)
        b, hit = self.wgt.ensure(key)
        if not hit:
            rows, at = self._cached_load(key, lambda: self._wgt_rows(j, gs), self.wgt.base(b))
            self._emit(Engine.LOAD, rows, writes=[self.wgt.tag(b)], at=at)
        return b, g0

    def _wgt_rows(self, j: int, gs: int) -> np.ndarray:
        """The LOAD rows of the weight group starting at sequence position ``gs`` of Cout
        tile ``j`` (of all the layer's weights when they are grouped over Cout tiles)."""
        table, ptr, gidx = self._wgt_tables()
        m = 0 if self.grouped_over_j else j * (len(ptr) - 1) // self.n_co + int(gidx[gs])
        return table[ptr[m] : ptr[m + 1]]

    def _wgt_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The LOAD rows of every weight group of every Cout tile (Cout tile outer; one group
        when grouped over Cout tiles), their first rows, and the index of each group start
        among the group starts of a Cout tile."""
        if self._wgt_table is None:
            gidx = np.zeros(self.seq_len, dtype=np.int64)
            if self.grouped_over_j:
                starts, lens = np.zeros(1, np.int64), np.array([self.seq_len * self.n_co])
            else:
                gs = np.unique(self.gstart)
                gidx[gs] = np.arange(len(gs))
                j = np.repeat(np.arange(self.n_co), len(gs))
                starts = j * self.seq_len + np.tile(gs, self.n_co)
                lens = np.tile(self.glen[gs], self.n_co)
            table, ptr = self._dma_many(
                "wgt", Kind.WGT, self.w_addr + starts * self.tile_bytes, lens * self.tile_bytes
            )
            self._wgt_table = table, ptr, gidx
        return self._wgt_table

    # ------------------------------------------------------------------ compute
    def _fill(self, rows_local: np.ndarray, ofm_base: int, bias_tag, ofm_tag):
        if not len(rows_local):
            return
        st, ln = _runs(rows_local)
        rows = _rows(len(st), Op.FILL, ofm_row=ofm_base + rows_local[st], rows=ln)
        self._emit(Engine.COMPUTE, rows, reads=[bias_tag], writes=[ofm_tag])

    def _compute_templates(self, ci: int):
        """COMPUTE rows of IFM content ``ci`` for every part of every tile (buffer bases 0),
        in program order, cut in *segments* (one per tile, chunk and weight group: one block
        each).  The rows join the layer's template table (:meth:`_collect`); returned: per
        (tile, chunk) the first segment, and per segment its first template row, length,
        first sequence position, whether a row uses the bias, and its weight group key."""
        tl = self.tiles
        cols = []
        for r in self.contents[ci].regions:
            mine = np.flatnonzero(
                (tl.part_plane < self.K) if r.source == "main" else (tl.part_plane == self.K)
            )
            ni = r.i1 - r.i0
            part = np.repeat(mine, ni)
            i = np.tile(np.arange(r.i0, r.i1), len(mine))
            cols.append(
                (part, i, np.full(len(part), r.base), np.full(len(part), r.stride), i - r.i0)
            )
        part, i, base, stride, off = (np.concatenate(c) for c in zip(*cols, strict=True))
        order = np.lexsort((i, part))
        part, i, base, stride, off = part[order], i[order], base[order], stride[order], off[order]
        pos = self.seqpos[ci, tl.part_plane[part], i]
        tile = np.searchsorted(tl.part_ptr, part, side="right") - 1
        nch = int(tl.part_chunk.max()) + 1 if len(tl.part_chunk) else 1
        key = tile * nch + tl.part_chunk[part]
        uf = (i == 0).astype(np.int64)
        gkey = np.zeros(len(pos), np.int64) if self.grouped_over_j else self.gstart[pos]
        table = np.stack(
            [tl.part_start[part], tl.part_len[part], base, stride, off, uf, pos], axis=1
        ).astype(np.int64)
        first = self._tpl_rows
        self._tpl.append(table)
        self._tpl_rows += len(table)
        n = len(key)
        cut = np.ones(n, dtype=bool)
        cut[1:] = (key[1:] != key[:-1]) | (gkey[1:] != gkey[:-1])
        s0 = np.flatnonzero(cut)
        seg_ptr = np.searchsorted(key[s0], np.arange(tl.n_tiles * nch + 1))
        uf_any = np.maximum.reduceat(uf, s0) if n else np.zeros(0, np.int64)
        return (
            seg_ptr,
            first + s0,
            np.diff(np.append(s0, n)),
            pos[s0],
            uf_any.astype(np.int64),
            gkey[s0].astype(np.int64),
            nch,
        )

    def _template(self, ci: int):
        """:meth:`_compute_templates` of IFM content ``ci``, made once."""
        tp = self._templates.get(ci)
        if tp is None:
            tp = self._templates[ci] = self._compute_templates(ci)
        return tp

    def _computes(self, t, ci, j, ofm_base, ofm_tag, bias_tag, ifm_b, group=None):
        """COMPUTE blocks of every chunk of tile ``t`` for IFM content ``ci`` and Cout tile
        ``j`` (one per weight group of a chunk, after the LOADs its buffers need).

        ``group``: the start of the only weight group to compute (plane order).
        """
        tp = self._template_lists.get(ci)
        if tp is None:
            tp = self._template_lists[ci] = [
                *(a.tolist() for a in self._template(ci)[:-1]),
                self._template(ci)[-1],
            ]
        seg_ptr, seg_lo, seg_n, seg_pos, seg_uf, seg_g, nch = tp
        rec = self._rec
        wgt, rbk = self.wgt, self.rbk
        ik, iv = self.ifm.tag(ifm_b)
        ifm_base = self.ifm.base(ifm_b)
        ok, ov = ofm_tag
        bk, bv = bias_tag
        jl, R = j * self.seq_len, self.R
        k0 = t * nch
        for chunk in range(self._n_chunks[t]):
            segs = range(seg_ptr[k0 + chunk], seg_ptr[k0 + chunk + 1])
            if group is not None:
                segs = [s for s in segs if seg_g[s] == group]
            if not segs:
                continue
            rb = self._ensure_rbk(t, chunk)
            rk, rv = rbk.tag(rb)
            rbk_base = rbk.base(rb)
            for s in segs:
                wb, g0 = self._ensure_wgt(j, seg_pos[s])
                wk, wv = wgt.tag(wb)
                woff = wgt.base(wb) + (jl - g0) * R
                if seg_uf[s]:
                    tags = (ik, iv, rk, rv, wk, wv, bk, bv, ok, ov)
                else:
                    tags = (ik, iv, rk, rv, wk, wv, -1, -1, ok, ov)
                rec.extend((1, seg_n[s], -1, seg_lo[s], rbk_base, ifm_base, ofm_base, woff, *tags))

    def _store(self, ofm_row: int, n_rows: int, o0: int, j: int, ofm_tag):
        chans = min(self.C, self.cout - j * self.C)
        starts = np.arange(0, n_rows, 65535)
        counts = np.minimum(65535, n_rows - starts)
        rows = _rows(
            len(starts),
            Op.STORE,
            int(StoreMode.REQUANT),
            ofm_row=ofm_row + starts,
            rows=counts,
            ext_addr=self.out_addr + (o0 + starts) * self.out_stride + j * self.C * self.ab,
            ext_stride=self.out_stride,
            channels=chans,
        )
        self._emit(Engine.STORE, rows, reads=[ofm_tag])

    # ------------------------------------------------------------------ loop nests
    def emit(self) -> Blocks:
        """All blocks of the layer, in a sequentially valid order."""
        rq = self.requant
        cfg_row = _rows(1, Op.CONFIG, multiplier=rq.multiplier, shift=rq.shift, relu=int(rq.relu))
        self._emit(Engine.STORE, cfg_row)
        if self.tiles.n_tiles:
            if self.s.order == "plane":
                self._plane_order()
            else:
                self._tile_order()
        return self._collect()

    def _collect(self) -> Blocks:
        """The blocks recorded so far."""
        rec = np.array(self._rec, dtype=np.int64).reshape(-1, _REC)
        arrays = self._arrays
        if self._kernel_blocks is not None:
            k_rec, k_given = self._kernel_blocks
            k_rec[k_rec[:, 2] >= 0, 2] += self._given_rows
            rec = np.concatenate([rec, k_rec])
            arrays = [*arrays, k_given]
        given = np.concatenate(arrays) if arrays else np.zeros((0, NCOL), np.int64)
        tpl = np.concatenate(self._tpl) if self._tpl else np.zeros((0, 7), np.int64)
        return Blocks(
            engine=np.ascontiguousarray(rec[:, 0]),
            counts=np.ascontiguousarray(rec[:, 1]),
            reads=np.ascontiguousarray(rec[:, _RD : _RD + 8]).reshape(-1, 4, 2),
            writes=np.ascontiguousarray(rec[:, _RD + 8 : _RD + 10]),
            rec=rec,
            given=given,
            tpl=tpl,
            pe_rows=self.R,
        )

    def _tile_order(self):
        """The ``tile`` loop nests, compiled (:func:`_tile_blocks`)."""
        tl = self.tiles
        n_t, nc = tl.n_tiles, len(self.contents)
        tps = [self._template(ci) for ci in range(nc)]
        nch = tps[0][-1]
        n_seg = np.cumsum([0] + [len(tp[1]) for tp in tps])
        seg_ptr = np.stack([tp[0] + n_seg[ci] for ci, tp in enumerate(tps)])
        seg_lo, seg_n, _, seg_uf, seg_g = (
            np.concatenate([tp[k] for tp in tps]).astype(np.int64) for k in range(1, 6)
        )
        ifm = [self._ifm_table(ci) for ci in range(nc)]
        ifm_ptr = np.concatenate(
            [[0]] + [p[1:] + sum(len(t) for t, _ in ifm[:ci]) for ci, (_, p) in enumerate(ifm)]
        )
        rbk_t, rbk_p = self._dma_many("rbk", Kind.RBK, self.chunk_addr, 4 * self.chunk_size)
        wgt_t, wgt_p, gidx = self._wgt_tables()
        st, ln, tile = _tile_runs(tl.fill, tl.fill_ptr)
        fill_t = _rows(len(st), Op.FILL, ofm_row=tl.fill[st], rows=ln)
        fill_p = np.searchsorted(tile, np.arange(n_t + 1))
        pools = (self.ifm, self.ofm, self.rbk, self.bias_pool, self.wgt)
        assert [p.id0 for p in pools] == [2 * k for k in range(5)]
        self._kernel_blocks = _tile_blocks(
            bool(self.s.cout_inner), self.n_co, tl.bounds.astype(np.int64),
            np.array(self._n_chunks, dtype=np.int64), self.chunk_first.astype(np.int64), nc,
            np.array([p.n for p in pools], dtype=np.int64),
            np.array([p.cap for p in pools], dtype=np.int64),
            seg_ptr.astype(np.int64), seg_lo, seg_n, seg_g, seg_uf, nch,
            bool(self.grouped_over_j), self.seq_len, gidx, (len(wgt_p) - 1) // self.n_co, self.R,
            np.concatenate([t for t, _ in ifm]), ifm_ptr.astype(np.int64),
            rbk_t, rbk_p.astype(np.int64), wgt_t, wgt_p.astype(np.int64), self._bias_table(),
            fill_t, fill_p.astype(np.int64),
            self.out_addr, self.out_stride, self.C, self.ab, self.cout,
        )  # fmt: skip

    def _plane_order(self):
        tl = self.tiles
        for j in range(self.n_co):
            ob, _ = self.ofm.ensure(("plane", j))
            ofm_tag = self.ofm.tag(ob)
            base = self.ofm.base(ob)
            bias_tag = self._ensure_bias(j)
            fill_rows = tl.fill + np.repeat(tl.bounds[:-1], np.diff(tl.fill_ptr))
            self._fill(fill_rows, base, bias_tag, ofm_tag)
            for ci in range(len(self.contents)):
                pos = np.unique(self.seqpos[ci][self.seqpos[ci] >= 0])
                groups = np.unique(self.gstart[pos])
                for g0 in groups.tolist():
                    for t in range(tl.n_tiles):
                        ib = self._ensure_ifm(t, ci)
                        o_base = base + int(tl.bounds[t])
                        self._computes(t, ci, j, o_base, ofm_tag, bias_tag, ib, g0)
            self._store(base, int(tl.bounds[-1]), 0, j, ofm_tag)
