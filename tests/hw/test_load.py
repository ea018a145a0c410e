# amaranth: UnusedElaboratable=no
"""Load engine (sspnna.load) against a plain-Python model of LOAD over a random AXI memory."""

from __future__ import annotations

import random

import pytest

from accss3d.arch import CONFIGS
from accss3d.isa import ErrorCode, Kind, Op, encode
from sspnna.interfaces import MAX_OUTSTANDING, phys_bytes
from sspnna.load import KIND_NAMES, LoadEngine, kind_geometry

from .axi_model import AxiMemModel, TokenModel, bounded, simulate, stream_put
from .dma_models import MEM, gold_load, l1_images, make_load, random_load

CFGS = [CONFIGS["small"], CONFIGS["default"]]


class Bench:
    """One load engine, a memory model, a token counter and an L1 monitor."""

    def __init__(self, cfg, *, seed=0, stall=0.3, latency=(1, 6), error_ranges=(), tokens=0):
        self.cfg = cfg
        self.dut = LoadEngine(cfg=cfg)
        self.rng = random.Random(seed)
        self.model = AxiMemModel(
            MEM, cfg, seed=seed, stall=stall, latency=latency, error_ranges=error_ranges
        )
        self.model.mem[:] = self.rng.randbytes(MEM)
        self.l1 = l1_images(cfg, random.Random(seed + 1))
        self.gold = {k: bytearray(v) for k, v in self.l1.items()}
        self.tok = TokenModel(self.dut.next, tokens)
        self.writes: list[tuple[int, int, int, int]] = []  # (cycle, row, lane, be)
        self.errors: list[tuple[int, int, int]] = []
        self.cycle = 0

    def background(self):
        dut, cfg = self.dut, self.cfg
        bus = cfg.bus_bytes

        async def monitor(ctx):
            w = dut.l1w
            while True:
                e = dut.error
                sampled = await ctx.tick().sample(
                    w.en,
                    w.kind,
                    w.row,
                    w.lane,
                    w.data,
                    w.be,
                    e.valid,
                    e.code,
                    e.pc,
                )
                en, kind, row, lane, data, be, err, code, pc = sampled[2:]
                if en:
                    kind = Kind(kind)
                    name = KIND_NAMES[kind]
                    phys = phys_bytes(cfg, name)
                    assert lane * bus < phys, f"lane {lane} outside a {phys} B row"
                    base = row * phys + lane * bus
                    for j in range(bus):
                        if be >> j & 1:
                            self.l1[kind][base + j] = data >> (8 * j) & 0xFF
                    self.writes.append((self.cycle, row, lane, be))
                if err:
                    self.errors.append((code, pc, self.cycle))
                self.cycle += 1

        return [monitor, self.tok.process, self.model.read_responder(dut.axi)]

    @property
    def write_cycles(self) -> list[int]:
        return [w[0] for w in self.writes]

    def run_one(self, ins, name):
        """Run one instruction to completion; return its L1 writes (row, lane, be)."""

        async def tb(ctx):
            await self.issue(ctx, ins, 0)
            await self.wait_idle(ctx)

        self.run(tb, name)
        return [w[1:] for w in self.writes]

    async def issue(self, ctx, ins, pc):
        await stream_put(
            ctx, self.dut.instr, {"bits": int.from_bytes(encode(ins), "little"), "pc": pc}
        )

    async def wait_idle(self, ctx, limit=20_000):
        await ctx.tick()
        await bounded(ctx, lambda: ctx.get(self.dut.idle), limit, "the load engine to go idle")

    def run(self, testbench, name):
        simulate(self.dut, testbench, background=self.background(), name=name)


# ---------------------------------------------------------------------- construction
def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be an ArchConfig, not 'small'$"):
        LoadEngine(cfg="small")


def test_rejects_word_not_dividing_bus():
    # 16-bit activations, 8-bit weights, 6 columns: a 6 B weight word on a 4 B bus.
    cfg = CONFIGS["small"].replace(
        pe_cols=6, multicast_fanout=6, act_bits=16, wgt_bank_bytes=600, ofm_bank_bytes=2400
    )
    with pytest.raises(
        ValueError, match=r"^L1 wgt word \(6 B\) must be a multiple of the bus width \(4 B\)$"
    ):
        LoadEngine(cfg=cfg)


BUS64 = CONFIGS["default"].replace(name="default64", bus_data_bits=64)


def test_kind_geometry_rbk_on_wide_bus():
    assert kind_geometry(BUS64, Kind.RBK) == (1, 1)  # 2 entries per 8 B row
    assert kind_geometry(BUS64, Kind.PSUM) == (8, 0)  # 64 B = 8 beats
    assert kind_geometry(CONFIGS["small"], Kind.RBK) == (1, 0)


