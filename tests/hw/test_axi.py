# amaranth: UnusedElaboratable=no
"""AXI read arbiter and flat AXI port helpers (sspnna.axi)."""

from __future__ import annotations

import random
import re

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring

from accss3d.arch import CONFIGS
from sspnna.axi import (
    AxiReadArbiter,
    axi4_master_members,
    axil_slave_members,
    connect_axi4_master,
    connect_axil_slave,
)
from sspnna.csr import CsrSlave
from sspnna.interfaces import ID_FETCH, ID_LOAD, MAX_OUTSTANDING, AxiReadSignature
from sspnna.store import StoreEngine

from .axi_model import AxiMemModel, simulate

CFGS = [CONFIGS["small"], CONFIGS["default"]]
MEM = 2 * 4096


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be an ArchConfig, not 1$"):
        AxiReadArbiter(cfg=1)


def initiator(port, bus, bursts, got, rng, max_in_flight=MAX_OUTSTANDING):
    """An AR/R initiator: issues ``bursts`` (addr, beats), collects R data into ``got``."""

    async def tb(ctx):
        queue = list(bursts)
        in_flight = []
        while queue or in_flight:
            offer = bool(queue) and len(in_flight) < max_in_flight
            if offer:
                addr, beats = queue[0]
                ctx.set(port.ar.payload, {"id": 3, "addr": addr, "len": beats - 1, "size":
                                          bus.bit_length() - 1, "burst": 1})  # fmt: skip
            ctx.set(port.ar.valid, offer)
            ctx.set(port.r.ready, rng.random() < 0.7)
            _, _, ar_ready, r_valid, r_ready, r = await ctx.tick().sample(
                port.ar.ready, port.r.valid, port.r.ready, port.r.payload
            )
            if offer and ar_ready:
                in_flight.append(queue.pop(0))
            if r_valid and r_ready:
                got.append((r.id, r.data, r.last))
                if r.last:
                    in_flight.pop(0)
        ctx.set(port.ar.valid, 0)
        ctx.set(port.r.ready, 0)

    return tb


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_arbiter_routes_by_id_and_keeps_bursts_whole(cfg):
    dut = AxiReadArbiter(cfg=cfg)
    bus = cfg.bus_bytes
    rng = random.Random(1)
    model = AxiMemModel(MEM, cfg, seed=2, stall=0.3)
    model.max_in_flight = 2 * MAX_OUTSTANDING
    model.mem[:] = rng.randbytes(MEM)
    plans = {
        name: [(rng.randrange(0, 64) * bus, rng.randint(1, cfg.max_burst_beats)) for _ in range(12)]
        for name in ("load", "fetch")
    }
    got = {"load": [], "fetch": []}

    async def tb(ctx):
        loads = initiator(dut.load, bus, plans["load"], got["load"], random.Random(3))
        await loads(ctx)

    simulate(
        dut,
        tb,
        background=[
            initiator(dut.fetch, bus, plans["fetch"], got["fetch"], random.Random(4)),
            model.read_responder(dut.bus),
        ],
        name=f"arbiter_{cfg.name}",
    )
    for name, axi_id in (("load", ID_LOAD), ("fetch", ID_FETCH)):
        want = []
        for addr, beats in plans[name]:
            for i in range(beats):
                chunk = model.mem[addr + i * bus : addr + (i + 1) * bus]
                want.append((axi_id, int.from_bytes(chunk, "little"), int(i == beats - 1)))
        assert got[name][: len(want)] == want, name
    ids = [b.id for b in model.ar_log]
    assert sorted(ids) == sorted([ID_LOAD] * 12 + [ID_FETCH] * 12)
    # both ask most of the time: the grants interleave
    switches = sum(a != b for a, b in zip(ids, ids[1:], strict=False))
    assert switches >= 6


