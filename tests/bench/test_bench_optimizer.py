"""Dataflow-optimizer benchmark: decision latency and cost gap to the exhaustive oracle.

For MinkUNet18 on three generated scenes and the ``default`` config, every layer's fast
decision (:func:`accss3d.optimizer.choose_schedule`) is timed (median of 7 after a warm-up;
the rulebook statistics are gathered once per kernel map beforehand, like the kernel map
itself) and its modelled cost compared with the oracle's (:func:`accss3d.optimizer.search`,
the same cost model over every tile size and flag).  Targets: median decision time below
1 ms per layer (asserted), every layer within 5% of the oracle (an xfail naming the layer
when missed; docs/optimizer.md has the measured table).  Run with ``make bench``; the table
lands in build/bench/results.json (the ratio is ours / oracle time).
"""

import statistics
import time

import pytest

from accss3d.arch import get_config
from accss3d.network import CoordinateManager, get_network
from accss3d.optimizer import choose_schedule, cost, layer_stats, search, stats_seconds
from accss3d.scene import load_scene
from accss3d.voxel import voxelize

pytestmark = pytest.mark.bench

SCENES = [("room:0:small", 0.05), ("room:1:medium", 0.05), ("room:2:small", 0.02)]


@pytest.mark.parametrize("scene, voxel", SCENES, ids=[f"{s}@{v}" for s, v in SCENES])
def test_decision_latency_and_gap(scene, voxel, record, timer):
    cfg = get_config("default")
    cloud, v = load_scene(scene, voxel)
    x = voxelize(cloud, v)
    plans = CoordinateManager(x.coords).plan(get_network("minkunet18"))
    latencies, oracle_times, gaps, stats_ms = [], [], [], {}
    lines = []
    for plan in plans:
        layer_stats(plan)
        stats_ms[id(plan.kmap)] = 1e3 * stats_seconds(plan)
        latencies.append(timer(lambda p=plan: choose_schedule(p, cfg), repeats=7))
        chosen = choose_schedule(plan, cfg)
        ours = cost(plan, cfg, chosen)
        t0 = time.perf_counter()
        best, oracle = search(plan, cfg)
        oracle_times.append(time.perf_counter() - t0)
        assert ours.feasible
        gap = ours.cycles / oracle.cycles - 1.0
        gaps.append(gap)
        lines.append(
            f"{plan.layer.name:<10} {chosen.describe():<40} {ours.cycles:>11} "
            f"{best.describe():<40} {oracle.cycles:>11} {100 * gap:6.2f}%"
        )
    median = statistics.median(latencies)
    worst = max(gaps)
    worst_layer = plans[gaps.index(worst)].layer.name
    print(f"\n{scene} at {v:g} m: {len(x)} voxels, {len(plans)} layers")
    print("\n".join(lines))
    print(
        f"median decision {1e6 * median:.0f} us/layer (oracle {statistics.median(oracle_times):.2f}"
        f" s/layer); worst-layer gap {100 * worst:.2f}% ({worst_layer}); rulebook statistics "
        f"{sum(stats_ms.values()):.0f} ms for {len(stats_ms)} kernel maps"
    )
    record(
        f"optimizer minkunet18 {scene}@{v:g}",
        median,
        statistics.median(oracle_times),
        "exhaustive oracle",
        worst_gap=worst,
        stats_ms=sum(stats_ms.values()),
    )
    assert median < 1e-3
    if worst > 0.05:  # the target; kept visible rather than failing the benchmark run
        pytest.xfail(f"worst-layer gap {100 * worst:.1f}% ({worst_layer}) above the 5% target")
