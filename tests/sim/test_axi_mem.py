"""The Verilog AXI memory model (sim/verilog/axi_mem.v) under cocotbext-axi's AxiMaster."""

from __future__ import annotations

import random

import harness
from tbutil import write_hex

MEM_BYTES = 16384


def test_axi_mem(simulator, tmp_path):
    init, dump = tmp_path / "init.hex", tmp_path / "dump.hex"
    write_hex(init, random.Random(1).randbytes(5000))  # the rest of the memory stays 0
    harness.run(
        sim=simulator,
        top="axi_mem",
        sources=[harness.AXI_MEM_V],
        module="tb_axi_mem",
        name=f"axi_mem-{simulator}",
        parameters={"DATA_BITS": 64, "ID_BITS": 4, "MEM_BYTES": MEM_BYTES, "LATENCY": 5},
        plusargs=[f"+AXI_MEM_INIT={init}", f"+AXI_MEM_DUMP={dump}", "+AXI_MEM_STALL=30"],
        env={
            "AXI_MEM_TEST_INIT": str(init),
            "AXI_MEM_TEST_DUMP": str(dump),
            "AXI_MEM_TEST_BYTES": str(MEM_BYTES),
        },
        timeout_s=120,
    )
