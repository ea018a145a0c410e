"""PE, interconnect and array against a numpy model of the same contract."""

import numpy as np
import pytest
from amaranth import Elaboratable, Module
from amaranth.sim import Simulator

from sspnna.array import PEArray
from sspnna.interconnect import Interconnect
from sspnna.pe import PE

from .configs import FANOUT1, NONSQUARE, SMALL


def test_pe_mac_and_weight_banks():
    dut = PE(cfg=SMALL)
    out = []

    async def tb(ctx):
        for bank, w in ((0, -3), (1, 7)):
            ctx.set(dut.w_we, 1)
            ctx.set(dut.w_bank, bank)
            ctx.set(dut.w_data, w)
            await ctx.tick()
        ctx.set(dut.w_we, 0)
        for x, sel, p in ((5, 0, 100), (-128, 1, -1), (127, 0, 2**31 - 1)):
            ctx.set(dut.x, x)
            ctx.set(dut.wsel, sel)
            ctx.set(dut.psum_in, p)
            await ctx.tick()
            out.append(ctx.get(dut.psum_out))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    wrap = (2**31 - 1 + 127 * -3 + 2**31) % 2**32 - 2**31
    assert out == [100 - 15, -1 - 896, wrap]


class _Path(Elaboratable):
    def __init__(self, cfg):
        self.ic = Interconnect(cfg=cfg)
        self.arr = PEArray(cfg=cfg)

    def elaborate(self, platform):
        m = Module()
        m.submodules.ic, m.submodules.arr = self.ic, self.arr
        m.d.comb += [
            self.arr.x.eq(self.ic.x_out),
            self.arr.wsel.eq(self.ic.wsel_out),
            self.ic.psum_in.eq(self.arr.psum),
        ]
        return m


@pytest.mark.parametrize("cfg", [SMALL, NONSQUARE, FANOUT1], ids=lambda c: c.name)
def test_array_path_matches_numpy(cfg):
    rng = np.random.default_rng(1)
    R, C = cfg.pe_rows, cfg.pe_cols
    weights = rng.integers(-128, 128, (2, R, C))
    n = 40
    xs = rng.integers(-128, 128, (n, R))
    sels = rng.integers(0, 2, n)
    rows = rng.permutation(1000)[:n]  # unique: the tag identifies the entry
    dut = _Path(cfg)
    got = {}

    async def tb(ctx):
        for b in range(2):
            for r in range(R):
                ctx.set(dut.arr.w_we, 1)
                ctx.set(dut.arr.w_bank, b)
                ctx.set(dut.arr.w_row, r)
                for c in range(C):
                    ctx.set(dut.arr.w_data[c], int(weights[b, r, c]))
                await ctx.tick()
        ctx.set(dut.arr.w_we, 0)
        for t in range(n + dut.ic.latency + 2):
            if t < n:
                for r in range(R):
                    ctx.set(dut.ic.x_in[r], int(xs[t, r]))
                ctx.set(dut.ic.wsel_in, int(sels[t]))
                ctx.set(dut.ic.tag_in.valid, 1)
                ctx.set(dut.ic.tag_in.row, int(rows[t]))
            else:
                ctx.set(dut.ic.tag_in.valid, 0)
            if ctx.get(dut.ic.tag_out.valid):
                got[ctx.get(dut.ic.tag_out.row)] = (
                    t,
                    [ctx.get(dut.ic.psum_out[c]) for c in range(C)],
                )
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert len(got) == n
    for t in range(n):
        when, vec = got[int(rows[t])]
        assert when == t + dut.ic.latency
        assert vec == (xs[t] @ weights[sels[t]]).tolist()
