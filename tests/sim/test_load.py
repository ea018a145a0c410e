"""The generated load engine under cocotb + cocotbext-axi (random AR/R pauses)."""

from __future__ import annotations

import harness
import pytest
from tops import FlatTop

from accss3d.arch import CONFIGS
from sspnna.load import LoadEngine


@pytest.mark.parametrize("cfg_name", ["small", "default"])
def test_load_engine(simulator, cfg_name):
    cfg = CONFIGS[cfg_name]
    top = f"load_top_{cfg_name}"
    verilog = harness.write_verilog(FlatTop(block=LoadEngine(cfg=cfg), cfg=cfg), top)
    harness.run(
        sim=simulator,
        top=top,
        sources=[verilog],
        module="tb_load",
        name=f"load-{cfg_name}-{simulator}",
        env={"ACCSS3D_CFG": cfg_name, "ACCSS3D_SEED": "5"},
    )
