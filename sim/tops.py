"""Owns the Amaranth tops of the cocotb testbenches: a block with its AXI port flattened to
``m_axi_*`` / ``s_axil_*`` (for cocotbext-axi) or wired to the Verilog ``axi_mem`` model.

Every other member of the block is forwarded unchanged (so it appears in the Verilog as
``instr__valid``, ``l1w__row``, ...).  :func:`axi_mem_instance` is the ``axi_mem`` hookup,
usable by any top with flat AXI4 master signals (the full core included).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from accss3d.arch import ArchConfig
from sspnna.axi import (
    axi4_master_members,
    axil_slave_members,
    connect_axi4_master,
    connect_axil_slave,
)
from sspnna.csr import CSR_ADDR_BITS
from sspnna.interfaces import AXI_ID_BITS, AxiLiteSignature, AxiReadSignature, AxiWriteSignature
from sspnna.store import StoreEngine

__all__ = ["FlatTop", "StoreBench", "axi_mem_instance", "forward"]


def forward(m: Module, outer, inner, *, skip=()) -> None:
    """Connect every member of ``inner`` but ``skip`` to the same member of ``outer``."""
    for name, member in inner.signature.members.items():
        if name in skip:
            continue
        there, here = getattr(outer, name), getattr(inner, name)
        if not member.is_port:
            wiring.connect(m, wiring.flipped(there), here)
        elif member.flow == wiring.In:
            m.d.comb += here.eq(there)
        else:
            m.d.comb += there.eq(here)


def axi_mem_instance(
    cfg: ArchConfig,
    ports,
    *,
    prefix: str = "m_axi",
    read: bool = True,
    write: bool = True,
    dump=0,
    mem_bytes: int = 1 << 16,
    latency: int = 4,
    stall_pct: int = 0,
    seed: int = 1,
) -> Instance:
    """An ``axi_mem`` (sim/verilog/axi_mem.v) serving the flat AXI4 master signals of
    ``ports`` (named ``<prefix>_arvalid``, ...); the channels a master lacks are tied off."""
    kwargs = {
        "p_ADDR_BITS": cfg.addr_bits,
        "p_DATA_BITS": cfg.bus_data_bits,
        "p_ID_BITS": AXI_ID_BITS,
        "p_MEM_BYTES": mem_bytes,
        "p_LATENCY": latency,
        "p_STALL_PCT": stall_pct,
        "p_SEED": seed,
        "i_clk": ClockSignal(),
        "i_rst": ResetSignal(),
        "i_dump": dump,
    }
    present = axi4_master_members(cfg, prefix, read=read, write=write, tied=False)
    for name, member in axi4_master_members(cfg, prefix, tied=False).items():
        port = "s_axi_" + name[len(prefix) + 1 :]
        master_drives = member.flow == wiring.Out
        if name in present:
            kwargs[("i_" if master_drives else "o_") + port] = getattr(ports, name)
        elif master_drives:
            kwargs["i_" + port] = 0
    return Instance("axi_mem", **kwargs)


class FlatTop(wiring.Component):
    """A block whose AXI member is flat ports or an ``axi_mem`` instance.

    Parameters
    ----------
    block : wiring.Component
        The block (load, store, fetch engine or CSR slave).
    cfg : ArchConfig
    port : str
        The block's AXI member: an ``AxiReadSignature`` / ``AxiWriteSignature`` initiator
        (flattened to ``m_axi_*``) or a responder ``AxiLiteSignature`` (``s_axil_*``).
    mem : dict or None
        Keyword arguments of :func:`axi_mem_instance`: the AXI4 port goes to an internal
        ``axi_mem`` instead of top-level ports, and a ``mem_dump`` input is added.
    """

    def __init__(self, *, block, cfg: ArchConfig, port: str = "axi", mem: dict | None = None):
        self._block = block
        self._cfg = cfg
        self._port = port
        self._mem = mem
        members = {k: v for k, v in block.signature.members.items() if k != port}
        sig = block.signature.members[port].signature
        self._kind = "lite"
        for kind, cls in (("read", AxiReadSignature), ("write", AxiWriteSignature)):
            if isinstance(sig, cls):
                self._kind = kind
        if self._kind == "lite":
            if not isinstance(sig.flip(), AxiLiteSignature):
                raise TypeError(f"member {port!r} is not an AXI4 or AXI4-Lite interface")
            if mem is not None:
                raise ValueError("axi_mem serves AXI4 initiators, not an AXI4-Lite responder")
            self._flat = axil_slave_members(addr_bits=CSR_ADDR_BITS)
        else:
            rw = {"read": self._kind == "read", "write": self._kind == "write"}
            self._flat = axi4_master_members(cfg, **rw, tied=False)
        if mem is None:
            members.update(self._flat)
        else:
            members["mem_dump"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = block = self._block
        forward(m, self, block, skip=(self._port,))
        iface = getattr(block, self._port)
        if self._mem is None:
            ports = self
        else:
            ports = SimpleNamespace(
                **{name: Signal(member.shape, name=name) for name, member in self._flat.items()}
            )
        if self._kind == "lite":
            connect_axil_slave(m, ports, iface)
        else:
            connect_axi4_master(m, ports, **{self._kind: iface})
        if self._mem is not None:
            rw = {"read": self._kind == "read", "write": self._kind == "write"}
            m.submodules.mem = axi_mem_instance(
                self._cfg, ports, **rw, dump=self.mem_dump, **self._mem
            )
        return m


class StoreBench(wiring.Component):
    """A store engine reading an accumulator memory with fixed contents.

    The memory answers ``ofm_req`` one cycle after the handshake, as the accumulator bank
    does; ``ready`` follows a 16-bit LFSR (low about one cycle in four) so that the row
    reads see back-pressure.  Members: those of :class:`~sspnna.store.StoreEngine` but
    ``ofm_req`` / ``ofm_data``.

    Parameters
    ----------
    cfg : ArchConfig
    rows : list of list of int
        Accumulator rows (``pe_cols`` signed values each).
    """

    def __init__(self, *, cfg: ArchConfig, rows):
        self._cfg = cfg
        self._store = StoreEngine(cfg=cfg)
        mask = (1 << cfg.acc_bits) - 1
        self._init = [
            sum((v & mask) << (i * cfg.acc_bits) for i, v in enumerate(row)) for row in rows
        ]
        members = dict(self._store.signature.members)
        del members["ofm_req"], members["ofm_data"]
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        m.submodules.store = store = self._store
        forward(m, self, store, skip=("ofm_req", "ofm_data"))
        m.submodules.acc = acc = Memory(
            shape=cfg.pe_cols * cfg.acc_bits, depth=len(self._init), init=self._init
        )
        rd = acc.read_port()
        lfsr = Signal(16, init=0xACE1, name="stall_lfsr")
        m.d.sync += lfsr.eq(Cat(lfsr[1:], lfsr[0] ^ lfsr[2] ^ lfsr[3] ^ lfsr[5]))
        m.d.comb += [
            store.ofm_req.ready.eq(lfsr[0] | lfsr[1]),
            rd.addr.eq(store.ofm_req.payload),
            rd.en.eq(store.ofm_req.valid & store.ofm_req.ready),
            store.ofm_data.eq(rd.data),
        ]
        return m
