"""Owns the SSpNNA top level: every block wired together behind an AXI4-Lite slave and an
AXI4 master, ready to drop into an SoC.

Ports (flat, named as cocotbext-axi and most interconnect generators expect):

* ``s_axil_*``: AXI4-Lite slave (8-bit addresses, 32-bit data) - the CSRs of
  :data:`accss3d.isa.CSRS` (start, status, error, program address/length, memory limit,
  watchdog, 64-bit performance counters);
* ``m_axi_*``: AXI4 master (``addr_bits`` address, ``bus_data_bits`` data, INCR bursts of at
  most ``max_burst_beats``): instruction fetch (ARID 1), loads (ARID 0), stores (AWID 0);
* ``irq``: high while STATUS shows done or error;
* ``clk``, ``rst``: one clock domain, synchronous active-high reset (a reset in the middle of
  a run returns every block, the CSRs included, to its reset state).

Hierarchy (under ``core``): ``csr``, ``controller`` (with ``decoder`` and the three engine queues),
``fetch``, ``rd_arbiter``, ``load``, ``compute`` (``interconnect``, ``array``,
``accumulator``), ``store``, ``l1``.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig

from .axi import (
    AxiReadArbiter,
    axi4_master_members,
    axil_slave_members,
    connect_axi4_master,
    connect_axil_slave,
)
from .compute import ComputeEngine
from .controller import Controller
from .csr import CSR_ADDR_BITS, CsrSlave
from .fetch import Fetch
from .interfaces import AxiLiteSignature, AxiReadSignature, AxiWriteSignature
from .l1 import L1
from .load import LoadEngine
from .store import StoreEngine

__all__ = ["Core", "SSpNNA"]


class Core(wiring.Component):
    """The core with nested interfaces (for Amaranth-level integration and tests).

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    csr : In(AxiLiteSignature(8))
        The register block (responder side).
    axi_read : Out(AxiReadSignature(cfg)), axi_write : Out(AxiWriteSignature(cfg))
        The AXI4 master channels.
    irq : Out(1)
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        super().__init__(
            {
                "csr": In(AxiLiteSignature(CSR_ADDR_BITS)),
                "axi_read": Out(AxiReadSignature(cfg)),
                "axi_write": Out(AxiWriteSignature(cfg)),
                "irq": Out(1),
            }
        )

    def elaborate(self, platform):
        m, self.blocks = _build(self.cfg, self.csr, self.axi_read, self.axi_write, self.irq)
        return m


