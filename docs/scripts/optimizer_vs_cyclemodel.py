"""Reproduce the cost-model vs cycle-model table of docs/optimizer.md.

    python docs/scripts/optimizer_vs_cyclemodel.py [CONFIG] [SCENE] [VOXEL] [NETWORK]

Every layer is compiled twice - with the optimizer's schedule and with the same schedule's
double buffering flipped (weights streamed) - and run on the instruction-level cycle model;
the table compares the per-layer cycles with :func:`accss3d.optimizer.cost` (told which
layers read their input rows with gaps, :func:`accss3d.optimizer.gapless_rows`).
"""

import sys

import numpy as np

from accss3d.arch import get_config
from accss3d.compiler import compile_plans
from accss3d.cyclemodel import Timing, simulate
from accss3d.netgolden import random_input, random_params
from accss3d.network import CoordinateManager, get_network
from accss3d.optimizer import choose_schedule, cost, gapless_rows
from accss3d.scene import load_scene
from accss3d.schedule import Schedule
from accss3d.voxel import voxelize

args = sys.argv[1:] + ["default", "room:1:tiny", "0.1", "unet-small"][len(sys.argv[1:]) :]
cfg = get_config(args[0])
cloud, v = load_scene(args[1], float(args[2]))
plans = CoordinateManager(voxelize(cloud, v).coords).plan(get_network(args[3]))
params = random_params(plans, 0, cfg)
feats = random_input(plans[0].kmap.n_in, plans[0].cin, 0, cfg)
gapless = gapless_rows(plans)
variants = []
for p in plans:
    g = gapless[p.layer.name]
    s0 = choose_schedule(p, cfg, gapless=g)
    s1 = Schedule(s0.tile_outputs, s0.order, s0.cout_inner, False, not s0.double_buffer, True)
    if not cost(p, cfg, s1, gapless=g).feasible:
        s1 = Schedule(s0.tile_outputs, s0.order, False, False, not s0.double_buffer, True)
    variants.append((s0, s1 if cost(p, cfg, s1, gapless=g).feasible else s0))
print(f"{args[3]} on {args[1]} at {v:g} m, config {cfg.name}, default Timing\n")
print("| layer | schedule | cycle model | cost model | error |")
print("|---|---|---|---|---|")
errors, totals = [], {0: [0, 0], 1: [0, 0]}
for which in (0, 1):
    scheds = {p.layer.name: variants[i][which] for i, p in enumerate(plans)}
    res = compile_plans(plans, feats, params, cfg, schedules=scheds)
    rep = simulate(
        res.program.code, res.program.cfg, Timing(), layers=res.program.manifest["layers"]
    )
    for layer in rep.layers:
        p = next(q for q in plans if q.layer.name == layer["name"])
        s = res.schedules[layer["name"]]
        c = cost(p, cfg, s, gapless=gapless[p.layer.name]).cycles
        e = c / layer["cycles"] - 1
        errors.append(e)
        totals[which][0] += layer["cycles"]
        totals[which][1] += c
        print(f"| {layer['name']} | {s.describe()} | {layer['cycles']} | {c} | {100 * e:+.1f}% |")
e = np.abs(np.array(errors))
for which, name in ((0, "chosen schedules"), (1, "flipped buffering")):
    sim, mod = totals[which]
    print(f"\n{name}: cycle model {sim}, cost model {mod} ({100 * (mod / sim - 1):+.1f}%)", end="")
print(f"\nper layer: mean |error| {100 * e.mean():.1f}%, max {100 * e.max():.1f}%")
