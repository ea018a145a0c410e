"""The compute engine with the real L1, against a plain-Python model of COMPUTE/FILL."""

import numpy as np
import pytest
from amaranth import Elaboratable, Module
from amaranth.sim import Simulator

from accss3d.isa import Instr, Kind, encode, pack_rulebook_entry
from accss3d.quant import wrap
from sspnna.compute import ComputeEngine
from sspnna.l1 import L1

from .configs import FANOUT1, NONSQUARE, SMALL
from .harness import dma_fill, signed_lanes, wait_until


class ComputeWithL1(Elaboratable):
    def __init__(self, cfg):
        self.cfg = cfg
        self.l1 = L1(cfg=cfg)
        self.ce = ComputeEngine(cfg=cfg)

    def elaborate(self, platform):
        m = Module()
        m.submodules.l1, m.submodules.ce = l1, ce = self.l1, self.ce
        m.d.comb += [
            l1.ifm_addr.eq(ce.ifm_addr),
            ce.ifm_data.eq(l1.ifm_data),
            l1.wgt_addr.eq(ce.wgt_addr),
            ce.wgt_data.eq(l1.wgt_data),
            l1.rbk_addr.eq(ce.rbk_addr),
            ce.rbk_data.eq(l1.rbk_data),
            l1.acc_raddr.eq(ce.acc_raddr),
            l1.acc_ren.eq(ce.acc_ren),
            ce.acc_rdata.eq(l1.acc_rdata),
            l1.acc_waddr.eq(ce.acc_waddr),
            l1.acc_wen.eq(ce.acc_wen),
            l1.acc_wdata.eq(ce.acc_wdata),
            ce.bias.eq(l1.bias),
            ce.prev.avail.eq(1),
            ce.next.avail.eq(1),
        ]
        return m


def model(cfg, ifm, wgt, rbk, bias, program, ofm):
    """Sequential COMPUTE/FILL semantics of docs/architecture.md."""
    R = cfg.pe_rows
    for ins in program:
        if ins.op.name == "FILL":
            for r in range(ins["rows"]):
                ofm[ins["ofm_row"] + r] = bias
            continue
        W = wgt[ins["wgt_addr"] : ins["wgt_addr"] + R].astype(np.int64)
        for e in rbk[ins["rbk_addr"] : ins["rbk_addr"] + ins["pairs"]]:
            e = int(e)
            slot, out, first = e & 0xFFFF, (e >> 16) & 0x7FFF, e >> 31
            x = ifm[ins["ifm_base"] + slot * ins["ifm_stride"] + ins["ifm_offset"]]
            p = x.astype(np.int64) @ W
            row = ins["ofm_base"] + out
            base = bias if (ins["use_first"] and first) else ofm[row]
            ofm[row] = wrap(base + p, cfg.acc_bits)
    return ofm


def random_program(cfg, rng, n_instr, overlap):
    R, C = cfg.pe_rows, cfg.pe_cols
    n_ifm, n_wgt = cfg.words("ifm"), cfg.words("wgt")
    n_rbk, n_ofm = cfg.words("rbk"), cfg.words("ofm")
    ifm = rng.integers(-128, 128, (n_ifm, R))
    wgt = rng.integers(-128, 128, (n_wgt, C))
    bias = rng.integers(-(2**20), 2**20, C)
    rows_used = 8 if overlap else min(n_ofm, 64)
    stride = 2
    slots = n_ifm // stride
    entries = pack_rulebook_entry(
        rng.integers(0, slots, n_rbk), rng.integers(0, rows_used, n_rbk), rng.integers(0, 2, n_rbk)
    )
    program = [Instr.make("FILL", ofm_row=0, rows=rows_used)]
    for i in range(n_instr):
        pairs = int(rng.choice([1, 2, 3, R, 5 * R, 40]))
        program.append(
            Instr.make(
                "COMPUTE",
                wgt_addr=int(rng.integers(0, n_wgt - R + 1)),
                rbk_addr=int(rng.integers(0, n_rbk - pairs + 1)),
                pairs=pairs,
                ifm_base=0,
                ifm_stride=stride,
                ifm_offset=int(rng.integers(0, stride)),
                ofm_base=0,
                use_first=int(i % 3 == 0),
            )
        )
    return ifm, wgt, entries, bias, program, rows_used


