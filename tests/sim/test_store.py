"""The generated store engine under cocotb: cocotbext-axi AxiRamWrite with random pauses,
and the Verilog axi_mem model (preload, dump, SLVERR -> BUS_ERROR, abort)."""

from __future__ import annotations

import random

import harness
import pytest
from tb_store import acc_rows
from tbutil import write_hex
from tops import FlatTop, StoreBench

from accss3d.arch import CONFIGS
from tests.hw.dma_models import MEM


def store_top(cfg, seed, mem=None):
    return FlatTop(block=StoreBench(cfg=cfg, rows=acc_rows(cfg, seed)), cfg=cfg, mem=mem)


@pytest.mark.parametrize("cfg_name", ["small", "default"])
def test_store_engine_on_axi_ram(simulator, cfg_name):
    cfg, seed = CONFIGS[cfg_name], 7
    top = f"store_top_{cfg_name}"
    verilog = harness.write_verilog(store_top(cfg, seed), top)
    harness.run(
        sim=simulator,
        top=top,
        sources=[verilog],
        module="tb_store",
        testcase="random_stores_under_backpressure",
        name=f"store-{cfg_name}-{simulator}",
        env={"ACCSS3D_CFG": cfg_name, "ACCSS3D_SEED": str(seed)},
    )


def test_store_engine_on_axi_mem(simulator, tmp_path):
    cfg, seed = CONFIGS["default"], 9
    top = "store_mem_top"
    mem = {"mem_bytes": MEM, "latency": 6, "stall_pct": 25, "seed": 3}
    verilog = harness.write_verilog(store_top(cfg, seed, mem), top)
    init, dump = tmp_path / "init.hex", tmp_path / "dump.hex"
    write_hex(init, random.Random(seed).randbytes(MEM))
    harness.run(
        sim=simulator,
        top=top,
        sources=[verilog, harness.AXI_MEM_V],
        module="tb_store",
        testcase="bus_error_then_abort_on_axi_mem",
        name=f"store-mem-{simulator}",
        plusargs=[f"+AXI_MEM_INIT={init}", f"+AXI_MEM_DUMP={dump}"],
        env={
            "ACCSS3D_CFG": "default",
            "ACCSS3D_SEED": str(seed),
            "AXI_MEM_TEST_INIT": str(init),
            "AXI_MEM_TEST_DUMP": str(dump),
        },
    )
