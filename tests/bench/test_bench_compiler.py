"""Compiler and functional simulator benchmark: the whole minkunet18 on a ~100k-voxel room.

Run with ``make bench``.  The peer is the golden model's integer forward pass of the same
network (what the compiled program must reproduce bit for bit, MAC for MAC): the figures
printed are the compile time (the golden pass excluded - it is the peer) and the functional
run time, each against the golden forward, plus the instruction count.  A second benchmark
times the functional simulator's compiled engine against its vectorized numpy engine on the
same program (room:0:20k, where the numpy engine takes under a minute).
"""

import time

import numpy as np
import pytest

from accss3d.arch import get_config
from accss3d.compiler import compile_network
from accss3d.funcsim import run_program
from accss3d.netgolden import forward, random_input, random_params
from accss3d.network import CoordinateManager, get_network
from accss3d.scene import load_scene
from accss3d.voxel import voxelize

pytestmark = pytest.mark.bench
SCENE, VOXEL, NETWORK, CONFIG = "room:0:100k", 0.05, "minkunet18", "default"


def _inputs(scene):
    """(network, coords, config, plans, params, input features) of minkunet18 on ``scene``."""
    cfg = get_config(CONFIG)
    cloud, v = load_scene(scene, VOXEL)
    coords = voxelize(cloud, v).coords
    net = get_network(NETWORK)
    plans = CoordinateManager(coords).plan(net)
    params = random_params(plans, 0, cfg)
    feats = random_input(len(coords), net.in_channels, 0, cfg)
    return net, coords, cfg, plans, params, feats


def test_funcsim_engines(record):
    net, coords, cfg, plans, params, feats = _inputs("room:0:20k")
    golden = forward(plans, feats, params, cfg)
    res = compile_network(net, coords, cfg, params=params, feats=feats, golden=golden)
    run_program(res.program)  # compiled once (numba caches it)
    t = time.perf_counter()
    out = run_program(res.program)
    jit_s = time.perf_counter() - t
    t = time.perf_counter()
    ref = run_program(res.program, engine="numpy")
    numpy_s = time.perf_counter() - t
    assert out.all_match and np.array_equal(out.memory, ref.memory)
    n = res.program.prog_len
    label = f"funcsim {NETWORK} {len(coords)} voxels, {n} instr"
    record(label, jit_s, numpy_s, "vectorized numpy engine", instructions=n)


def test_compile_and_run_minkunet18(record):
    net, coords, cfg, plans, params, feats = _inputs(SCENE)
    t = time.perf_counter()
    golden = forward(plans, feats, params, cfg)
    peer = time.perf_counter() - t
    t = time.perf_counter()
    res = compile_network(net, coords, cfg, params=params, feats=feats, golden=golden)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    out = run_program(res.program)
    run_s = time.perf_counter() - t
    assert out.all_match
    n = res.program.prog_len
    label = f"{NETWORK} {len(coords)} voxels, {n} instr"
    record(f"compile {label}", compile_s, peer, "golden forward (int8)", instructions=n)
    record(f"funcsim {label}", run_s, peer, "golden forward (int8)", instructions=n)
    print(f"\ncompile + functional run: {compile_s + run_s:.1f} s ({n} instructions)")
