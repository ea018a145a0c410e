"""The generated fetch unit under cocotb (cocotbext-axi AxiRamRead, random pauses)."""

from __future__ import annotations

import harness
import pytest
from tops import FlatTop

from accss3d.arch import CONFIGS
from sspnna.fetch import Fetch


@pytest.mark.parametrize("cfg_name", ["small", "default"])
def test_fetch(simulator, cfg_name):
    cfg = CONFIGS[cfg_name]
    top = f"fetch_top_{cfg_name}"
    verilog = harness.write_verilog(FlatTop(block=Fetch(cfg=cfg), cfg=cfg), top)
    harness.run(
        sim=simulator,
        top=top,
        sources=[verilog],
        module="tb_fetch",
        name=f"fetch-{cfg_name}-{simulator}",
        env={"ACCSS3D_CFG": cfg_name, "ACCSS3D_SEED": "3"},
    )
