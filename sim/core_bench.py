"""Owns the whole-core simulation top: the SSpNNA core with its AXI4 master on ``axi_mem``.

The CSRs stay ports (``s_axil_*``, driven by cocotbext-axi's ``AxiLiteMaster``); the
external memory is the Verilog model (sim/verilog/axi_mem.v) preloaded from a hex file and
dumped back on ``mem_dump`` - no Python runs per cycle, whatever the program's size.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from tops import axi_mem_instance

from accss3d.arch import ArchConfig
from sspnna.axi import (
    axi4_master_members,
    axil_slave_members,
    connect_axi4_master,
    connect_axil_slave,
)
from sspnna.csr import CSR_ADDR_BITS
from sspnna.top import Core

__all__ = ["CoreBench", "memory_size"]


def memory_size(nbytes: int) -> int:
    """The model's memory size for an image of ``nbytes``: a power of two >= 64 KiB (so that
    builds are shared between programs of similar size)."""
    size = 1 << 16
    while size < nbytes:
        size <<= 1
    return size


class CoreBench(wiring.Component):
    """The core plus its external memory.

    Parameters
    ----------
    cfg : ArchConfig
    mem_bytes : int
        Size of the memory model (accesses beyond answer SLVERR).

    Members
    -------
    s_axil_* : the CSR port
    irq : Out(1)
    mem_dump : In(1)
        A rising edge dumps the memory (plusarg ``+AXI_MEM_DUMP=<file>``).
    """

    def __init__(self, *, cfg: ArchConfig, mem_bytes: int):
        self.cfg = cfg
        self.mem_bytes = mem_bytes
        super().__init__(
            {**axil_slave_members("s_axil", CSR_ADDR_BITS), "irq": Out(1), "mem_dump": In(1)}
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = Core(cfg=self.cfg)
        connect_axil_slave(m, self, core.csr, "s_axil")
        flat = axi4_master_members(self.cfg, "m_axi", tied=False)
        ports = SimpleNamespace(**{n: Signal(mem.shape, name=n) for n, mem in flat.items()})
        connect_axi4_master(m, ports, "m_axi", read=core.axi_read, write=core.axi_write)
        m.submodules.mem = axi_mem_instance(
            self.cfg, ports, dump=self.mem_dump, mem_bytes=self.mem_bytes
        )
        m.d.comb += self.irq.eq(core.irq)
        _ = wiring
        return m
