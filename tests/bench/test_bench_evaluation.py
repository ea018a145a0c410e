"""CPU vs accelerator benchmark: a U-Net on a generated room, every layer measured here.

Run with ``make bench``; each network records ``ours`` = the accelerator's time (cycle-model
cycles of the compiled network at the config clock) and ``peer`` = the CPU time of the same
sparse convolutions (the fastest verified path per layer at one thread: spconv 2.3.8 on the
same rulebooks, PyTorch gather-GEMM-scatter or numpy; :mod:`accss3d.cpubaseline`), so the
printed ratio is accelerator / CPU (below 1: the accelerator is faster).  ``accss3d report``
shows the per-layer table; docs/evaluation.md the method.
"""

import os

import pytest

pytestmark = pytest.mark.bench
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def room():
    from accss3d.scene import load_scene
    from accss3d.voxel import voxelize

    cloud, v = load_scene("room:0:20k")
    return voxelize(cloud, v).coords


@pytest.mark.parametrize("network", ["unet-small", "minkunet18"])
def test_network_vs_cpu(room, record, network):
    from accss3d.arch import get_config
    from accss3d.compiler import compile_network
    from accss3d.cpubaseline import measure_layers, time_rulebooks
    from accss3d.cyclemodel import simulate
    from accss3d.network import get_network

    cfg = get_config("default")
    net = get_network(network)
    rulebooks_s, plans = time_rulebooks(room, net)
    prog = compile_network(net, room, cfg).program
    rep = simulate(prog.code, cfg, layers=prog.manifest["layers"])
    accel_s = rep.cycles / (cfg.clock_mhz * 1e6)
    cpu = measure_layers(plans, threads=(1,), repeats=5)
    assert all(all(c.ok.values()) for c in cpu)
    cpu_s = sum(c.best(1)[1] for c in cpu)
    record(
        f"{network} room:0:20k (accel @{cfg.clock_mhz:g} MHz / CPU)",
        accel_s,
        cpu_s,
        "best CPU path per layer, 1 thread",
        cycles=rep.cycles,
        utilization=rep.utilization,
        rulebooks_ms=1e3 * rulebooks_s,
        cores=os.cpu_count(),
    )
