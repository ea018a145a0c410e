"""cocotb testbench of the Verilog memory model (sim/verilog/axi_mem.v), driven by
cocotbext-axi's AxiMaster: preload, read/write bursts under random stalls, dump, SLVERR.

Environment (set by tests/sim/test_axi_mem.py): ``AXI_MEM_TEST_INIT`` (the preload file also
named by the ``+AXI_MEM_INIT`` plusarg), ``AXI_MEM_TEST_DUMP`` (the ``+AXI_MEM_DUMP`` file),
``AXI_MEM_TEST_BYTES`` (``MEM_BYTES``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
from cocotbext.axi import AxiBus, AxiMaster, AxiResp
from tbutil import cycles, drive_zero, read_hex, start_clock_and_reset

MEM_BYTES = int(os.environ.get("AXI_MEM_TEST_BYTES", "16384"))


async def setup(dut):
    drive_zero(dut, "dump", *(f"s_axi_{n}" for n in ("arvalid", "awvalid", "wvalid", "rready",
                                                      "bready")))  # fmt: skip
    await start_clock_and_reset(dut)
    master = AxiMaster(AxiBus.from_prefix(dut, "s_axi"), dut.clk, dut.rst)
    return master


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def preload_is_readable(dut):
    master = await setup(dut)
    image = read_hex(Path(os.environ["AXI_MEM_TEST_INIT"]))
    for addr, length in ((0, 64), (4090, 17), (len(image) - 24, 24)):
        data = await master.read(addr, length)
        assert data.data == image[addr : addr + length], hex(addr)
        assert data.resp == AxiResp.OKAY


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def bursts_write_read_back_and_dump(dut):
    master = await setup(dut)
    rng = random.Random(3)
    shadow = bytearray(read_hex(Path(os.environ["AXI_MEM_TEST_INIT"])))
    shadow += bytes(MEM_BYTES - len(shadow))
    for _ in range(12):
        addr = rng.randrange(0, MEM_BYTES - 300)
        data = rng.randbytes(rng.randint(1, 300))
        resp = await master.write(addr, data)
        assert resp.resp == AxiResp.OKAY
        shadow[addr : addr + len(data)] = data
    for _ in range(12):
        addr = rng.randrange(0, MEM_BYTES - 300)
        n = rng.randint(1, 300)
        got = await master.read(addr, n)
        assert got.data == bytes(shadow[addr : addr + n]), hex(addr)
    dump = Path(os.environ["AXI_MEM_TEST_DUMP"])
    dut.dump.value = 1
    await cycles(dut, 2)
    dut.dump.value = 0
    await cycles(dut, 1)
    assert read_hex(dump) == bytes(shadow)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def beyond_memory_answers_slverr(dut):
    master = await setup(dut)
    width = len(dut.s_axi_wdata) // 8
    got = await master.read(MEM_BYTES, width)
    assert got.resp == AxiResp.SLVERR
    resp = await master.write(MEM_BYTES - width, bytes(2 * width))  # second beat out
    assert resp.resp == AxiResp.SLVERR
    got = await master.read(MEM_BYTES - width, width)  # the in-range beat was written
    assert got.resp == AxiResp.OKAY and got.data == bytes(width)
