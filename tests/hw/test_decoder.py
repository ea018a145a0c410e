"""The hardware decoder's legality checks, case by case (docs/architecture.md "Legality")."""

import pytest
from amaranth.sim import Simulator

from accss3d.isa import Engine, ErrorCode, Instr, Kind, encode
from sspnna.decoder import Decoder

from .configs import SMALL

CFG = SMALL  # 4x4, 32-bit bus: IFM 512 words, WGT 256, RBK 256 entries, OFM 256 rows
LIMIT = 1 << 20


def raw(ins: Instr) -> int:
    return int.from_bytes(encode(ins), "little")


CASES = [
    (
        "load ok",
        raw(
            Instr.make(
                "LOAD", sub=Kind.IFM, rows=4, row_bytes=4, ext_addr=64, ext_stride=4, l1_stride=1
            )
        ),
        Engine.LOAD,
        ErrorCode.NONE,
    ),
    (
        "compute ok",
        raw(Instr.make("COMPUTE", pairs=3, ifm_stride=2, ifm_offset=1)),
        Engine.COMPUTE,
        ErrorCode.NONE,
    ),
    (
        "store ok",
        raw(Instr.make("STORE", rows=2, channels=4, ext_addr=8, ext_stride=4)),
        Engine.STORE,
        ErrorCode.NONE,
    ),
    (
        "config ok",
        raw(Instr.make("CONFIG", multiplier=65535, shift=47, relu=1)),
        Engine.STORE,
        ErrorCode.NONE,
    ),
    ("halt", raw(Instr.make("HALT")), Engine.GLOBAL, ErrorCode.NONE),
    ("zero word", 0, None, ErrorCode.ILLEGAL_OPCODE),
    ("gap opcode", 0x33, None, ErrorCode.ILLEGAL_OPCODE),
    ("nop reserved bit", raw(Instr.make("NOP")) | (1 << 100), None, ErrorCode.RESERVED_BITS),
    (
        "load unknown kind",
        raw(Instr.make("LOAD", sub=7, rows=1, row_bytes=4, l1_stride=1)),
        None,
        ErrorCode.RESERVED_BITS,
    ),
    (
        "load rows 0",
        raw(Instr.make("LOAD", rows=0, row_bytes=4, l1_stride=1)),
        None,
        ErrorCode.BAD_FIELD,
    ),
    (
        "load row wider than stride",
        raw(Instr.make("LOAD", rows=2, row_bytes=9, l1_stride=2)),
        None,
        ErrorCode.BAD_FIELD,
    ),
    (
        "load past IFM",
        raw(Instr.make("LOAD", l1_addr=510, rows=2, row_bytes=8, l1_stride=2)),
        None,
        ErrorCode.L1_RANGE,
    ),
    (
        "load misaligned ext",
        raw(Instr.make("LOAD", rows=1, row_bytes=4, l1_stride=1, ext_addr=2)),
        None,
        ErrorCode.EXT_RANGE,
    ),
    (
        "load past mem limit",
        raw(Instr.make("LOAD", rows=2, row_bytes=4, l1_stride=1, ext_addr=LIMIT - 4, ext_stride=4)),
        None,
        ErrorCode.EXT_RANGE,
    ),
    (
        "bias rows 2",
        raw(Instr.make("LOAD", sub=Kind.BIAS, rows=2, row_bytes=16, l1_stride=1)),
        None,
        ErrorCode.BAD_FIELD,
    ),
    (
        "compute offset >= stride",
        raw(Instr.make("COMPUTE", pairs=1, ifm_stride=2, ifm_offset=2)),
        None,
        ErrorCode.BAD_FIELD,
    ),
    (
        "compute past RBK",
        raw(Instr.make("COMPUTE", pairs=10, rbk_addr=250, ifm_stride=1)),
        None,
        ErrorCode.L1_RANGE,
    ),
    (
        "store too many channels",
        raw(Instr.make("STORE", rows=1, channels=5)),
        None,
        ErrorCode.BAD_FIELD,
    ),
    (
        "store unknown mode",
        raw(Instr.make("STORE", sub=3, rows=1, channels=1)),
        None,
        ErrorCode.RESERVED_BITS,
    ),
    ("fill past OFM", raw(Instr.make("FILL", ofm_row=255, rows=2)), None, ErrorCode.L1_RANGE),
    (
        "config multiplier too wide",
        raw(Instr.make("CONFIG", multiplier=1 << 16)),
        None,
        ErrorCode.BAD_FIELD,
    ),
]


@pytest.mark.parametrize("name, bits, engine, error", CASES, ids=[c[0] for c in CASES])
def test_legality(name, bits, engine, error):
    dut = Decoder(cfg=CFG)
    seen = {}

    async def tb(ctx):
        ctx.set(dut.bits, bits)
        ctx.set(dut.mem_limit, LIMIT)
        await ctx.delay(1e-9)
        seen["error"], seen["engine"] = ctx.get(dut.error), ctx.get(dut.engine)

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    assert seen["error"] == error
    if engine is not None:
        assert seen["engine"] == engine
