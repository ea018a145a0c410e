"""Owns ``accss3d compile``: a scene and a network (or one layer) to a program directory."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from ..arch import get_config
from ..compiler import (
    compile_layer,
    compile_network,
    default_schedule,
    parse_layer_spec,
    single_layer_plan,
)
from ..cyclemodel import Timing
from ..errors import ConfigError
from ..netgolden import load_params
from ..network import CoordinateManager, get_network, network_names
from ..program import PROGRAM_FILE
from ..scene import load_scene
from ..voxel import voxelize
from ._common import add_scene_options, dump_json

__all__ = ["register", "write_program_dir", "level_orders"]

_README = """\
Compiled by `accss3d compile` ({what}, config {config}).

program.sspn   the program: code, memory image, manifest and config (docs/compiler.md)
manifest.json  where every tensor lives, per-layer schedules and figures (also inside the program)
config.json    the architecture config it was compiled for (also inside the program)
golden.npz     the golden model's output tensors (and order_s<stride> permutations), for checking
summary.json   per-layer schedules, instruction counts and estimated cycles; compile times

accss3d disasm {dir}        # the program as assembly
accss3d run {dir}           # functional simulation, checked against the golden outputs
accss3d cycles {dir}        # cycle model
accss3d simulate {dir}      # the RTL
"""


def register(sub) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a network (or one layer) on a scene into a program directory",
        description="Voxelize the scene, build the rulebooks, choose a schedule per layer "
        "(the dataflow optimizer's, or the compiler's default), tile, double-buffer and emit "
        "one program for the whole network with its memory image. Deterministic: the same "
        "inputs give the same bytes.",
    )
    add_scene_options(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--network", choices=network_names(), help="a built-in network")
    what.add_argument(
        "--layer",
        metavar="SPEC",
        help="one layer: KIND K[sS][dD]:CIN:COUT, e.g. subm3:32:32, conv2s2:32:64, deconv2s2:64:32",
    )
    p.add_argument("--config", default="default", help="architecture config (name or .json)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and features (default 0)")
    p.add_argument("--weights", metavar="FILE.npz", help="integer weights (docs/compiler.md)")
    p.add_argument("--relu", action="store_true", help="ReLU after a single --layer")
    p.add_argument(
        "--schedule",
        choices=("auto", "default"),
        default="auto",
        help="auto: the dataflow optimizer's schedules when available; default: the compiler's",
    )
    p.add_argument(
        "--order",
        default="raster",
        metavar="METHOD",
        help="voxel processing order of every stride level (accss3d.reorder: raster, morton, "
        "hilbert, bfs, surface; default raster)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def level_orders(coords, strides, method: str) -> dict:
    """``{stride: permutation}`` of every level for a reordering method (raster: none)."""
    if method == "raster":
        return {}
    try:
        from ..reorder import reorder
    except ImportError:
        raise ConfigError(f"--order {method}: accss3d.reorder is not available") from None
    cm = CoordinateManager(coords)
    return {s: reorder(cm.coords(s), method, stride=s) for s in sorted(set(strides))}


def write_program_dir(out: str, result, summary: dict, orders: dict | None = None) -> None:
    """Write a compiled program directory (program, manifest, config, golden, summary).

    ``orders`` (stride -> permutation of the level's raster voxels) go into golden.npz as
    ``order_s<stride>``: row ``j`` of a tensor of that level is raster voxel ``perm[j]``.
    """
    os.makedirs(out, exist_ok=True)
    prog = result.program
    prog.save(os.path.join(out, PROGRAM_FILE))
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(prog.manifest, fh, indent=1, sort_keys=True)
        fh.write("\n")
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as fh:
        fh.write(prog.cfg.to_json())
    golden = {n: result.golden.tensors[n] for n in prog.manifest["outputs"]}
    golden.update({f"order_s{s}": np.asarray(p) for s, p in (orders or {}).items()})
    np.savez(os.path.join(out, "golden.npz"), **golden)
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1, sort_keys=True)
        fh.write("\n")
    what = summary.get("network") or summary.get("layer")
    with open(os.path.join(out, "README.txt"), "w", encoding="utf-8") as fh:
        fh.write(_README.format(what=what, config=prog.cfg.name, dir=out))


def _progress(total: int):
    """A progress bar over the layers (rich), or None when stdout is not a terminal."""
    import sys

    if not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task("compiling", total=total)

    def step(name):
        bar.update(task, advance=1, description=f"compiling {name}")

    return bar, step


def run(args) -> int:
    cfg = get_config(args.config)
    cloud, v = load_scene(args.scene, args.voxel_size)
    t0 = time.perf_counter()
    x = voxelize(cloud, v)
    extra = {"scene": args.scene, "voxel_size": v, "order": args.order}
    if args.network:
        net = get_network(args.network)
        orders = level_orders(x.coords, net.strides.values(), args.order)
        cm = CoordinateManager(x.coords)
        for s, perm in orders.items():
            cm.set_coords(s, cm.coords(s)[perm])
        plans = cm.plan(net)
        schedules = (
            {p.layer.name: default_schedule(p, cfg) for p in plans}
            if args.schedule == "default"
            else None
        )
        params = feats = None
        if args.weights:
            params, feats = load_params(args.weights, plans, cfg)
        bar, step = _progress(len(plans))
        if bar is not None:
            bar.start()
        try:
            result = compile_network(
                net, x.coords, cfg, seed=args.seed, params=params, feats=feats,
                schedules=schedules, orders=orders, manifest_extra=extra, progress=step,
            )  # fmt: skip
        finally:
            if bar is not None:
                bar.stop()
        what = {"network": args.network}
    else:
        orders = None
        if args.order != "raster":
            raise ConfigError("--order applies to --network compiles")
        if args.weights:
            raise ConfigError("--weights applies to --network compiles")
        conv, cin, cout = parse_layer_spec(args.layer)
        schedule = None
        if args.schedule == "default":
            schedule = default_schedule(single_layer_plan(x.coords, conv, cin, cout), cfg)
        result = compile_layer(
            x.coords, args.layer, cfg, seed=args.seed, relu=args.relu, schedule=schedule,
            manifest_extra=extra,
        )  # fmt: skip
        what = {"layer": args.layer}
    elapsed = time.perf_counter() - t0
    prog = result.program
    layers = prog.manifest["layers"]
    summary = {
        **what,
        "scene": args.scene,
        "voxels": len(x.coords),
        "config": cfg.name,
        "instructions": prog.prog_len,
        "memory_bytes": prog.mem_bytes,
        "image_bytes": len(prog.image),
        "estimated_cycles": sum(layer["estimated_cycles"] for layer in layers),
        "seconds": {**{k: round(s, 3) for k, s in result.seconds.items()},
                    "total": round(elapsed, 3)},
        "layers": [
            {k: layer[k] for k in ("name", "conv", "cin", "cout", "schedule_text", "instructions",
                                   "estimated_cycles", "tiles", "ifm_passes")}
            for layer in layers
        ],
        "timing": Timing().__dict__,
    }  # fmt: skip
    write_program_dir(args.output, result, summary, orders)
    if args.json:
        dump_json(summary)
    else:
        print(
            f"{what.get('network') or what.get('layer')} on {args.scene} ({len(x.coords)} voxels), "
            f"config {cfg.name}: {prog.prog_len} instructions, {len(layers)} layer(s), "
            f"~{summary['estimated_cycles']} cycles -> {args.output} ({elapsed:.1f} s)"
        )
    return 0
