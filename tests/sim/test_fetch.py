"""The generated fetch unit under cocotb (cocotbext-axi AxiRamRead, random pauses)."""

from __future__ import annotations

import pytest

from sspnna.fetch import Fetch


@pytest.mark.parametrize("cfg_name", ["small", "default"])
def test_fetch(run_block, cfg_name):
    run_block(lambda cfg: Fetch(cfg=cfg), cfg_name, "tb_fetch", seed=3)
