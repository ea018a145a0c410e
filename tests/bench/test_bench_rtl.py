"""RTL benchmarks: PE utilization from the core's own counters, Verilator speed, and the
cycle model against the RTL (``make bench``; one Verilator build of the default config).

The workload is issue 5's: a 3^3 submanifold 32->32 layer of a ~20k-voxel generated room on
the default config, once with the schedule the compiler's optimizer picks and once with a
fixed double-buffered schedule for reference.  Results are printed and saved under
build/bench/.
"""

from __future__ import annotations

import json
import os

import pytest

from accss3d.arch import CONFIGS
from accss3d.compiler import compile_layer
from accss3d.scene import RoomSpec, generate_scene
from accss3d.schedule import Schedule
from accss3d.voxel import voxelize

pytestmark = pytest.mark.bench

SCHEDULES = {
    "optimizer": None,
    "T=128 cout-inner db": Schedule(
        tile_outputs=128,
        order="tile",
        cout_inner=True,
        weights_resident=False,
        double_buffer=True,
        pack=False,
    ),
}


@pytest.fixture(scope="module")
def room():
    cloud = generate_scene(RoomSpec(seed=0, target_voxels=20000, voxel_size=0.05))
    return voxelize(cloud, 0.05).coords


@pytest.mark.parametrize("label", list(SCHEDULES))
def test_utilization_subm3_32_default(room, label):
    from accss3d.rtlsim import simulate

    cfg = CONFIGS["default"]
    result = compile_layer(room, "subm3:32:32", cfg, seed=1, schedule=SCHEDULES[label])
    report = simulate(
        result.program,
        simulator="verilator",
        name=f"bench-util-{label.split()[0].replace('=', '')}",
    )
    assert report["match"], report["outputs"]
    busy, cycles = report["busy"], report["cycles"]
    row = {
        "schedule": result.schedules["layer"].describe(),
        "voxels": len(room),
        "cycles": cycles,
        "utilization": report["utilization"],
        "busy_cycles": busy,
        "mem_stall_cycles": report["mem_stall"],
        "other_cycles": cycles - busy - report["mem_stall"],
        "rd_bytes": report["rd_bytes"],
        "wr_bytes": report["wr_bytes"],
        "model_cycles": report["model_cycles"],
        "model_error": report["model_error"],
        "verilator_cycles_per_s": report["cycles_per_wall_second"],
    }
    os.makedirs("build/bench", exist_ok=True)
    with open(f"build/bench/rtl_util_{label.split()[0].replace('=', '')}.json", "w") as fh:
        json.dump(row, fh, indent=2, sort_keys=True)
    print(
        f"\nsubm3 32->32, {len(room)} voxels, default config, {row['schedule']}: "
        f"utilization {row['utilization']:.1%} ({busy} busy / {cycles} cycles; "
        f"{row['mem_stall_cycles']} waiting on loads, {row['other_cycles']} other); "
        f"cycle model {row['model_error']:+.1%}; Verilator {row['verilator_cycles_per_s']:.0f} "
        f"cycles/s"
    )