def test_arbiter_holds_grant_while_not_accepted():
    cfg = CONFIGS["small"]
    dut = AxiReadArbiter(cfg=cfg)

    async def tb(ctx):
        ctx.set(dut.bus.ar.ready, 0)
        ctx.set(dut.load.ar.valid, 1)
        ctx.set(dut.load.ar.payload.addr, 0x40)
        await ctx.tick()
        ctx.set(dut.fetch.ar.valid, 1)  # the other asks: the offered request stays
        ctx.set(dut.fetch.ar.payload.addr, 0x80)
        for _ in range(3):
            assert ctx.get(dut.bus.ar.payload.addr) == 0x40
            assert ctx.get(dut.bus.ar.payload.id) == ID_LOAD
            await ctx.tick()
        ctx.set(dut.bus.ar.ready, 1)
        await ctx.tick()
        ctx.set(dut.load.ar.valid, 0)
        assert ctx.get(dut.bus.ar.payload.addr) == 0x80
        assert ctx.get(dut.bus.ar.payload.id) == ID_FETCH

    simulate(dut, tb, name="arbiter_hold")


class FlatTop(wiring.Component):
    """Flat AXI4 master and AXI4-Lite slave ports around an arbiter, a store and a CSR block."""

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({**axi4_master_members(cfg), **axil_slave_members()})

    def elaborate(self, platform):
        m = Module()
        m.submodules.arb = arb = AxiReadArbiter(cfg=self.cfg)
        m.submodules.store = store = StoreEngine(cfg=self.cfg)
        m.submodules.csr = csr = CsrSlave(cfg=self.cfg)
        connect_axi4_master(m, self, read=arb.bus, write=store.axi)
        connect_axil_slave(m, self, csr.bus)
        return m


def test_flat_ports_are_named_for_cocotbext_axi():
    cfg = CONFIGS["small"]
    text = verilog.convert(FlatTop(cfg), name="flat", emit_src=False)
    ports = dict(
        (name, int(width or "0") + 1)
        for direction, width, name in re.findall(
            r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", text, re.M
        )
        if direction
    )
    want = {
        "m_axi_arid": 2, "m_axi_araddr": 32, "m_axi_arlen": 8, "m_axi_arsize": 3,
        "m_axi_arburst": 2, "m_axi_arvalid": 1, "m_axi_arready": 1, "m_axi_rid": 2,
        "m_axi_rdata": 32, "m_axi_rresp": 2, "m_axi_rlast": 1, "m_axi_rvalid": 1,
        "m_axi_rready": 1, "m_axi_awid": 2, "m_axi_awaddr": 32, "m_axi_awlen": 8,
        "m_axi_awsize": 3, "m_axi_awburst": 2, "m_axi_awvalid": 1, "m_axi_awready": 1,
        "m_axi_wdata": 32, "m_axi_wstrb": 4, "m_axi_wlast": 1, "m_axi_wvalid": 1,
        "m_axi_wready": 1, "m_axi_bid": 2, "m_axi_bresp": 2, "m_axi_bvalid": 1,
        "m_axi_bready": 1, "m_axi_arprot": 3, "m_axi_awcache": 4, "m_axi_arlock": 1,
        "s_axil_awaddr": 8, "s_axil_awvalid": 1, "s_axil_awready": 1, "s_axil_wdata": 32,
        "s_axil_wstrb": 4, "s_axil_wvalid": 1, "s_axil_wready": 1, "s_axil_bresp": 2,
        "s_axil_bvalid": 1, "s_axil_bready": 1, "s_axil_araddr": 8, "s_axil_arvalid": 1,
        "s_axil_arready": 1, "s_axil_rdata": 32, "s_axil_rresp": 2, "s_axil_rvalid": 1,
        "s_axil_rready": 1,
    }  # fmt: skip
    for name, width in want.items():
        assert ports.get(name) == width, name
    assert "/work" not in text and "\\src" not in text  # no absolute paths: reproducible


def test_members_directions():
    cfg = CONFIGS["small"]
    master = axi4_master_members(cfg, read=True, write=False, tied=False)
    assert master["m_axi_arvalid"].flow == wiring.Out
    assert master["m_axi_rvalid"].flow == wiring.In
    assert master["m_axi_rready"].flow == wiring.Out
    assert not any(name.startswith("m_axi_aw") for name in master)
    slave = axil_slave_members("csr", addr_bits=12)
    assert slave["csr_awaddr"].flow == wiring.In and slave["csr_awaddr"].shape == 12
    assert slave["csr_rdata"].flow == wiring.Out
    assert AxiReadSignature(cfg).members["ar"].flow == wiring.Out
