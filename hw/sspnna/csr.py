"""Owns the control/status registers: an AXI4-Lite responder implementing
:data:`accss3d.isa.CSRS` exactly (the register map is read from there, not restated).

# Ref: docs/architecture.md, "Control and integration"; AMBA AXI4-Lite (ARM IHI 0022).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig
from accss3d.isa import CSRS, ISA_VERSION

from .interfaces import AxiLiteSignature

__all__ = ["CsrSlave", "CSR_ADDR_BITS", "ID_VALUE", "COUNTER_NAMES", "status_layout"]

#: Address width of the CSR space (byte addresses; the map ends below 0x80).
CSR_ADDR_BITS = 8
#: Value of the ID register ('SSNA').
ID_VALUE = 0x53534E41
#: The 64-bit counters, in map order: ``cycles``, ``busy``, ``mem_stall``, ... (from CSRS).
COUNTER_NAMES = tuple(c.name[:-3].lower() for c in CSRS if c.name.endswith("_LO"))
#: Read-write registers and their outputs.
_RW = ("PROG_ADDR", "PROG_LEN", "MEM_LIMIT", "WATCHDOG")


def status_layout() -> data.StructLayout:
    """STATUS bits: ``busy`` (0), ``done`` (1), ``error`` (2)."""
    return data.StructLayout({"busy": 1, "done": 1, "error": 1})


class CsrSlave(wiring.Component):
    """The AXI4-Lite register block of the core.

    Parameters
    ----------
    cfg : ArchConfig
        Gives CONFIG_HASH (first 4 bytes of ``cfg.digest()``, big-endian) and the reset
        value of MEM_LIMIT (``2**addr_bits - 1``, at most ``0xFFFFFFFF``).

    Members
    -------
    bus : In(AxiLiteSignature(8))
        AXI4-Lite responder (32-bit data, byte addresses; bits 1-0 of an address are
        ignored).  AW and W may arrive in any order or together; each is held until the
        other arrives, then the write is performed and answered on B.  Reads are answered
        the cycle after AR.  Every access answers OKAY: unknown addresses read 0 and ignore
        writes, as do writes to read-only registers.
    start, clear : Out(1)
        One-cycle pulses from a CTRL write with bit 0 (start) or bit 1 (clear) set.
    status : In(status_layout())
        STATUS (busy, done, error).
    error_code : In(4)
        ERROR_CODE (``accss3d.isa.ErrorCode``).
    error_pc : In(32)
        ERROR_PC.
    prog_addr, prog_len, mem_limit, watchdog : Out(32)
        The read-write registers PROG_ADDR (reset 0), PROG_LEN (0), MEM_LIMIT
        (``2**addr_bits - 1``), WATCHDOG (0); byte strobes honoured.
    counters : In(data.StructLayout({name: 64 for name in COUNTER_NAMES}))
        The 64-bit counters (``cycles``, ``busy``, ``mem_stall``, ``macs``, ``instrs``,
        ``rd_bytes``, ``wr_bytes``).  Reading ``<NAME>_LO`` returns the low word and latches
        the high word, which ``<NAME>_HI`` then returns (a consistent 64-bit read).

    Latency and throughput: a read is answered one cycle after its AR handshake, a write one
    cycle after the later of its AW and W handshakes; one access of each kind in flight.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        known = {"ID", "VERSION", "CONFIG_HASH", "CTRL", "STATUS", "ERROR_CODE", "ERROR_PC"}
        known |= set(_RW) | {f"{n.upper()}_{h}" for n in COUNTER_NAMES for h in ("LO", "HI")}
        for csr in CSRS:
            if csr.name not in known:
                raise ValueError(f"CSR {csr.name} of accss3d.isa.CSRS has no hardware")
            if csr.offset >= 1 << CSR_ADDR_BITS or csr.offset % 4:
                raise ValueError(f"CSR {csr.name} at {csr.offset:#x} is outside the map")
        self._cfg = cfg
        members = {
            "bus": In(AxiLiteSignature(CSR_ADDR_BITS)),
            "start": Out(1),
            "clear": Out(1),
            "status": In(status_layout()),
            "error_code": In(4),
            "error_pc": In(32),
            "counters": In(data.StructLayout({name: 64 for name in COUNTER_NAMES})),
        }
        for name in _RW:
            members[name.lower()] = Out(32, init=self.reset_value(cfg, name))
        super().__init__(members)

    @staticmethod
    def reset_value(cfg: ArchConfig, name: str) -> int:
        """Reset value of a read-write register."""
        if name == "MEM_LIMIT":
            return min((1 << cfg.addr_bits) - 1, 0xFFFFFFFF)
        return 0

    @staticmethod
    def constant(cfg: ArchConfig, name: str) -> int | None:
        """Value of a constant register (ID, VERSION, CONFIG_HASH), else None."""
        major, minor = ISA_VERSION
        return {
            "ID": ID_VALUE,
            "VERSION": (major << 16) | minor,
            "CONFIG_HASH": int(cfg.digest()[:8], 16),
        }.get(name)

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        bus = self.bus
        offsets = {c.name: c.offset >> 2 for c in CSRS}

        # ---------------------------------------------------------------- writes
        aw_full = Signal(name="aw_full")
        aw_word = Signal(CSR_ADDR_BITS - 2, name="aw_word")
        w_full = Signal(name="w_full")
        w_data = Signal(32, name="w_data")
        w_strb = Signal(4, name="w_strb")
        m.d.comb += [
            bus.aw.ready.eq(~aw_full),
            bus.w.ready.eq(~w_full),
            bus.b.payload.resp.eq(0),
        ]
        with m.If(bus.aw.valid & bus.aw.ready):
            m.d.sync += [aw_full.eq(1), aw_word.eq(bus.aw.payload.addr[2:])]
        with m.If(bus.w.valid & bus.w.ready):
            m.d.sync += [
                w_full.eq(1),
                w_data.eq(bus.w.payload.data),
                w_strb.eq(bus.w.payload.strb),
            ]
        with m.If(bus.b.valid & bus.b.ready):
            m.d.sync += bus.b.valid.eq(0)

        write = Signal(name="write")
        m.d.comb += write.eq(aw_full & w_full & (~bus.b.valid | bus.b.ready))
        m.d.comb += [self.start.eq(0), self.clear.eq(0)]
        with m.If(write):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bus.b.valid.eq(1)]
            with m.Switch(aw_word):
                with m.Case(offsets["CTRL"]):
                    m.d.comb += [
                        self.start.eq(w_strb[0] & w_data[0]),
                        self.clear.eq(w_strb[0] & w_data[1]),
                    ]
                for name in _RW:
                    reg = getattr(self, name.lower())
                    with m.Case(offsets[name]):
                        for byte in range(4):
                            with m.If(w_strb[byte]):
                                m.d.sync += reg.word_select(byte, 8).eq(w_data.word_select(byte, 8))

        # ---------------------------------------------------------------- reads
        hi_latch = {name: Signal(32, name=f"{name}_hi") for name in COUNTER_NAMES}
        m.d.comb += bus.ar.ready.eq(~bus.r.valid | bus.r.ready)
        with m.If(bus.r.valid & bus.r.ready):
            m.d.sync += bus.r.valid.eq(0)
        with m.If(bus.ar.valid & bus.ar.ready):
            m.d.sync += [bus.r.valid.eq(1), bus.r.payload.resp.eq(0), bus.r.payload.data.eq(0)]
            with m.Switch(bus.ar.payload.addr[2:]):
                for csr in CSRS:
                    value = self._read_value(cfg, csr.name, hi_latch)
                    if value is None:
                        continue
                    with m.Case(offsets[csr.name]):
                        m.d.sync += bus.r.payload.data.eq(value)
                        if csr.name.endswith("_LO"):
                            name = csr.name[:-3].lower()
                            counter = getattr(self.counters, name)
                            m.d.sync += hi_latch[name].eq(counter[32:])
        return m

    def _read_value(self, cfg, name, hi_latch):
        """What a read of CSR ``name`` returns (None: reads 0)."""
        constant = self.constant(cfg, name)
        if constant is not None:
            return constant
        if name in _RW:
            return getattr(self, name.lower())
        if name == "STATUS":
            return self.status.as_value()
        if name == "ERROR_CODE":
            return self.error_code
        if name == "ERROR_PC":
            return self.error_pc
        if name.endswith("_LO"):
            return getattr(self.counters, name[:-3].lower())[:32]
        if name.endswith("_HI"):
            return hi_latch[name[:-3].lower()]
        return None  # CTRL is write-only
