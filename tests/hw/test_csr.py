# amaranth: UnusedElaboratable=no
"""CSR block (sspnna.csr) against a plain-Python model of the register map of accss3d.isa."""

from __future__ import annotations

import random

import pytest

from accss3d.arch import CONFIGS
from accss3d.isa import CSRS, ISA_VERSION
from sspnna.csr import COUNTER_NAMES, CsrSlave

from .axi_model import simulate

CFGS = [CONFIGS["small"], CONFIGS["default"]]
OFFSET = {c.name: c.offset for c in CSRS}


async def axil_write(ctx, bus, addr, value, strb=0xF, order="together", limit=100):
    """One AXI4-Lite write; ``order``: AW first, W first, or both in the same cycle."""
    ctx.set(bus.b.ready, 1)
    steps = {"together": [("aw", "w")], "aw_first": [("aw",), ("w",)], "w_first": [("w",), ("aw",)]}
    for group in steps[order]:
        if "aw" in group:
            ctx.set(bus.aw.payload.addr, addr)
            ctx.set(bus.aw.valid, 1)
        if "w" in group:
            ctx.set(bus.w.payload, {"data": value, "strb": strb})
            ctx.set(bus.w.valid, 1)
        pending = set(group)
        for _ in range(limit):
            _, _, aw_ready, w_ready = await ctx.tick().sample(bus.aw.ready, bus.w.ready)
            if "aw" in pending and aw_ready:
                ctx.set(bus.aw.valid, 0)
                pending.discard("aw")
            if "w" in pending and w_ready:
                ctx.set(bus.w.valid, 0)
                pending.discard("w")
            if not pending:
                break
        for _ in range(3):  # the other half is late: still no response
            if order != "together" and group == steps[order][0]:
                assert not ctx.get(bus.b.valid)
                await ctx.tick()
    for _ in range(limit):
        _, _, valid, resp = await ctx.tick().sample(bus.b.valid, bus.b.payload.resp)
        if valid:
            ctx.set(bus.b.ready, 0)
            return resp
    raise AssertionError("no write response")


async def axil_read(ctx, bus, addr, limit=100):
    ctx.set(bus.ar.payload.addr, addr)
    ctx.set(bus.ar.valid, 1)
    ctx.set(bus.r.ready, 1)
    for _ in range(limit):
        _, _, ready = await ctx.tick().sample(bus.ar.ready)
        if ready:
            break
    ctx.set(bus.ar.valid, 0)
    for _ in range(limit):
        if ctx.get(bus.r.valid):
            break
        await ctx.tick()
    else:
        raise AssertionError("no read response")
    data, resp = ctx.get(bus.r.payload.data), ctx.get(bus.r.payload.resp)
    await ctx.tick()
    ctx.set(bus.r.ready, 0)
    assert resp == 0
    return data


def expected_reset(cfg):
    return {
        "ID": 0x53534E41,
        "VERSION": ISA_VERSION[0] << 16 | ISA_VERSION[1],
        "CONFIG_HASH": int.from_bytes(bytes.fromhex(cfg.digest())[:4], "big"),
        "PROG_ADDR": 0,
        "PROG_LEN": 0,
        "MEM_LIMIT": min(2**cfg.addr_bits - 1, 2**32 - 1),
        "WATCHDOG": 0,
    }


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be an ArchConfig, not 'x'$"):
        CsrSlave(cfg="x")


@pytest.mark.parametrize("cfg", [*CFGS, CONFIGS["small"].replace(addr_bits=20)],
                         ids=["small", "default", "addr20"])  # fmt: skip
def test_reset_values_and_constants(cfg):
    dut = CsrSlave(cfg=cfg)
    got = {}

    async def tb(ctx):
        for name in expected_reset(cfg):
            got[name] = await axil_read(ctx, dut.bus, OFFSET[name])

    simulate(dut, tb, name=f"csr_reset_{cfg.name}")
    assert got == expected_reset(cfg)


