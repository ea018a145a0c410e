# amaranth: UnusedElaboratable=no
"""Fetch unit (sspnna.fetch) against the program image in a random AXI memory."""

from __future__ import annotations

import random

import pytest

from accss3d.arch import CONFIGS
from accss3d.isa import INSTR_BYTES, ErrorCode
from sspnna.fetch import Fetch

from .axi_model import AxiMemModel, bounded, simulate

#: 256-bit bus: two instructions per beat.
WIDE = CONFIGS["default"].replace(
    name="wide", pe_rows=32, pe_cols=32, multicast_fanout=32, bus_data_bits=256
)
CFGS = [CONFIGS["small"], CONFIGS["default"], WIDE]
MEM = 4 * 4096


class Bench:
    """A fetch unit, a memory holding a random program, and a random-ready consumer."""

    def __init__(self, cfg, *, seed=0, stall=0.3, latency=(1, 6), error_ranges=()):
        self.cfg = cfg
        self.dut = Fetch(cfg=cfg)
        self.rng = random.Random(seed)
        self.stall = stall
        self.model = AxiMemModel(
            MEM, cfg, seed=seed, stall=stall, latency=latency, error_ranges=error_ranges
        )
        self.model.mem[:] = self.rng.randbytes(MEM)
        self.got: list[tuple[int, int]] = []  # (pc, bits)
        self.got_cycles: list[int] = []
        self.errors: list[tuple[int, int]] = []
        self.cycle = 0

    def program(self, addr, n):
        mem = self.model.mem
        return [
            int.from_bytes(mem[addr + i * INSTR_BYTES : addr + (i + 1) * INSTR_BYTES], "little")
            for i in range(n)
        ]

    def background(self):
        dut = self.dut

        async def consumer(ctx):
            for now in range(1 << 62):
                self.cycle = now
                ctx.set(dut.instr.ready, self.rng.random() >= self.stall)
                _, _, valid, ready, pc, bits, err, code, epc = await ctx.tick().sample(
                    dut.instr.valid,
                    dut.instr.ready,
                    dut.instr.payload.pc,
                    dut.instr.payload.bits,
                    dut.error.valid,
                    dut.error.code,
                    dut.error.pc,
                )
                if valid and ready:
                    self.got.append((pc, bits))
                    self.got_cycles.append(now)
                if err:
                    self.errors.append((code, epc))

        return [consumer, self.model.read_responder(dut.axi)]

    async def start(self, ctx, addr, n):
        ctx.set(self.dut.prog_addr, addr)
        ctx.set(self.dut.prog_len, n)
        ctx.set(self.dut.start, 1)
        await ctx.tick()
        ctx.set(self.dut.start, 0)

    async def wait_exhausted(self, ctx, limit=20_000):
        await bounded(ctx, lambda: ctx.get(self.dut.exhausted), limit, "all instructions")

    def run(self, testbench, name):
        simulate(self.dut, testbench, background=self.background(), name=name)


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be an ArchConfig, not None$"):
        Fetch(cfg=None)


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
@pytest.mark.parametrize("n", [1, 3, 77])
def test_fetches_program_in_order(cfg, n):
    bench = Bench(cfg, seed=n)
    addr = 4096 - 5 * max(INSTR_BYTES, cfg.bus_bytes)  # the program crosses a 4 KB page

    async def tb(ctx):
        await bench.start(ctx, addr, n)
        await bench.wait_exhausted(ctx)
        await bounded(ctx, lambda: ctx.get(bench.dut.idle), 100, "idle")
        for _ in range(10):
            await ctx.tick()
        assert not ctx.get(bench.dut.instr.valid)

    bench.run(tb, f"fetch_{cfg.name}_{n}")
    assert bench.got == list(enumerate(bench.program(addr, n)))
    end = addr + -(-n * INSTR_BYTES // cfg.bus_bytes) * cfg.bus_bytes
    assert max(b.addr + (b.len + 1) * cfg.bus_bytes for b in bench.model.ar_log) == end
    assert all(b.id == 1 for b in bench.model.ar_log)


def test_empty_program_is_exhausted_at_once():
    bench = Bench(CONFIGS["small"])

    async def tb(ctx):
        assert not ctx.get(bench.dut.exhausted)
        await bench.start(ctx, 0, 0)
        assert ctx.get(bench.dut.exhausted) and ctx.get(bench.dut.idle)
        for _ in range(10):
            await ctx.tick()

    bench.run(tb, "fetch_empty")
    assert bench.got == [] and bench.model.ar_log == []


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_bus_error_reports_the_instruction(cfg):
    bad_pc = 21
    bad = bad_pc * INSTR_BYTES
    bench = Bench(cfg, seed=2, error_ranges=[(bad, bad + INSTR_BYTES)])

    async def tb(ctx):
        await bench.start(ctx, 0, 40)
        await bounded(ctx, lambda: bench.errors, 5000, "the error")
        await bounded(ctx, lambda: ctx.get(bench.dut.idle), 500, "idle")
        for _ in range(50):
            await ctx.tick()

    bench.run(tb, f"fetch_error_{cfg.name}")
    first_bad = bad_pc - bad_pc % max(1, cfg.bus_bytes // INSTR_BYTES)
    assert bench.errors == [(ErrorCode.BUS_ERROR, first_bad)]
    assert bench.got == list(enumerate(bench.program(0, first_bad)))[: len(bench.got)]


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_abort_then_restart(cfg):
    bench = Bench(cfg, seed=4, latency=(3, 9))

    async def tb(ctx):
        await bench.start(ctx, 512, 60)
        await bounded(ctx, lambda: len(bench.got) >= 3, 5000, "a few instructions")
        ctx.set(bench.dut.abort, 1)
        await ctx.tick()
        ctx.set(bench.dut.abort, 0)
        await bounded(ctx, lambda: ctx.get(bench.dut.idle), 500, "idle after abort")
        assert not ctx.get(bench.dut.instr.valid)
        del bench.got[:]
        await bench.start(ctx, 1024, 9)
        await bench.wait_exhausted(ctx)

    bench.run(tb, f"fetch_abort_{cfg.name}")
    assert bench.got == list(enumerate(bench.program(1024, 9)))


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_rate_is_bus_bound(cfg):
    bench = Bench(cfg, seed=5, stall=0.0, latency=(4, 4))
    n = 64

    async def tb(ctx):
        await bench.start(ctx, 0, n)
        await bench.wait_exhausted(ctx)

    bench.run(tb, f"fetch_rate_{cfg.name}")
    per = max(1, INSTR_BYTES // cfg.bus_bytes)
    span = bench.got_cycles[-1] - bench.got_cycles[0]
    assert span <= (n - 1) * per * 1.1 + 2


def test_documented_latency():
    """``start`` at t: the first AR at t + 2."""
    bench = Bench(CONFIGS["default"], stall=0.0)
    marks = {}

    async def tb(ctx):
        marks["start"] = bench.cycle
        await bench.start(ctx, 0, 4)
        await bench.wait_exhausted(ctx)

    bench.run(tb, "fetch_latency")
    assert bench.model.ar_log[0].accepted - marks["start"] == 2
