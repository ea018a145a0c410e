# amaranth: UnusedElaboratable=no
"""Store engine (sspnna.store) and requantizer (sspnna.requant) against accss3d.quant.Requant
and a plain-Python model of STORE over a random AXI memory."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accss3d.arch import CONFIGS
from accss3d.isa import ErrorCode, Instr, Op, StoreMode, encode
from sspnna.interfaces import MAX_OUTSTANDING
from sspnna.requant import Requantizer
from sspnna.store import StoreEngine

from .axi_model import AxiMemModel, TokenModel, bounded, simulate, stream_put
from .dma_models import (
    ACC_ROWS,
    MEM,
    config,
    edge_accs,
    gold_run,
    pack,
    random_store,
    reference,
    unpack,
)  # fmt: skip

CFGS = [CONFIGS["small"], CONFIGS["default"]]


# ---------------------------------------------------------------------- requantizer
def run_requant(cfg, cases, lanes=4):
    """``cases``: list of (multiplier, shift, relu, accs); returns the outputs per case."""
    dut = Requantizer(cfg=cfg, lanes=lanes)
    results = []

    async def tb(ctx):
        for mult, shift, relu, accs in cases:
            ctx.set(dut.multiplier, mult)
            ctx.set(dut.shift, shift)
            ctx.set(dut.relu, relu)
            vectors = [accs[i : i + lanes] for i in range(0, len(accs), lanes)]
            vectors[-1] = vectors[-1] + [0] * (lanes - len(vectors[-1]))
            got = []
            for i in range(len(vectors) + Requantizer.LATENCY):
                if i < len(vectors):
                    ctx.set(dut.acc.as_value(), pack(vectors[i], cfg.acc_bits))
                await ctx.tick()
                if i + 1 >= Requantizer.LATENCY:
                    got += unpack(ctx.get(dut.out.as_value()), lanes, cfg.act_bits)
            results.append(got[: len(accs)])

    simulate(dut, tb, name="requant")
    return results


def test_requantizer_edges():
    cfg = CONFIGS["default"]
    rng = random.Random(0)
    top = cfg.acc_bits + cfg.requant_mult_bits - 1
    cases = [
        (1, 0, 0, edge_accs(cfg, rng, 40)),  # shift 0: no rounding term, saturation
        (1, 1, 0, [1, -1, 3, -3, 5, -5, 2, -2]),  # ties: 1/2 -> 1, -1/2 -> 0
        (0xFFFF, top, 0, edge_accs(cfg, rng, 40)),  # largest shift and multiplier
        (0x8000, 16, 1, edge_accs(cfg, rng, 40)),  # ReLU
        (12345, 20, 0, edge_accs(cfg, rng, 40)),
        (0, 5, 1, [-7, 7]),
    ]
    got = run_requant(cfg, cases)
    for (mult, shift, relu, accs), out in zip(cases, got, strict=True):
        assert out == reference(cfg, mult, shift, relu, accs), (mult, shift, relu)


@settings(max_examples=12, deadline=None)
@given(
    mult=st.integers(0, (1 << 16) - 1),
    shift=st.integers(0, 47),
    relu=st.booleans(),
    accs=st.lists(st.integers(-(1 << 31), (1 << 31) - 1), min_size=1, max_size=12),
)
def test_requantizer_matches_reference(mult, shift, relu, accs):
    cfg = CONFIGS["default"]
    (out,) = run_requant(cfg, [(mult, shift, int(relu), accs)])
    assert out == reference(cfg, mult, shift, relu, accs)


def test_requantizer_rejects_bad_lanes():
    with pytest.raises(TypeError, match=r"^lanes must be a positive integer, not 0$"):
        Requantizer(cfg=CONFIGS["small"], lanes=0)


# ---------------------------------------------------------------------- store engine
class Bench:
    """One store engine, an accumulator read port, a memory model and a token semaphore."""

    def __init__(self, cfg, *, seed=0, stall=0.3, latency=(1, 6), error_ranges=(), tokens=0):
        self.cfg = cfg
        self.dut = StoreEngine(cfg=cfg)
        rng = random.Random(seed)
        self.rng = rng
        self.stall = stall
        self.acc = [edge_accs(cfg, rng, cfg.pe_cols) for _ in range(ACC_ROWS)]
        self.model = AxiMemModel(
            MEM, cfg, seed=seed, stall=stall, latency=latency, error_ranges=error_ranges
        )
        self.model.mem[:] = rng.randbytes(MEM)
        self.gold = bytearray(self.model.mem)
        self.tok = TokenModel(self.dut.prev, tokens)
        self.errors: list[tuple[int, int]] = []
        self.reads: list[int] = []
        self.read_cycles: list[int] = []
        self.cycle = 0

    def background(self):
        dut, cfg = self.dut, self.cfg
        row_bits = cfg.pe_cols * cfg.acc_bits

        async def acc_port(ctx):
            for now in range(1 << 62):
                self.cycle = now
                ctx.set(dut.ofm_req.ready, self.rng.random() >= self.stall)
                _, _, valid, ready, addr, err, code, pc = await ctx.tick().sample(
                    dut.ofm_req.valid,
                    dut.ofm_req.ready,
                    dut.ofm_req.payload,
                    dut.error.valid,
                    dut.error.code,
                    dut.error.pc,
                )
                if valid and ready:  # the row is there for exactly the next cycle
                    self.reads.append(addr)
                    self.read_cycles.append(now)
                    ctx.set(dut.ofm_data, pack(self.acc[addr], cfg.acc_bits))
                else:
                    ctx.set(dut.ofm_data, self.rng.getrandbits(row_bits))
                if err:
                    self.errors.append((code, pc))

        return [acc_port, self.tok.process, self.model.write_responder(dut.axi)]

    async def issue(self, ctx, ins, pc):
        bits = int.from_bytes(encode(ins), "little")
        await stream_put(ctx, self.dut.instr, {"bits": bits, "pc": pc})

    async def wait_idle(self, ctx, limit=20_000):
        await ctx.tick()
        await bounded(ctx, lambda: ctx.get(self.dut.idle), limit, "the store engine to go idle")

    def run_program(self, program, name):
        async def tb(ctx):
            for pc, ins in enumerate(program):
                await self.issue(ctx, ins, pc)
            await self.wait_idle(ctx)

        simulate(self.dut, tb, background=self.background(), name=name)


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be an ArchConfig, not 3$"):
        StoreEngine(cfg=3)


def test_rejects_activations_wider_than_a_beat():
    cfg = CONFIGS["small"].replace(bus_data_bits=8, act_bits=16)
    with pytest.raises(
        ValueError,
        match=r"^a bus beat \(1 B\) must hold whole activations \(2 B\) and an accumulator "
        r"row must requantize to whole beats \(8 B\)$",
    ):
        StoreEngine(cfg=cfg)


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_random_stores(cfg):
    bench = Bench(cfg, seed=21)
    rng = random.Random(2)
    program = [random_store(rng, cfg, mode=StoreMode.REQUANT)]  # identity before any CONFIG
    for _ in range(4):
        program.append(config(rng.randint(0, 0xFFFF), rng.randint(0, 40), rng.random() < 0.5))
        program += [random_store(rng, cfg) for _ in range(2)]
    bench.run_program(program, f"store_random_{cfg.name}")
    gold_run(cfg, bench.gold, bench.acc, program)
    assert bench.model.mem == bench.gold
    assert bench.errors == []
    assert all(b.id == 0 for b in bench.model.aw_log)
    assert any(b.addr % 4096 == 0 for b in bench.model.aw_log)


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_partial_last_beat_strobes(cfg):
    """One channel per row: a single byte (REQUANT) or accumulator (RAW) per row."""
    bench = Bench(cfg, seed=5, stall=0.0)
    program = [
        config(3, 2, 0),
        Instr.make(Op.STORE, rows=3, ofm_row=7, ext_addr=64, ext_stride=4 * cfg.bus_bytes,
                   channels=1),
        Instr.make(Op.STORE, sub=StoreMode.RAW, rows=2, ofm_row=1, ext_addr=1024,
                   ext_stride=cfg.bus_bytes, channels=cfg.pe_cols - 1),
    ]  # fmt: skip
    bench.run_program(program, f"store_strobes_{cfg.name}")
    gold_run(cfg, bench.gold, bench.acc, program)
    assert bench.model.mem == bench.gold


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_tokens_wait_and_signal_after_last_response(cfg):
    bench = Bench(cfg, seed=7, tokens=0, latency=(5, 10))
    st_ = random_store(random.Random(3), cfg, wp=1, sp=1)

    async def tb(ctx):
        await bench.issue(ctx, config(5, 3, 1, wp=1, sp=1), 0)
        for _ in range(20):
            await ctx.tick()
        assert bench.tok.gives == []  # CONFIG waits for its token too
        bench.tok.tokens = 2
        await bench.issue(ctx, st_, 1)
        await bench.wait_idle(ctx)

    simulate(bench.dut, tb, background=bench.background(), name=f"store_tokens_{cfg.name}")
    assert len(bench.tok.takes) == 2 and len(bench.tok.gives) == 2
    assert bench.tok.gives[1] > bench.model.b_cycles[-1]
    assert bench.model.w_cycles[0] > bench.tok.takes[1]
    gold_run(cfg, bench.gold, bench.acc, [config(5, 3, 1), st_])
    assert bench.model.mem == bench.gold


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_bresp_error_reports_pc_and_halts(cfg):
    bad = 2048
    bench = Bench(cfg, seed=8, error_ranges=[(bad, bad + 64)])
    failing = Instr.make(
        Op.STORE, sub=StoreMode.RAW, rows=6, ofm_row=0, ext_addr=bad - 128, ext_stride=64,
        channels=cfg.pe_cols, sp=1,
    )  # fmt: skip

    async def tb(ctx):
        await bench.issue(ctx, config(1, 0, 0, sp=1), 4)
        await bench.issue(ctx, failing, 5)
        await bench.wait_idle(ctx)
        await bounded(ctx, lambda: bench.errors, 10, "the error report")
        ctx.set(bench.dut.instr.valid, 1)
        for _ in range(10):
            await ctx.tick()
            assert not ctx.get(bench.dut.instr.ready)
        ctx.set(bench.dut.abort, 1)
        await ctx.tick()
        ctx.set(bench.dut.abort, 0)
        ctx.set(bench.dut.instr.valid, 0)
        await ctx.tick()
        assert ctx.get(bench.dut.idle) and ctx.get(bench.dut.instr.ready)

    simulate(bench.dut, tb, background=bench.background(), name=f"store_error_{cfg.name}")
    assert bench.errors == [(ErrorCode.BUS_ERROR, 5)]
    assert len(bench.tok.gives) == 1  # the CONFIG's only


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_abort_mid_burst_completes_bursts_and_idles(cfg):
    bench = Bench(cfg, seed=9, latency=(3, 8), stall=0.3)
    big = Instr.make(
        Op.STORE, sub=StoreMode.RAW, rows=16, ofm_row=0, ext_addr=0, ext_stride=256,
        channels=cfg.pe_cols, sp=1,
    )  # fmt: skip

    async def tb(ctx):
        await bench.issue(ctx, big, 0)
        await bounded(ctx, lambda: len(bench.model.w_cycles) >= 3, 2000, "some W beats")
        ctx.set(bench.dut.abort, 1)
        await ctx.tick()
        ctx.set(bench.dut.abort, 0)
        await bench.wait_idle(ctx, limit=1000)
        for _ in range(30):  # quiet: nothing left on the bus
            await ctx.tick()
        assert ctx.get(bench.dut.idle)
        # the engine works normally afterwards
        await bench.issue(ctx, Instr.make(Op.STORE, rows=1, ext_addr=8192, channels=1), 1)
        await bench.wait_idle(ctx)

    simulate(bench.dut, tb, background=bench.background(), name=f"store_abort_{cfg.name}")
    beats = sum(b.len + 1 for b in bench.model.aw_log)
    assert len(bench.model.w_cycles) == beats  # every issued burst got all its beats
    assert len(bench.model.b_cycles) == len(bench.model.aw_log)
    assert beats < 16 * cfg.pe_cols * 4 // cfg.bus_bytes
    assert bench.tok.gives == [] and bench.errors == []


@pytest.mark.parametrize(
    "cfg",
    [*CFGS, CONFIGS["default"].replace(name="default64", bus_data_bits=64)],
    ids=lambda c: c.name,
)
def test_one_beat_per_cycle(cfg):
    """No stalls: RAW rows stream one W beat per cycle with bursts overlapping responses."""
    bench = Bench(cfg, seed=1, stall=0.0, latency=(6, 6))
    row = cfg.pe_cols * cfg.acc_bits // 8
    rows = 8
    program = [
        Instr.make(Op.STORE, sub=StoreMode.RAW, rows=rows, ofm_row=0, ext_addr=0,
                   ext_stride=row, channels=cfg.pe_cols),
        Instr.make(Op.STORE, rows=rows, ofm_row=8, ext_addr=4096, ext_stride=cfg.bus_bytes,
                   channels=cfg.bus_bytes),
    ]  # fmt: skip
    bench.run_program(program, f"store_rate_{cfg.name}")
    w = bench.model.w_cycles
    raw_beats = rows * row // cfg.bus_bytes
    assert w[raw_beats - 1] - w[0] == raw_beats - 1  # back to back
    assert w[-1] - w[raw_beats] == rows - 1  # one-beat rows: one accumulator row per cycle
    # Short bursts overlap their responses: several in flight (more on narrower buses).
    assert bench.model.max_writes_in_flight >= min(MAX_OUTSTANDING - 1, 2)
    gold_run(cfg, bench.gold, bench.acc, program)
    assert bench.model.mem == bench.gold


def test_documented_latencies():
    """STORE accepted at t: row read at t + 2, AW at t + 4, first W beat 7 cycles after the
    row read; ``sp`` 2 cycles after the last response; CONFIG + STORE back to back."""
    cfg = CONFIGS["small"]
    bench = Bench(cfg, seed=2, stall=0.0, latency=(5, 5))
    ins = Instr.make(Op.STORE, rows=1, ext_addr=0, channels=4, sp=1)
    marks = {}

    async def tb(ctx):
        marks["accept"] = bench.cycle
        await bench.issue(ctx, ins, 0)
        await bench.wait_idle(ctx)

    simulate(bench.dut, tb, background=bench.background(), name="store_latency")
    t = marks["accept"]
    assert bench.read_cycles[0] - t == 2
    assert bench.model.aw_log[0].accepted - t == 4
    assert bench.model.w_cycles[0] - bench.read_cycles[0] == 7
    assert bench.tok.gives[0] - bench.model.b_cycles[-1] == 2