@pytest.mark.parametrize("order", ["together", "aw_first", "w_first"])
def test_writes_in_any_order_with_strobes(order):
    dut = CsrSlave(cfg=CONFIGS["small"])

    async def tb(ctx):
        assert await axil_write(ctx, dut.bus, OFFSET["PROG_ADDR"], 0x12345678, order=order) == 0
        assert ctx.get(dut.prog_addr) == 0x12345678
        await axil_write(ctx, dut.bus, OFFSET["PROG_ADDR"], 0xAABBCCDD, strb=0b0101, order=order)
        assert await axil_read(ctx, dut.bus, OFFSET["PROG_ADDR"]) == 0x12BB56DD
        await axil_write(ctx, dut.bus, OFFSET["WATCHDOG"], 1000, order=order)
        assert ctx.get(dut.watchdog) == 1000 and ctx.get(dut.prog_len) == 0

    simulate(dut, tb, name=f"csr_write_{order}")


def test_ctrl_pulses_start_and_clear():
    dut = CsrSlave(cfg=CONFIGS["small"])
    pulses = []

    async def watch(ctx):
        for now in range(1 << 30):
            _, _, start, clear = await ctx.tick().sample(dut.start, dut.clear)
            if start or clear:
                pulses.append((now, start, clear))

    async def tb(ctx):
        await axil_write(ctx, dut.bus, OFFSET["CTRL"], 1)
        await axil_write(ctx, dut.bus, OFFSET["CTRL"], 2, order="w_first")
        await axil_write(ctx, dut.bus, OFFSET["CTRL"], 3, strb=0b1110)  # byte 0 not written
        assert await axil_read(ctx, dut.bus, OFFSET["CTRL"]) == 0  # write-only

    simulate(dut, tb, background=[watch], name="csr_ctrl")
    assert [(s, c) for _, s, c in pulses] == [(1, 0), (0, 1)]


def test_status_error_and_counters_latch_high_word():
    dut = CsrSlave(cfg=CONFIGS["default"])

    async def tb(ctx):
        ctx.set(dut.status, {"busy": 1, "done": 0, "error": 1})
        ctx.set(dut.error_code, 5)
        ctx.set(dut.error_pc, 0xDEAD)
        assert await axil_read(ctx, dut.bus, OFFSET["STATUS"]) == 0b101
        assert await axil_read(ctx, dut.bus, OFFSET["ERROR_CODE"]) == 5
        assert await axil_read(ctx, dut.bus, OFFSET["ERROR_PC"]) == 0xDEAD
        for i, name in enumerate(COUNTER_NAMES):
            value = (i + 1) << 32 | 0xFFFFFFF0 + i
            getattr_counter = getattr(dut.counters, name)
            ctx.set(getattr_counter, value)
            lo = await axil_read(ctx, dut.bus, OFFSET[f"{name.upper()}_LO"])
            ctx.set(getattr_counter, value + 0x20)  # carries into the high word meanwhile
            hi = await axil_read(ctx, dut.bus, OFFSET[f"{name.upper()}_HI"])
            assert (hi << 32 | lo) == value, name
        assert await axil_read(ctx, dut.bus, 0x78) == 0  # unknown: 0, OKAY
        assert await axil_write(ctx, dut.bus, 0x78, 1) == 0
        assert await axil_write(ctx, dut.bus, OFFSET["ID"], 1) == 0  # read-only: ignored
        assert await axil_read(ctx, dut.bus, OFFSET["ID"]) == 0x53534E41

    simulate(dut, tb, name="csr_counters")


def test_random_accesses_match_model():
    """Random reads and writes over the whole map (and holes) against a dict model."""
    cfg = CONFIGS["small"]
    dut = CsrSlave(cfg=cfg)
    rng = random.Random(7)
    model = dict(expected_reset(cfg))
    access = {c.name: c.access for c in CSRS}

    async def tb(ctx):
        for _ in range(60):
            offset = rng.randrange(0, 0x80, 4)
            name = next((c.name for c in CSRS if c.offset == offset), None)
            if rng.random() < 0.5:
                value = rng.getrandbits(32)
                order = rng.choice(["together", "aw_first", "w_first"])
                await axil_write(ctx, dut.bus, offset, value, order=order)
                if name is not None and access[name] == "rw":
                    model[name] = value
            else:
                got = await axil_read(ctx, dut.bus, offset)
                want = model.get(name, 0) if name is not None and access[name] != "wo" else 0
                if name is None or name in model or access[name] == "wo":
                    assert got == want, (hex(offset), name)

    simulate(dut, tb, name="csr_random")
