"""Owns the host side of the FPGA UART link: CSR and memory access, load, run, read back.

:class:`FpgaHost` speaks the protocol of ``hw/sspnna/fpga.py`` over any pyserial-like
object with ``write(bytes)`` and ``read(n) -> bytes`` (``serial.Serial(port, 115200,
timeout=1)``, or the simulator port of the tests).  Requests are plain byte strings built
by :func:`encode_request`; each request gets exactly one response.
"""

from __future__ import annotations

import struct
import time

from .errors import AccssError, ConfigError
from .isa import CSRS

__all__ = ["FpgaHost", "LinkError", "encode_request", "response_length", "CSR_OFFSETS"]

OP_CSR_WRITE = ord("W")
OP_CSR_READ = ord("R")
OP_MEM_WRITE = ord("w")
OP_MEM_READ = ord("r")

#: CSR name -> byte offset (from :data:`accss3d.isa.CSRS`).
CSR_OFFSETS = {c.name: c.offset for c in CSRS}

_STATUS = {1: "AXI EXOKAY", 2: "out of range / SLVERR", 3: "DECERR", 0xFF: "unknown request"}


class LinkError(AccssError):
    """The board answered with an error status, too little, or not at all."""


def encode_request(op: str, addr: int, value: int | None = None) -> bytes:
    """The bytes of one request (``op``: csr_write, csr_read, mem_write, mem_read)."""
    if op == "csr_write":
        return struct.pack("<BBI", OP_CSR_WRITE, addr, value)
    if op == "csr_read":
        return struct.pack("<BB", OP_CSR_READ, addr)
    if op == "mem_write":
        return struct.pack("<BII", OP_MEM_WRITE, addr, value)
    if op == "mem_read":
        return struct.pack("<BI", OP_MEM_READ, addr)
    raise ConfigError(f"unknown request {op!r} (csr_write, csr_read, mem_write, mem_read)")


def response_length(op: str) -> int:
    """Bytes of the response to a request."""
    return 5 if op.endswith("read") else 1


class FpgaHost:
    """Drive the SSpNNA core on an FPGA through the UART bridge.

    Parameters
    ----------
    port : object
        ``write(bytes)`` and ``read(n) -> bytes`` (``read`` may return fewer bytes on a
        timeout, which raises :class:`LinkError`).
    """

    def __init__(self, port):
        self.port = port

    def _transact(self, op: str, addr: int, value: int | None = None) -> int:
        self.port.write(encode_request(op, addr, value))
        want = response_length(op)
        data = self.port.read(want)
        if len(data) != want:
            raise LinkError(f"{op} at 0x{addr:x}: {len(data)} of {want} response bytes")
        status = data[0]
        if status:
            why = _STATUS.get(status, "error")
            raise LinkError(f"{op} at 0x{addr:x}: status 0x{status:02x} ({why})")
        return struct.unpack("<I", data[1:5])[0] if want == 5 else 0

    # -------------------------------------------------------------- registers
    def _offset(self, reg: str | int) -> int:
        if isinstance(reg, int):
            return reg
        try:
            return CSR_OFFSETS[reg]
        except KeyError:
            raise ConfigError(f"unknown CSR {reg!r} (known: {', '.join(CSR_OFFSETS)})") from None

    def write_csr(self, reg: str | int, value: int) -> None:
        """Write a CSR (name of :data:`accss3d.isa.CSRS` or byte offset)."""
        self._transact("csr_write", self._offset(reg), value & 0xFFFFFFFF)

    def read_csr(self, reg: str | int) -> int:
        """Read a CSR."""
        return self._transact("csr_read", self._offset(reg))

    # -------------------------------------------------------------- memory
    def write_mem(self, addr: int, data: bytes) -> None:
        """Write bytes at a 4-byte aligned address (padded with zeros to whole words)."""
        if addr % 4:
            raise ConfigError(f"memory address must be 4-byte aligned, not 0x{addr:x}")
        data = bytes(data) + b"\0" * (-len(data) % 4)
        for i in range(0, len(data), 4):
            self._transact("mem_write", addr + i, struct.unpack("<I", data[i : i + 4])[0])

    def read_mem(self, addr: int, nbytes: int) -> bytes:
        """Read ``nbytes`` from a 4-byte aligned address."""
        if addr % 4:
            raise ConfigError(f"memory address must be 4-byte aligned, not 0x{addr:x}")
        out = bytearray()
        for i in range(0, nbytes, 4):
            out += struct.pack("<I", self._transact("mem_read", addr + i))
        return bytes(out[:nbytes])

    # -------------------------------------------------------------- running
    def load_program(self, program) -> None:
        """Write a compiled :class:`accss3d.program.Program`: its code and its image."""
        self.write_mem(program.prog_addr, program.code_bytes())
        self.write_mem(program.image_base, program.image)

    def run_program(self, program, *, timeout: float = 60.0, watchdog: int = 0) -> int:
        """Load, start and wait for a program; return STATUS (bit 1 done, bit 2 error)."""
        self.load_program(program)
        self.start(
            program.prog_addr, program.prog_len, mem_limit=program.mem_bytes, watchdog=watchdog
        )
        return self.wait(timeout)

    def start(self, prog_addr: int, prog_len: int, *, mem_limit: int, watchdog: int = 0):
        """Set PROG_ADDR, PROG_LEN, MEM_LIMIT, WATCHDOG, clear done/error and start."""
        self.write_csr("PROG_ADDR", prog_addr)
        self.write_csr("PROG_LEN", prog_len)
        self.write_csr("MEM_LIMIT", mem_limit)
        self.write_csr("WATCHDOG", watchdog)
        self.write_csr("CTRL", 0b10)
        self.write_csr("CTRL", 0b01)

    def wait(self, timeout: float = 10.0, poll=None) -> int:
        """Poll STATUS until done or error; return it (``poll()`` between reads if given)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.read_csr("STATUS")
            if status & 0b110:
                return status
            if time.monotonic() > deadline:
                raise LinkError(f"the core is still busy after {timeout:g} s (STATUS 0x{status:x})")
            if poll is not None:
                poll()