# ---------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_random_loads_all_kinds(cfg):
    bench = Bench(cfg, seed=11)
    rng = random.Random(5)
    loads = [random_load(rng, cfg, kind) for kind in list(KIND_NAMES) * 2]
    rng.shuffle(loads)

    async def tb(ctx):
        for pc, ins in enumerate(loads):
            await bench.issue(ctx, ins, pc)
        await bench.wait_idle(ctx)

    bench.run(tb, f"load_random_{cfg.name}")
    for ins in loads:
        gold_load(cfg, bench.gold, bench.model.mem, ins)
    for kind in KIND_NAMES:
        assert bench.l1[kind] == bench.gold[kind], f"L1 {kind.name} differs"
    assert bench.errors == []
    # the model checked every burst (INCR, size, length, 4 KB); some met a boundary
    assert any(b.addr % 4096 == 0 for b in bench.model.ar_log[1:])
    assert all(b.id == 0 for b in bench.model.ar_log)


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_bias_lands_in_lanes(cfg):
    bench = Bench(cfg, seed=3, stall=0.0)
    word = phys_bytes(cfg, "bias")
    ins = make_load(cfg, Kind.BIAS, rows=1, ext_addr=256, row_bytes=word - 1)
    rows = bench.run_one(ins, f"load_bias_{cfg.name}")
    lanes = word // cfg.bus_bytes
    full = (1 << cfg.bus_bytes) - 1
    assert rows == [(0, i, full if i < lanes - 1 else full >> 1) for i in range(lanes)]


