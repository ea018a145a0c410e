"""The generated load engine under cocotb + cocotbext-axi (random AR/R pauses)."""

from __future__ import annotations

import pytest

from sspnna.load import LoadEngine


@pytest.mark.parametrize("cfg_name", ["small", "default"])
def test_load_engine(run_block, cfg_name):
    run_block(lambda cfg: LoadEngine(cfg=cfg), cfg_name, "tb_load", seed=5)
