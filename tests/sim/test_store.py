"""The generated store engine under cocotb: cocotbext-axi AxiRamWrite with random pauses,
and the Verilog axi_mem model (preload, dump, SLVERR -> BUS_ERROR, abort)."""

from __future__ import annotations

import random

import pytest
from tb_store import acc_rows
from tbutil import write_hex
from tops import StoreBench

from tests.hw.dma_models import MEM


def bench(seed):
    return lambda cfg: StoreBench(cfg=cfg, rows=acc_rows(cfg, seed))


@pytest.mark.parametrize("cfg_name", ["small", "default"])
def test_store_engine_on_axi_ram(run_block, cfg_name):
    run_block(bench(7), cfg_name, "tb_store", seed=7,
              testcase="random_stores_under_backpressure")  # fmt: skip


def test_store_engine_on_axi_mem(run_block, tmp_path):
    init, dump = tmp_path / "init.hex", tmp_path / "dump.hex"
    write_hex(init, random.Random(9).randbytes(MEM))
    run_block(
        bench(9),
        "default",
        "tb_store",
        seed=9,
        mem={"mem_bytes": MEM, "latency": 6, "stall_pct": 25, "seed": 3},
        testcase="bus_error_then_abort_on_axi_mem",
        plusargs=[f"+AXI_MEM_INIT={init}", f"+AXI_MEM_DUMP={dump}"],
        env={"AXI_MEM_TEST_INIT": str(init), "AXI_MEM_TEST_DUMP": str(dump)},
    )
