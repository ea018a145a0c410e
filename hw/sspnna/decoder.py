"""Owns instruction decoding in hardware: layouts from the ISA and the legality checks.

:func:`sspnna.fields.op_layout` gives, for every opcode, an Amaranth ``data.StructLayout``
of the 128 instruction bits built from :data:`accss3d.isa.OPCODES`, so the hardware never
restates a bit position.  :class:`Decoder` checks one instruction against
docs/architecture.md "Legality" (opcode, reserved bits, sub-opcodes, counts, L1 ranges,
external ranges against ``MEM_LIMIT`` and bus alignment, physical-row alignment of LOADs)
and names the engine it goes to.

Latency: combinational (the controller registers its result).  The range checks use small
multipliers (``rows x stride``), once per instruction.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig
from accss3d.isa import INSTR_BITS, OPCODES, ErrorCode, Kind, Op, StoreMode

from .fields import op_layout
from .interfaces import phys_bytes

__all__ = ["Decoder", "ENGINE_BITS", "used_mask"]

ENGINE_BITS = 2


def used_mask(op: Op) -> int:
    """Bit mask of the bits an opcode's fields occupy."""
    mask = 0
    for f in OPCODES[op].all_fields:
        mask |= ((1 << f.width) - 1) << f.lsb
    return mask


class Decoder(wiring.Component):
    """Legality check and engine selection of one instruction (combinational).

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    bits : In(128)
        The instruction.
    mem_limit : In(32)
        External accesses must end at or below this byte address.
    engine : Out(2)
        ``accss3d.isa.Engine`` of the instruction.
    halt, sync : Out(1)
        HALT / SYNC.
    error : Out(4)
        ``accss3d.isa.ErrorCode`` (0: legal).
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        super().__init__(
            {
                "bits": In(INSTR_BITS),
                "mem_limit": In(32),
                "engine": Out(ENGINE_BITS),
                "halt": Out(1),
                "sync": Out(1),
                "error": Out(4),
            }
        )

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        bits = self.bits
        opcode = bits[:8]
        err = self.error
        B = cfg.bus_bytes

        checks: list[tuple[ErrorCode, object]] = []

        def fail(code: ErrorCode, cond):
            # Collected in order; the first failing check wins (priority chain below).
            flag = Signal(name=f"chk{len(checks)}_{code.name.lower()}")
            m.d.comb += flag.eq(cond)
            checks.append((code, flag))

        def ext_check(view, row_bytes, name):
            """EXT_RANGE: alignment, and the end of the last row at or below MEM_LIMIT."""
            end = Signal(64, name=f"{name}_ext_end")
            m.d.comb += end.eq(view.ext_addr + (view.rows - 1) * view.ext_stride + row_bytes)
            fail(
                ErrorCode.EXT_RANGE,
                (view.ext_addr % B != 0) | (view.ext_stride % B != 0) | (end > self.mem_limit),
            )

        known = Signal(name="known_op")
        m.d.comb += known.eq(0)
        for op in Op:
            with m.If(opcode == op):
                m.d.comb += known.eq(1)
                m.d.comb += self.engine.eq(OPCODES[op].engine)
                unused = ((1 << INSTR_BITS) - 1) & ~used_mask(op)
                fail(ErrorCode.RESERVED_BITS, (bits & Const(unused, INSTR_BITS)) != 0)
        fail(ErrorCode.ILLEGAL_OPCODE, ~known)
        m.d.comb += [self.halt.eq(opcode == Op.HALT), self.sync.eq(opcode == Op.SYNC)]

        sub = bits[12:16]
        with m.If(opcode == Op.LOAD):
            v = data.View(op_layout(Op.LOAD), bits)
            fail(ErrorCode.RESERVED_BITS, sub > max(Kind))
            fail(ErrorCode.BAD_FIELD, (v.rows == 0) | (v.row_bytes == 0))
            for kind, name in (
                (Kind.IFM, "ifm"),
                (Kind.WGT, "wgt"),
                (Kind.RBK, "rbk"),
                (Kind.PSUM, "ofm"),
            ):
                with m.If(sub == kind):
                    word = cfg.word_bytes(name)
                    per_row = max(1, phys_bytes(cfg, name) // word)
                    words_used = Signal(32, name=f"ld_words_{name}")
                    m.d.comb += words_used.eq((v.row_bytes + word - 1) // word)
                    fail(
                        ErrorCode.BAD_FIELD,
                        (v.l1_stride * word < v.row_bytes)
                        | (v.l1_addr % per_row != 0)
                        | (v.l1_stride % per_row != 0),
                    )
                    last = Signal(40, name=f"ld_last_{name}")
                    m.d.comb += last.eq(v.l1_addr + (v.rows - 1) * v.l1_stride + words_used)
                    fail(ErrorCode.L1_RANGE, last > cfg.words(name))
            with m.If(sub == Kind.BIAS):
                fail(
                    ErrorCode.BAD_FIELD,
                    (v.l1_addr != 0)
                    | (v.rows != 1)
                    | (v.row_bytes > cfg.pe_cols * cfg.acc_bits // 8),
                )
            ext_check(v, v.row_bytes, "ld")
        with m.If(opcode == Op.COMPUTE):
            v = data.View(op_layout(Op.COMPUTE), bits)
            fail(ErrorCode.RESERVED_BITS, sub != 0)
            fail(
                ErrorCode.BAD_FIELD,
                (v.pairs == 0) | (v.ifm_stride == 0) | (v.ifm_offset >= v.ifm_stride),
            )
            fail(
                ErrorCode.L1_RANGE,
                (v.wgt_addr + cfg.pe_rows > cfg.words("wgt"))
                | (v.rbk_addr + v.pairs > cfg.words("rbk"))
                | (v.ifm_base + v.ifm_offset >= cfg.words("ifm"))
                | (v.ofm_base >= cfg.words("ofm")),
            )
        with m.If(opcode == Op.STORE):
            v = data.View(op_layout(Op.STORE), bits)
            fail(ErrorCode.RESERVED_BITS, sub > max(StoreMode))
            fail(
                ErrorCode.BAD_FIELD, (v.rows == 0) | (v.channels == 0) | (v.channels > cfg.pe_cols)
            )
            fail(ErrorCode.L1_RANGE, v.ofm_row + v.rows > cfg.words("ofm"))
            row_bytes = Signal(16, name="st_row_bytes")
            m.d.comb += row_bytes.eq(
                Mux(
                    sub == StoreMode.RAW,
                    v.channels * (cfg.acc_bits // 8),
                    v.channels * (cfg.act_bits // 8),
                )
            )
            ext_check(v, row_bytes, "st")
        with m.If(opcode == Op.FILL):
            v = data.View(op_layout(Op.FILL), bits)
            fail(ErrorCode.BAD_FIELD, v.rows == 0)
            fail(ErrorCode.L1_RANGE, v.ofm_row + v.rows > cfg.words("ofm"))
        with m.If(opcode == Op.CONFIG):
            v = data.View(op_layout(Op.CONFIG), bits)
            fail(
                ErrorCode.BAD_FIELD,
                (v.multiplier >= (1 << cfg.requant_mult_bits))
                | (v.shift >= cfg.acc_bits + cfg.requant_mult_bits),
            )
        for i, (code, flag) in enumerate(checks):
            with (m.If if i == 0 else m.Elif)(flag):
                m.d.comb += err.eq(code)
        return m