@pytest.mark.parametrize("cfg", [SMALL, NONSQUARE, FANOUT1], ids=lambda c: c.name)
@pytest.mark.parametrize("overlap", [False, True], ids=["spread", "overlap"])
def test_compute_engine_matches_model(cfg, overlap):
    rng = np.random.default_rng(7 + overlap)
    ifm, wgt, rbk, bias, program, rows_used = random_program(cfg, rng, 12, overlap)
    expect = model(
        cfg, ifm, wgt, rbk, bias, program, np.zeros((cfg.words("ofm"), cfg.pe_cols), np.int64)
    )
    dut = ComputeWithL1(cfg)
    got = []
    stats = {}

    async def tb(ctx):
        l1, ce = dut.l1, dut.ce
        await dma_fill(ctx, l1.dma, cfg, Kind.IFM, "ifm", ifm.astype(np.int8).view(np.uint8))
        await dma_fill(ctx, l1.dma, cfg, Kind.WGT, "wgt", wgt.astype(np.int8).view(np.uint8))
        await dma_fill(ctx, l1.dma, cfg, Kind.RBK, "rbk", rbk.view(np.uint8))
        await dma_fill(ctx, l1.dma, cfg, Kind.BIAS, "bias", bias.astype("<i4").view(np.uint8))
        start = 0
        for pc, ins in enumerate(program):
            ctx.set(ce.instr.payload.bits, int.from_bytes(encode(ins), "little"))
            ctx.set(ce.instr.payload.pc, pc)
            ctx.set(ce.instr.valid, 1)
            await wait_until(ctx, lambda: ctx.get(ce.instr.ready), 500, "instr ready")
            if pc == 1:
                start = sum(1 for _ in [])
            await ctx.tick()
        ctx.set(ce.instr.valid, 0)
        await wait_until(ctx, lambda: ctx.get(ce.idle), 2000, "compute idle")
        for row in range(rows_used):
            ctx.set(l1.st.payload, row)
            ctx.set(l1.st.valid, 1)
            await ctx.tick()
            ctx.set(l1.st.valid, 0)
            got.append(signed_lanes(ctx.get(l1.st_data), cfg.pe_cols, cfg.acc_bits))
        stats["start"] = start

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    np.testing.assert_array_equal(np.array(got), expect[:rows_used])


def test_runtime_range_error():
    cfg = SMALL
    dut = ComputeWithL1(cfg)
    errors = []

    async def tb(ctx):
        l1, ce = dut.l1, dut.ce
        bad = pack_rulebook_entry([0, 1], [0, 2000], [1, 0])  # out_row 2000 >= OFM rows
        await dma_fill(
            ctx, l1.dma, cfg, Kind.RBK, "rbk", np.resize(bad, cfg.words("rbk")).view(np.uint8)
        )
        ins = Instr.make("COMPUTE", pairs=2, ifm_stride=1, use_first=1)
        ctx.set(ce.instr.payload.bits, int.from_bytes(encode(ins), "little"))
        ctx.set(ce.instr.payload.pc, 5)
        ctx.set(ce.instr.valid, 1)
        await ctx.tick()
        ctx.set(ce.instr.valid, 0)
        for _ in range(40):
            if ctx.get(ce.error.valid):
                errors.append((ctx.get(ce.error.code), ctx.get(ce.error.pc)))
            await ctx.tick()
        assert not ctx.get(ce.idle)  # halted until aborted
        ctx.set(ce.abort, 1)
        await wait_until(ctx, lambda: ctx.get(ce.idle), 100, "idle after abort")
        ctx.set(ce.abort, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert errors == [(3, 5)]  # L1_RANGE at pc 5, reported once


def predict_issue_cycles(cfg, runs, t0):
    """Issue cycles of back-to-back COMPUTE runs by the rules of docs/architecture.md."""
    R, G = cfg.pe_rows, cfg.groups
    accept_free = t0  # preload port free / first accept
    slot_free = t0
    last_issue = {0: -(10**9), 1: -(10**9)}
    prev_end = None  # cycle of the previous run's last issue
    cycles = []
    for i, n in enumerate(runs):
        bank = i % 2
        accept = max(accept_free, slot_free, last_issue[bank] + G)
        take = accept + 1 if prev_end is None or prev_end < accept + 1 else prev_end
        start = take + 1
        cycles += list(range(start, start + n))
        prev_end = start + n - 1
        last_issue[bank] = prev_end
        accept_free = accept + R + 1
        slot_free = take + 1
    return cycles


@pytest.mark.parametrize("cfg", [SMALL, FANOUT1, NONSQUARE], ids=lambda c: c.name)
def test_run_timing_matches_the_spec(cfg):
    runs = [40, 3, 1, 2 * cfg.pe_rows, 5, 30]
    program = [Instr.make("COMPUTE", pairs=n, ifm_stride=1, use_first=1) for n in runs]
    dut = ComputeWithL1(cfg)
    seen = {"issues": [], "accept": None}

    async def tb(ctx):
        ce = dut.ce
        for cycle in range(400):
            if program:
                ctx.set(ce.instr.payload.bits, int.from_bytes(encode(program[0]), "little"))
                ctx.set(ce.instr.valid, 1)
            else:
                ctx.set(ce.instr.valid, 0)
            _, _, ready, valid, issue = await ctx.tick().sample(
                ce.instr.ready, ce.instr.valid, ce.issue
            )
            if issue:
                seen["issues"].append(cycle)
            if ready and valid:
                if seen["accept"] is None:
                    seen["accept"] = cycle
                program.pop(0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen["issues"] == predict_issue_cycles(cfg, runs, seen["accept"])
