"""Owns the plain-Python models of the DMA contract shared by the unit tests (tests/hw) and the
cocotb testbenches (sim/): legal random LOAD/STORE instructions and their sequential
semantics (docs/architecture.md "Semantics", docs/arithmetic.md) on byte images.
"""

from __future__ import annotations

import numpy as np

from accss3d.isa import Instr, Kind, Op, StoreMode
from accss3d.quant import Requant
from sspnna.interfaces import phys_bytes
from sspnna.load import KIND_NAMES, kind_geometry

__all__ = [
    "MEM",
    "ACC_ROWS",
    "word_of",
    "words_of",
    "make_load",
    "random_load",
    "gold_load",
    "l1_images",
    "pack",
    "unpack",
    "edge_accs",
    "reference",
    "random_store",
    "config",
    "gold_run",
]

#: External memory bytes the random instructions stay within.
MEM = 3 * 4096
#: Accumulator rows the random STOREs read.
ACC_ROWS = 64


def word_of(cfg, kind):
    name = KIND_NAMES[kind]
    return phys_bytes(cfg, "bias") if name == "bias" else cfg.word_bytes(name)


def words_of(cfg, kind):
    name = KIND_NAMES[kind]
    return 1 if name == "bias" else cfg.words(name)


def random_load(rng, cfg, kind, *, sn=0, wn=0, max_words=6):
    """A legal LOAD of ``kind`` (bursts likely to meet a 4 KB boundary)."""
    bus = cfg.bus_bytes
    word = word_of(cfg, kind)
    _, shift = kind_geometry(cfg, kind)
    align = 1 << shift
    if kind == Kind.BIAS:
        rows, l1_addr, l1_stride = 1, 0, 1
        row_bytes = rng.randint(1, word)
    else:
        rows = rng.randint(1, 4)
        row_words = rng.randint(1, max_words)
        row_bytes = min(4095, rng.randint((row_words - 1) * word + 1, row_words * word))
        l1_stride = -(-row_words // align) * align + rng.choice([0, align])
        span = (rows - 1) * l1_stride + row_words
        l1_addr = rng.randrange(0, (words_of(cfg, kind) - span) // align + 1) * align
    beats = -(-row_bytes // bus)
    ext_stride = bus * rng.randint(beats, beats + 3)
    extent = (rows - 1) * ext_stride + beats * bus
    page = rng.randint(1, MEM // 4096 - 1) * 4096
    ext_addr = page - bus * rng.randint(0, 24)
    ext_addr = max(0, min(ext_addr, MEM - extent)) // bus * bus
    return make_load(
        cfg, kind, rows=rows, ext_addr=ext_addr, row_bytes=row_bytes, ext_stride=ext_stride,
        l1_stride=l1_stride, l1_addr=l1_addr, wn=wn, sn=sn,
    )  # fmt: skip


def make_load(cfg, kind, *, rows, ext_addr, row_bytes, ext_stride=None, l1_stride=None, **kw):
    """A LOAD with dense strides by default (rows back to back on both sides)."""
    bus, word = cfg.bus_bytes, word_of(cfg, kind)
    align = 1 << kind_geometry(cfg, kind)[1]
    if ext_stride is None:
        ext_stride = -(-row_bytes // bus) * bus
    if l1_stride is None:
        l1_stride = -(-row_bytes // (word * align)) * align
    return Instr.make(
        Op.LOAD,
        sub=int(kind),
        rows=rows,
        ext_addr=ext_addr,
        row_bytes=row_bytes,
        ext_stride=ext_stride,
        l1_stride=l1_stride,
        **kw,
    )


def gold_load(cfg, l1, mem, ins):
    """The LOAD semantics of docs/architecture.md on byte images of each kind."""
    kind = Kind(ins["sub"])
    word = word_of(cfg, kind)
    for r in range(ins["rows"]):
        src = ins["ext_addr"] + r * ins["ext_stride"]
        dst = (ins["l1_addr"] + r * ins["l1_stride"]) * word
        l1[kind][dst : dst + ins["row_bytes"]] = mem[src : src + ins["row_bytes"]]


def l1_images(cfg, rng):
    return {k: bytearray(rng.randbytes(word_of(cfg, k) * words_of(cfg, k))) for k in KIND_NAMES}


def pack(values, bits):
    """Little-endian packing of signed lanes."""
    out = 0
    for i, v in enumerate(values):
        out |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return out


def unpack(value, lanes, bits):
    out = []
    for i in range(lanes):
        v = (value >> (i * bits)) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if v >> (bits - 1) else v)
    return out


def edge_accs(cfg, rng, n):
    """Accumulators mixing the extremes, small values (ties) and the full range."""
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    picks = [lo, hi, 0, 1, -1, 2, -2, 127, -128, 128, -129]
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.2:
            out.append(rng.choice(picks))
        elif r < 0.6:
            out.append(rng.randint(-5000, 5000))
        else:
            out.append(rng.randint(lo, hi))
    return out


def reference(cfg, mult, shift, relu, accs):
    rq = Requant(
        mult,
        shift,
        bool(relu),
        out_bits=cfg.act_bits,
        mult_bits=cfg.requant_mult_bits,
        acc_bits=cfg.acc_bits,
    )
    return [int(v) for v in rq.apply(np.array(accs, dtype=np.int64))]


def random_store(rng, cfg, *, mode=None, sp=0, wp=0):
    """A legal STORE whose rows are likely to meet a 4 KB boundary."""
    mode = rng.choice(list(StoreMode)) if mode is None else mode
    bus = cfg.bus_bytes
    channels = rng.randint(1, cfg.pe_cols)
    nbytes = channels * (cfg.acc_bits if mode == StoreMode.RAW else cfg.act_bits) // 8
    rows = rng.randint(1, 5)
    ext_stride = bus * rng.randint(-(-nbytes // bus), -(-nbytes // bus) + 2)
    extent = (rows - 1) * ext_stride + nbytes
    ext_addr = rng.randint(1, MEM // 4096 - 1) * 4096 - bus * rng.randint(0, 12)
    ext_addr = max(0, min(ext_addr, MEM - extent)) // bus * bus
    return Instr.make(
        Op.STORE,
        sub=int(mode),
        ofm_row=rng.randint(0, ACC_ROWS - rows),
        rows=rows,
        ext_addr=ext_addr,
        ext_stride=ext_stride,
        channels=channels,
        sp=sp,
        wp=wp,
    )


def config(mult, shift, relu, **kw):
    return Instr.make(Op.CONFIG, multiplier=mult, shift=shift, relu=int(relu), **kw)


def gold_run(cfg, mem, acc, program):
    """Sequential semantics of CONFIG/STORE on a byte image."""
    rq = (1, 0, 0)
    for ins in program:
        if ins.op is Op.CONFIG:
            rq = (ins["multiplier"], ins["shift"], ins["relu"])
            continue
        for r in range(ins["rows"]):
            lanes = acc[ins["ofm_row"] + r][: ins["channels"]]
            base = ins["ext_addr"] + r * ins["ext_stride"]
            if ins["sub"] == StoreMode.RAW:
                nbytes = cfg.acc_bits // 8
                raw = b"".join((v & ((1 << cfg.acc_bits) - 1)).to_bytes(nbytes, "little")
                               for v in lanes)  # fmt: skip
            else:
                nbytes = cfg.act_bits // 8
                vals = reference(cfg, *rq, lanes)
                raw = b"".join((v & ((1 << cfg.act_bits) - 1)).to_bytes(nbytes, "little")
                               for v in vals)  # fmt: skip
            mem[base : base + len(raw)] = raw