def test_rbk_packs_two_entries_per_row_on_64_bit_bus():
    cfg = BUS64
    bench = Bench(cfg, seed=4, stall=0.0)
    # 3 rows of 3 entries (12 B: 2 beats, the second half-empty), every 4 entries (2 rows)
    ins = make_load(
        cfg, Kind.RBK, l1_addr=10, rows=3, ext_addr=64, row_bytes=12, ext_stride=16, l1_stride=4
    )
    seen = bench.run_one(ins, "load_rbk")
    assert seen == [(5, 0, 0xFF), (6, 0, 0x0F), (7, 0, 0xFF), (8, 0, 0x0F), (9, 0, 0xFF),
                    (10, 0, 0x0F)]  # fmt: skip


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_tokens_wait_and_signal(cfg):
    bench = Bench(cfg, seed=6, tokens=0)
    loads = [
        random_load(random.Random(1), cfg, Kind.IFM, wn=1, sn=1),
        random_load(random.Random(2), cfg, Kind.WGT, sn=1),
    ]

    async def tb(ctx):
        await bench.issue(ctx, loads[0], 0)
        for _ in range(30):  # no token: nothing happens
            await ctx.tick()
        assert bench.model.ar_log == [] and bench.write_cycles == []
        bench.tok.tokens = 1
        await bench.issue(ctx, loads[1], 1)
        await bench.wait_idle(ctx)

    bench.run(tb, f"load_tokens_{cfg.name}")
    assert len(bench.tok.takes) == 1 and bench.tok.tokens == 0
    assert len(bench.tok.gives) == 2
    n0 = sum(-(-loads[0]["row_bytes"] // cfg.bus_bytes) for _ in range(loads[0]["rows"]))
    # each token is given after the last L1 write of its instruction
    assert bench.tok.gives[0] > bench.write_cycles[n0 - 1]
    assert bench.tok.gives[1] > bench.write_cycles[-1]


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_bus_error_reports_pc_and_halts(cfg):
    bad = 4096 + 512
    bench = Bench(cfg, seed=8, error_ranges=[(bad, bad + cfg.bus_bytes)])
    good = make_load(cfg, Kind.IFM, rows=1, ext_addr=0, row_bytes=32, sn=1)
    failing = make_load(cfg, Kind.IFM, rows=4, ext_addr=4096, row_bytes=256, sn=1)

    async def tb(ctx):
        await bench.issue(ctx, good, 7)
        await bench.issue(ctx, failing, 8)
        await bench.wait_idle(ctx)
        await bounded(ctx, lambda: bench.errors, 10, "the error report")
        writes = len(bench.write_cycles)
        # halted: the next instruction is not taken until abort
        ctx.set(bench.dut.instr.valid, 1)
        ctx.set(bench.dut.instr.payload.bits, int.from_bytes(encode(good), "little"))
        for _ in range(20):
            await ctx.tick()
            assert not ctx.get(bench.dut.instr.ready)
        ctx.set(bench.dut.abort, 1)
        await ctx.tick()  # consumed and dropped while aborting
        ctx.set(bench.dut.instr.valid, 0)
        ctx.set(bench.dut.abort, 0)
        for _ in range(20):
            await ctx.tick()
        assert len(bench.write_cycles) == writes
        assert ctx.get(bench.dut.idle) and ctx.get(bench.dut.instr.ready)

    bench.run(tb, f"load_error_{cfg.name}")
    assert [(c, p) for c, p, _ in bench.errors] == [(ErrorCode.BUS_ERROR, 8)]
    assert len(bench.tok.gives) == 1  # the failing LOAD signals nothing
    # no write at or after the bad beat
    beats_before = (bad - 4096) // cfg.bus_bytes
    assert len(bench.write_cycles) == 32 // cfg.bus_bytes + beats_before


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_abort_mid_burst_returns_to_idle(cfg):
    bench = Bench(cfg, seed=9, latency=(4, 8), stall=0.2)
    big = make_load(cfg, Kind.PSUM, rows=8, ext_addr=0, row_bytes=256, sn=1)

    async def tb(ctx):
        await bench.issue(ctx, big, 0)
        await bounded(ctx, lambda: len(bench.write_cycles) >= 5, 2000, "some beats")
        assert not ctx.get(bench.dut.idle)
        ctx.set(bench.dut.abort, 1)
        await ctx.tick()
        ctx.set(bench.dut.abort, 0)
        writes = len(bench.write_cycles)
        await bench.wait_idle(ctx, limit=500)
        assert len(bench.write_cycles) <= writes + 1  # at most the registered beat
        for _ in range(20):  # nothing outstanding anymore
            await ctx.tick()
        # a new LOAD runs normally after an abort
        await bench.issue(ctx, big.__class__.make(Op.LOAD, **{**big.as_dict(), "rows": 1}), 1)
        await bench.wait_idle(ctx)

    bench.run(tb, f"load_abort_{cfg.name}")
    beats_issued = sum(b.len + 1 for b in bench.model.ar_log)
    assert len(bench.tok.gives) == 1 and bench.errors == []
    assert beats_issued < 8 * 256 // cfg.bus_bytes + 256 // cfg.bus_bytes


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_one_beat_per_cycle_and_outstanding_bursts(cfg):
    """No stalls: a LOAD of n beats takes about latency + n cycles (bursts overlap)."""
    bench = Bench(cfg, seed=1, stall=0.0, latency=(8, 8))
    beats_per_row = 512 // cfg.bus_bytes
    ins = make_load(cfg, Kind.IFM, rows=4, ext_addr=0, row_bytes=512)
    span = {}

    async def tb(ctx):
        await bench.issue(ctx, ins, 0)
        span["start"] = bench.cycle
        await bench.wait_idle(ctx)
        span["end"] = bench.cycle

    bench.run(tb, f"load_rate_{cfg.name}")
    beats = 4 * beats_per_row
    assert len(bench.write_cycles) == beats
    assert bench.write_cycles[-1] - bench.write_cycles[0] == beats - 1  # back to back
    assert span["end"] - span["start"] <= beats + 8 + 8
    assert bench.model.max_reads_in_flight == MAX_OUTSTANDING


def test_documented_latencies():
    """Instruction accepted at t: first AR at t + 3; a beat written to L1 one cycle after it
    is accepted; ``sn`` 2 cycles after the last beat."""
    cfg = CONFIGS["small"]
    bench = Bench(cfg, seed=2, stall=0.0, latency=(5, 5))
    ins = make_load(cfg, Kind.IFM, rows=1, ext_addr=0, row_bytes=8, sn=1)
    marks = {}

    async def tb(ctx):
        marks["accept"] = bench.cycle  # the tick of the handshake
        await bench.issue(ctx, ins, 0)
        await bench.wait_idle(ctx)

    bench.run(tb, "load_latency")
    assert bench.model.ar_log[0].accepted - marks["accept"] == 3
    assert [c - 1 for c in bench.write_cycles] == bench.model.r_cycles
    assert bench.tok.gives[0] - bench.model.r_cycles[-1] == 2


def test_consecutive_loads_overlap_their_latency():
    """The bursts of the next LOAD are requested before the data of the current one is in."""
    cfg = CONFIGS["small"]
    bench = Bench(cfg, seed=3, stall=0.0, latency=(12, 12))
    loads = [make_load(cfg, Kind.IFM, rows=1, ext_addr=64 * i, row_bytes=32, l1_addr=8 * i,
                       sn=1) for i in range(3)]  # fmt: skip

    async def tb(ctx):
        for pc, ins in enumerate(loads):
            await bench.issue(ctx, ins, pc)
        await bench.wait_idle(ctx)

    bench.run(tb, "load_overlap")
    ars = [b.accepted for b in bench.model.ar_log]
    first_beats = bench.model.r_cycles
    # two LOADs await data at a time: the second's burst goes out before the first's data
    assert len(ars) == 3 and ars[1] < first_beats[0] < ars[2]
    # far less than three serial LOADs (3 x (3 + 12 + 8 + 3) cycles)
    assert bench.model.r_cycles[-1] - ars[0] <= 2 * 12 + 3 * 8 + 6
    assert len(bench.tok.gives) == 3  # each signals, in order
    assert bench.tok.gives == sorted(bench.tok.gives)
