"""cocotb testbench of the generated store engine (with an accumulator memory of known rows,
sim/tops.py StoreBench): on a cocotbext-axi AxiRamWrite with random AW/W/B pauses, and on
the Verilog ``axi_mem`` model (preload, dump, SLVERR -> BUS_ERROR, abort).

Environment: ``ACCSS3D_CFG``, ``ACCSS3D_SEED``; with axi_mem also ``AXI_MEM_TEST_INIT`` and
``AXI_MEM_TEST_DUMP`` (the files named by the ``+AXI_MEM_INIT`` / ``+AXI_MEM_DUMP`` plusargs).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import RisingEdge
from tbutil import (
    axi_ram,
    cycles,
    drive_zero,
    instr_word,
    read_hex,
    start_clock_and_reset,
    stream_put,
    wait_for,
)

from accss3d.arch import get_config
from accss3d.isa import ErrorCode, Instr, Op, StoreMode
from tests.hw.dma_models import ACC_ROWS, MEM, config, edge_accs, gold_run, random_store

CFG = get_config(os.environ.get("ACCSS3D_CFG", "small"))
SEED = int(os.environ.get("ACCSS3D_SEED", "1"))


def acc_rows(cfg, seed):
    """The accumulator rows of the bench (the pytest side builds the top with the same)."""
    rng = random.Random(seed)
    return [edge_accs(cfg, rng, cfg.pe_cols) for _ in range(ACC_ROWS)]


def program(rng):
    prog = [random_store(rng, CFG, mode=StoreMode.REQUANT)]
    for _ in range(3):
        prog.append(config(rng.randint(0, 0xFFFF), rng.randint(0, 40), rng.random() < 0.5))
        prog += [random_store(rng, CFG) for _ in range(3)]
    return prog


async def issue_all(dut, prog, first_pc=0):
    for pc, ins in enumerate(prog, first_pc):
        await stream_put(dut, "instr", instr_word(ins) | pc << 128, limit=20_000)
    await RisingEdge(dut.clk)
    await wait_for(dut, lambda: dut.idle.value == 1, 20_000, "the store engine to go idle")


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def random_stores_under_backpressure(dut):
    drive_zero(dut, "instr__valid", "prev__avail", "abort", "m_axi_awready", "m_axi_wready",
               "m_axi_bvalid")  # fmt: skip
    await start_clock_and_reset(dut)
    rng = random.Random(SEED)
    image = rng.randbytes(MEM)
    ram = axi_ram(dut, image, write=True, seed=SEED)
    prog = program(rng)
    await issue_all(dut, prog)
    assert dut.error__valid.value == 0
    gold = bytearray(image)
    gold_run(CFG, gold, acc_rows(CFG, SEED), prog)
    assert ram.read(0, MEM) == bytes(gold)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def bus_error_then_abort_on_axi_mem(dut):
    drive_zero(dut, "instr__valid", "prev__avail", "abort", "mem_dump")
    await start_clock_and_reset(dut)
    rng = random.Random(SEED)
    image = read_hex(Path(os.environ["AXI_MEM_TEST_INIT"]))
    gold = bytearray(image)
    rows = acc_rows(CFG, SEED)
    prog = program(rng)
    await issue_all(dut, prog)

    # a STORE entirely beyond the memory: SLVERR on its bursts -> BUS_ERROR with its pc
    failing = Instr.make(Op.STORE, sub=StoreMode.RAW, rows=2, ext_addr=MEM, ext_stride=64,
                         channels=CFG.pe_cols)  # fmt: skip
    seen = []

    async def watch_error():
        while True:
            await RisingEdge(dut.clk)
            if dut.error__valid.value == 1:
                seen.append((int(dut.error__code.value), int(dut.error__pc.value)))

    cocotb.start_soon(watch_error())
    await issue_all(dut, [failing], first_pc=100)
    await cycles(dut, 2)
    assert seen == [(ErrorCode.BUS_ERROR, 100)]
    assert dut.instr__ready.value == 0  # halted until abort
    dut.abort.value = 1
    await cycles(dut, 1)
    dut.abort.value = 0
    tail = [random_store(rng, CFG)]
    await issue_all(dut, tail, first_pc=101)
    gold_run(CFG, gold, rows, prog + tail)  # the failing STORE wrote nothing

    dut.mem_dump.value = 1
    await cycles(dut, 2)
    dut.mem_dump.value = 0
    await cycles(dut, 1)
    assert read_hex(Path(os.environ["AXI_MEM_TEST_DUMP"])) == bytes(gold)
