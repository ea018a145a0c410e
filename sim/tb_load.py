"""cocotb testbench of the generated load engine (flat ``m_axi_*`` read port) on a
cocotbext-axi AxiRamRead with random pauses on AR and R; L1 writes are checked against the
LOAD semantics (tests/hw/dma_models.py).

Environment: ``ACCSS3D_CFG`` (config name), ``ACCSS3D_SEED``.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge
from tbutil import (
    axi_ram,
    drive_zero,
    instr_word,
    start_clock_and_reset,
    stream_put,
    wait_for,
)  # fmt: skip

from accss3d.arch import get_config
from accss3d.isa import Kind
from sspnna.interfaces import phys_bytes
from sspnna.load import KIND_NAMES
from tests.hw.dma_models import MEM, gold_load, l1_images, random_load

CFG = get_config(os.environ.get("ACCSS3D_CFG", "small"))
SEED = int(os.environ.get("ACCSS3D_SEED", "1"))


async def l1_monitor(dut, l1):
    """Apply every L1 write beat to the byte images (sampled after each rising edge)."""
    bus = CFG.bus_bytes
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if dut.l1w__en.value == 1:
            kind = Kind(int(dut.l1w__kind.value))
            phys = phys_bytes(CFG, KIND_NAMES[kind])
            base = int(dut.l1w__row.value) * phys + int(dut.l1w__lane.value) * bus
            data, be = int(dut.l1w__data.value), int(dut.l1w__be.value)
            for j in range(bus):
                if be >> j & 1:
                    l1[kind][base + j] = data >> (8 * j) & 0xFF


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def random_loads_under_backpressure(dut):
    drive_zero(dut, "instr__valid", "next__avail", "abort", "m_axi_arready", "m_axi_rvalid")
    await start_clock_and_reset(dut)
    rng = random.Random(SEED)
    image = rng.randbytes(MEM)
    axi_ram(dut, image, write=False, seed=SEED + 1)
    l1 = l1_images(CFG, random.Random(SEED + 3))
    gold = {k: bytearray(v) for k, v in l1.items()}
    cocotb.start_soon(l1_monitor(dut, l1))

    loads = [random_load(rng, CFG, kind) for kind in list(KIND_NAMES) * 3]
    rng.shuffle(loads)
    dut.next__avail.value = 1
    for pc, ins in enumerate(loads):
        await stream_put(dut, "instr", instr_word(ins) | pc << 128, limit=20_000)
        gold_load(CFG, gold, image, ins)
    await RisingEdge(dut.clk)
    await wait_for(dut, lambda: dut.idle.value == 1, 20_000, "the last LOAD")
    await RisingEdge(dut.clk)
    assert dut.error__valid.value == 0
    for kind in KIND_NAMES:
        assert l1[kind] == gold[kind], f"L1 {kind.name} differs"
