"""The generated CSR block under cocotb, driven by cocotbext-axi's AxiLiteMaster."""

from __future__ import annotations

from sspnna.csr import CsrSlave

#: The CSR block is the smallest design: its Verilator run stays in the default suite (one
#: C++ build, cached in build/sim afterwards), so the Verilator path is always exercised.
VERILATOR_BY_DEFAULT = True


def test_csr(run_block):
    run_block(lambda cfg: CsrSlave(cfg=cfg), "default", "tb_csr", port="bus")
