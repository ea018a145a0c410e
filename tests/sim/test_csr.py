"""The generated CSR block under cocotb, driven by cocotbext-axi's AxiLiteMaster."""

from __future__ import annotations

import harness
from tops import FlatTop

from accss3d.arch import CONFIGS
from sspnna.csr import CsrSlave

#: The CSR block is the smallest design: its Verilator run stays in the default suite (one
#: C++ build, cached in build/sim afterwards), so the Verilator path is always exercised.
VERILATOR_BY_DEFAULT = True


def test_csr(simulator):
    cfg = CONFIGS["default"]
    verilog = harness.write_verilog(
        FlatTop(block=CsrSlave(cfg=cfg), cfg=cfg, port="bus"), "csr_top"
    )
    harness.run(
        sim=simulator,
        top="csr_top",
        sources=[verilog],
        module="tb_csr",
        name=f"csr-{simulator}",
        env={"ACCSS3D_CFG": "default"},
    )
