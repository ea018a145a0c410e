"""Owns the cocotb test of the whole core running one compiled program.

Configured by environment variables (set by :func:`accss3d.rtlsim.simulate`):
``TB_PROG_LEN``, ``TB_PROG_ADDR``, ``TB_MEM_LIMIT``, ``TB_WATCHDOG``, ``TB_MAX_CYCLES``
(bound of the run), ``TB_RESET_AT`` (optional: reset the core that many cycles after the
start, then program and start it again), ``TB_RESULT`` (JSON file written with the status,
error, counters and wall time).  The memory model dumps itself after the run.

The run is awaited with one timer, not cycle by cycle: Python only runs for the CSR
accesses, so the simulator runs free.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.triggers import First, RisingEdge, Timer
from cocotbext.axi import AxiLiteBus, AxiLiteMaster
from tbutil import start_clock_and_reset

from accss3d.isa import CSRS

REG = {c.name: c.offset for c in CSRS}
PERIOD_NS = 10


async def _program_and_start(axil, env):
    await axil.write_dword(REG["PROG_ADDR"], int(env["TB_PROG_ADDR"]))
    await axil.write_dword(REG["PROG_LEN"], int(env["TB_PROG_LEN"]))
    await axil.write_dword(REG["MEM_LIMIT"], int(env["TB_MEM_LIMIT"]))
    await axil.write_dword(REG["WATCHDOG"], int(env.get("TB_WATCHDOG", "0")))
    await axil.write_dword(REG["CTRL"], 1)


async def _read64(axil, name):
    lo = await axil.read_dword(REG[f"{name}_LO"])
    hi = await axil.read_dword(REG[f"{name}_HI"])
    return lo | (hi << 32)


@cocotb.test()
async def run_program(dut):
    env = os.environ
    dut.mem_dump.value = 0
    await start_clock_and_reset(dut, period_ns=PERIOD_NS)
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    t0 = time.perf_counter()
    await _program_and_start(axil, env)
    reset_at = int(env.get("TB_RESET_AT", "0"))
    if reset_at:
        await Timer(reset_at * PERIOD_NS, unit="ns")
        assert dut.irq.value == 0, "the program ended before the reset"
        dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        status = await axil.read_dword(REG["STATUS"])
        assert status == 0, f"STATUS {status:#x} after a reset"
        await _program_and_start(axil, env)
    limit = int(env["TB_MAX_CYCLES"])
    finished = RisingEdge(dut.irq)
    fired = await First(finished, Timer(limit * PERIOD_NS, unit="ns"))
    timed_out = fired is not finished and not int(dut.irq.value)
    wall = time.perf_counter() - t0
    result = {"timed_out": bool(timed_out), "wall_s": wall}
    result["status"] = await axil.read_dword(REG["STATUS"])
    result["error_code"] = await axil.read_dword(REG["ERROR_CODE"])
    result["error_pc"] = await axil.read_dword(REG["ERROR_PC"])
    for name in ("CYCLES", "BUSY", "MEM_STALL", "MACS", "INSTRS", "RD_BYTES", "WR_BYTES"):
        result[name.lower()] = await _read64(axil, name)
    dut.mem_dump.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.mem_dump.value = 0
    await RisingEdge(dut.clk)
    with open(env["TB_RESULT"], "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    assert not timed_out, f"the core did not finish within {limit} cycles"
