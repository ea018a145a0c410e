"""Shared pytest setup of the cocotb tests: sim/ on the path, a ``simulator`` parameter.

``simulator`` takes every simulator selected by ``ACCSS3D_SIM`` (default: icarus and
verilator); one that is not installed is skipped with the reason.  Verilator runs are
marked ``slow`` (each design is a C++ build of ~30-60 s, cached afterwards) unless the test
module sets ``VERILATOR_BY_DEFAULT = True``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SIM_DIR = Path(__file__).resolve().parents[2] / "sim"
if str(SIM_DIR) not in sys.path:
    sys.path.insert(0, str(SIM_DIR))

import harness  # noqa: E402  (sim/ is not a package: found through the path set above)


def pytest_generate_tests(metafunc):
    if "simulator" in metafunc.fixturenames:
        params = []
        for sim in harness.simulators():
            reason = harness.unavailable(sim)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            if sim == "verilator" and not getattr(metafunc.module, "VERILATOR_BY_DEFAULT", False):
                marks.append(pytest.mark.slow)
            params.append(pytest.param(sim, marks=marks, id=sim))
        metafunc.parametrize("simulator", params)


@pytest.fixture
def run_block(simulator):
    """Build a :class:`tops.FlatTop` around ``make(cfg)`` and run a cocotb module on it.

    ``run_block(make, cfg_name, module, seed=..., port=..., mem=..., testcase=...,
    plusargs=..., env=...)``; the testbench gets ``ACCSS3D_CFG`` and ``ACCSS3D_SEED``.
    """
    from tops import FlatTop

    from accss3d.arch import CONFIGS

    def run(make, cfg_name, module, *, seed=1, port="axi", mem=None, testcase=None,
            plusargs=(), env=None):  # fmt: skip
        cfg = CONFIGS[cfg_name]
        what = module.removeprefix("tb_") + ("_mem" if mem else "")
        top = FlatTop(block=make(cfg), cfg=cfg, port=port, mem=mem)
        verilog = harness.write_verilog(top, f"{what}_top_{cfg_name}")
        harness.run(
            sim=simulator,
            top=f"{what}_top_{cfg_name}",
            sources=[verilog] + ([harness.AXI_MEM_V] if mem else []),
            module=module,
            testcase=testcase,
            name=f"{what}-{cfg_name}-{simulator}",
            plusargs=list(plusargs),
            env={"ACCSS3D_CFG": cfg_name, "ACCSS3D_SEED": str(seed), **(env or {})},
        )

    return run


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.icarus_slow``: the Icarus run of that test is ``slow`` (Icarus simulates
    the whole core at ~2k cycles/s, Verilator at ~40k)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (
            item.get_closest_marker("icarus_slow")
            and callspec is not None
            and callspec.params.get("simulator") == "icarus"
        ):
            item.add_marker(pytest.mark.slow)
