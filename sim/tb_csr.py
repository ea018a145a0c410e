"""cocotb testbench of the generated CSR block (flat ``s_axil_*`` port) driven by
cocotbext-axi's AxiLiteMaster: constants, read-write registers, CTRL pulses, counters.

Environment: ``ACCSS3D_CFG``.
"""

from __future__ import annotations

import os

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster
from tbutil import drive_zero, start_clock_and_reset

from accss3d.arch import get_config
from accss3d.isa import CSRS, ISA_VERSION
from sspnna.csr import COUNTER_NAMES

CFG = get_config(os.environ.get("ACCSS3D_CFG", "small"))
OFFSET = {c.name: c.offset for c in CSRS}


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def register_map(dut):
    drive_zero(dut, "status", "error_code", "error_pc", "counters", "s_axil_awvalid",
               "s_axil_wvalid", "s_axil_arvalid", "s_axil_bready", "s_axil_rready")  # fmt: skip
    await start_clock_and_reset(dut)
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)

    async def read(name):
        return await axil.read_dword(OFFSET[name])

    assert await read("ID") == 0x53534E41
    assert await read("VERSION") == ISA_VERSION[0] << 16 | ISA_VERSION[1]
    assert await read("CONFIG_HASH") == int(CFG.digest()[:8], 16)
    assert await read("MEM_LIMIT") == min(2**CFG.addr_bits - 1, 2**32 - 1)

    for name, value in (("PROG_ADDR", 0x1000), ("PROG_LEN", 77), ("WATCHDOG", 5000)):
        await axil.write_dword(OFFSET[name], value)
        assert await read(name) == value
        assert int(getattr(dut, name.lower()).value) == value

    starts = []

    async def watch():
        while True:
            await RisingEdge(dut.clk)
            if dut.start.value == 1:
                starts.append(1)

    cocotb.start_soon(watch())
    await axil.write_dword(OFFSET["CTRL"], 1)
    for _ in range(3):
        await RisingEdge(dut.clk)
    assert starts == [1]

    dut.status.value = 0b110
    dut.error_code.value = 7
    dut.error_pc.value = 12345
    assert await read("STATUS") == 0b110
    assert await read("ERROR_CODE") == 7 and await read("ERROR_PC") == 12345
    values = {name: (i + 3) << 40 | (i + 1) * 0x01010101 for i, name in enumerate(COUNTER_NAMES)}
    dut.counters.value = sum(v << (64 * i) for i, v in enumerate(values.values()))
    for name, value in values.items():
        lo = await read(f"{name.upper()}_LO")
        hi = await read(f"{name.upper()}_HI")
        assert hi << 32 | lo == value, name