class SSpNNA(wiring.Component):
    """The sparse-convolution core with flat AXI ports (the Verilog top).

    Parameters
    ----------
    cfg : ArchConfig
        The whole configuration (validated by ``ArchConfig`` itself).

    Members
    -------
    s_axil_* : the AXI4-Lite slave (CSRs)
    m_axi_* : the AXI4 master (instructions and data)
    irq : Out(1)

    Latency and throughput: see docs/architecture.md "Timing"; the PE array takes one
    rulebook entry (``pe_rows * pe_cols`` MACs) per cycle.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        members = {
            **axil_slave_members("s_axil", CSR_ADDR_BITS),
            **axi4_master_members(cfg, "m_axi"),
            "irq": Out(1),
        }
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = Core(cfg=self.cfg)
        connect_axil_slave(m, self, core.csr, "s_axil")
        connect_axi4_master(m, self, "m_axi", read=core.axi_read, write=core.axi_write)
        m.d.comb += self.irq.eq(core.irq)
        return m


def _build(cfg: ArchConfig, csr_bus, read_bus, write_bus, irq) -> tuple[Module, dict]:
    """Instantiate and wire every block; connect the external interfaces given.

    Returns the module and the blocks by name (for simulation probes).
    """
    m = Module()
    m.submodules.csr = csr = CsrSlave(cfg=cfg)
    m.submodules.controller = ctrl = Controller(cfg=cfg)
    m.submodules.fetch = fetch = Fetch(cfg=cfg)
    m.submodules.rd_arbiter = arb = AxiReadArbiter(cfg=cfg)
    m.submodules.load = load = LoadEngine(cfg=cfg)
    m.submodules.compute = comp = ComputeEngine(cfg=cfg)
    m.submodules.store = store = StoreEngine(cfg=cfg)
    m.submodules.l1 = l1 = L1(cfg=cfg)

    # External interfaces.
    wiring.connect(m, wiring.flipped(csr_bus), csr.bus)
    wiring.connect(m, arb.bus, wiring.flipped(read_bus))
    wiring.connect(m, store.axi, wiring.flipped(write_bus))
    wiring.connect(m, load.axi, arb.load)
    wiring.connect(m, fetch.axi, arb.fetch)

    # CSRs <-> controller and fetch.
    m.d.comb += [
        ctrl.start.eq(csr.start),
        ctrl.clear.eq(csr.clear),
        ctrl.prog_len.eq(csr.prog_len),
        ctrl.mem_limit.eq(csr.mem_limit),
        ctrl.watchdog.eq(csr.watchdog),
        csr.status.busy.eq(ctrl.busy),
        csr.status.done.eq(ctrl.done),
        csr.status.error.eq(ctrl.failed),
        csr.error_code.eq(ctrl.error_code),
        csr.error_pc.eq(ctrl.error_pc),
        fetch.start.eq(ctrl.fetch_start),
        fetch.prog_addr.eq(csr.prog_addr),
        fetch.prog_len.eq(csr.prog_len),
        fetch.abort.eq(ctrl.abort),
        ctrl.fetch_exhausted.eq(fetch.exhausted),
        ctrl.fetch_idle.eq(fetch.idle),
        irq.eq(ctrl.done | ctrl.failed),
    ]
    wiring.connect(m, fetch.instr, ctrl.fetch)
    wiring.connect(m, fetch.error, ctrl.fetch_error)
    counters = {
        "cycles": ctrl.cycles,
        "busy": ctrl.busy_cycles,
        "mem_stall": ctrl.mem_stall_cycles,
        "macs": ctrl.macs,
        "instrs": ctrl.instrs,
        "rd_bytes": ctrl.rd_bytes,
        "wr_bytes": ctrl.wr_bytes,
    }
    for name, value in counters.items():
        m.d.comb += getattr(csr.counters, name).eq(value)

    # Engines: queues, tokens, status.
    wiring.connect(m, ctrl.load_q, load.instr)
    wiring.connect(m, ctrl.compute_q, comp.instr)
    wiring.connect(m, ctrl.store_q, store.instr)
    wiring.connect(m, load.next, ctrl.load_next)
    wiring.connect(m, comp.prev, ctrl.compute_prev)
    wiring.connect(m, comp.next, ctrl.compute_next)
    wiring.connect(m, store.prev, ctrl.store_prev)
    wiring.connect(m, load.error, ctrl.load_error)
    wiring.connect(m, comp.error, ctrl.compute_error)
    wiring.connect(m, store.error, ctrl.store_error)
    m.d.comb += [
        load.abort.eq(ctrl.abort),
        comp.abort.eq(ctrl.abort),
        store.abort.eq(ctrl.abort),
        ctrl.load_idle.eq(load.idle),
        ctrl.compute_idle.eq(comp.idle),
        ctrl.store_idle.eq(store.idle),
        ctrl.issue.eq(comp.issue),
        ctrl.mem_stall.eq(comp.mem_stall),
        ctrl.rd_beat.eq(load.rd_beat),
        ctrl.fetch_beat.eq(fetch.rd_beat),
        ctrl.wr_beat.eq(store.wr_beat),
        ctrl.wr_count.eq(store.wr_bytes),
    ]

    # L1.
    wiring.connect(m, load.l1w, l1.dma)
    wiring.connect(m, store.ofm_req, l1.st)
    m.d.comb += [
        store.ofm_data.eq(l1.st_data),
        l1.ifm_addr.eq(comp.ifm_addr),
        comp.ifm_data.eq(l1.ifm_data),
        l1.wgt_addr.eq(comp.wgt_addr),
        comp.wgt_data.eq(l1.wgt_data),
        l1.rbk_addr.eq(comp.rbk_addr),
        comp.rbk_data.eq(l1.rbk_data),
        l1.acc_raddr.eq(comp.acc_raddr),
        l1.acc_ren.eq(comp.acc_ren),
        comp.acc_rdata.eq(l1.acc_rdata),
        l1.acc_waddr.eq(comp.acc_waddr),
        l1.acc_wen.eq(comp.acc_wen),
        l1.acc_wdata.eq(comp.acc_wdata),
        comp.bias.eq(l1.bias),
    ]
    blocks = {
        "csr": csr,
        "controller": ctrl,
        "fetch": fetch,
        "rd_arbiter": arb,
        "load": load,
        "compute": comp,
        "store": store,
        "l1": l1,
    }
    return m, blocks
