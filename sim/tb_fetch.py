"""cocotb testbench of the generated fetch unit (flat ``m_axi_*`` read port) on a
cocotbext-axi AxiRamRead with random AR/R pauses and a consumer with random ready.

Environment: ``ACCSS3D_CFG``, ``ACCSS3D_SEED``.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge
from tbutil import axi_ram, cycles, drive_zero, start_clock_and_reset

from accss3d.arch import get_config
from accss3d.isa import INSTR_BYTES

CFG = get_config(os.environ.get("ACCSS3D_CFG", "small"))
SEED = int(os.environ.get("ACCSS3D_SEED", "1"))
MEM = 4 * 4096


async def fetch(dut, rng, addr, n, limit=50_000):
    """Start a program and consume it with a random ready; returns [(pc, bits)]."""
    dut.prog_addr.value = addr
    dut.prog_len.value = n
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    got = []
    for _ in range(limit):
        dut.instr__ready.value = rng.random() < 0.7
        await ReadOnly()
        if dut.instr__valid.value == 1 and dut.instr__ready.value == 1:
            payload = int(dut.instr__payload.value)
            got.append((payload >> 128, payload & ((1 << 128) - 1)))
        done = dut.exhausted.value == 1 and dut.idle.value == 1
        await RisingEdge(dut.clk)
        if done:
            dut.instr__ready.value = 0
            return got
    raise AssertionError(f"program of {n} instructions not fetched in {limit} cycles")


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def programs_in_order_under_backpressure(dut):
    drive_zero(dut, "start", "abort", "instr__ready", "m_axi_arready", "m_axi_rvalid")
    await start_clock_and_reset(dut)
    rng = random.Random(SEED)
    image = rng.randbytes(MEM)
    axi_ram(dut, image, write=False, seed=SEED + 1)
    for addr, n in ((4096 - 3 * 32, 50), (0, 1), (8192, 33)):
        got = await fetch(dut, rng, addr, n)
        want = [
            (i, int.from_bytes(image[addr + i * INSTR_BYTES : addr + (i + 1) * INSTR_BYTES],
                               "little"))
            for i in range(n)
        ]  # fmt: skip
        assert got == want, (addr, n)
        await cycles(dut, 3)
