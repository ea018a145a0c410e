"""Owns ``accss3d demo``: the main job on a built-in default scene, ending with the report.

First the rulebooks of the three convolution kinds and the golden model on a generated room
(a table), then the evaluation report (:mod:`accss3d.report`) of a network compiled for a
configuration on the same room: ``report.html``, ``report.md``, ``results.json`` and
``figures/`` next to ``summary.json``.
"""

from __future__ import annotations

import json
import os
import time

from ..golden import accumulate_int, calibrate_requant, random_operands, sparse_conv
from ..rulebook import ConvSpec
from ..scene import DEFAULT_VOXEL_SIZE, RoomSpec, generate_scene
from ..voxel import voxelize
from ._common import to_jsonable
from .report import add_report_options, options_from_args
from .rulebook import layer_maps

__all__ = ["register", "run_demo"]


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job on a built-in default scene",
        description="Generate an indoor room, voxelize it, build the rulebooks "
        "of the three convolution kinds and run the golden model on them; then write the "
        "evaluation report (accss3d report) of a network on the same room.",
    )
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    p.add_argument("--voxels", type=int, default=20_000, help="scene size (default 20000)")
    p.add_argument("--channels", type=int, default=32, help="Cin = Cout (default 32)")
    p.add_argument("--out", default="build/demo", help="output directory (default build/demo)")
    p.add_argument("--no-report", action="store_true", help="stop after the rulebook table")
    add_report_options(p, seed=False)
    p.set_defaults(repeats=3, cpu_budget=1.0)  # a shorter CPU baseline than `report`'s
    p.set_defaults(func=run)


def run_demo(seed: int, voxels: int, channels: int, out: str, console=None) -> dict:
    """Run the demo pipeline; write ``summary.json`` under ``out``; return the summary."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t0 = time.perf_counter()
    spec = RoomSpec(seed=seed, target_voxels=voxels, voxel_size=DEFAULT_VOXEL_SIZE)
    with console.status("generating the scene"):
        cloud = generate_scene(spec)
        x = voxelize(cloud, spec.voxel_size)
    console.print(
        f"[bold]scene[/] room:{seed}: {len(cloud)} points -> {len(x)} voxels at "
        f"{spec.voxel_size:g} m (occupancy {100 * x.occupancy():.2f}% of the "
        f"bounding box)"
    )
    layers = [
        ConvSpec("submanifold", 3),
        ConvSpec("submanifold", 5),
        ConvSpec("strided", 2, 2),
        ConvSpec("strided", 3, 2),
        ConvSpec("transposed", 2, 2),
    ]
    table = Table(title=f"rulebooks and golden convolutions ({channels}->{channels} channels)")
    for col in (
        "layer",
        "inputs",
        "outputs",
        "pairs",
        "ARF",
        "rulebook ms",
        "float32 ms",
        "int8 ms",
        "MMAC",
    ):
        table.add_column(col, justify="right")
    rows = []
    for layer in layers:
        kmap, in_coords, _, _ = layer_maps(x.coords, layer)
        f, w, b = random_operands(len(in_coords), channels, channels, kmap.volume, seed=seed)
        t = time.perf_counter()
        sparse_conv(f, kmap, w, b)
        t_float = time.perf_counter() - t
        fi, wi, bi = random_operands(
            len(in_coords), channels, channels, kmap.volume, dtype="int8", seed=seed
        )
        t = time.perf_counter()
        acc = accumulate_int(fi, kmap, wi, bi)
        calibrate_requant(acc, relu=True).apply(acc)
        t_int = time.perf_counter() - t
        macs = kmap.n_pairs * channels * channels
        row = {**kmap.stats(), "float32_ms": 1e3 * t_float, "int8_ms": 1e3 * t_int, "macs": macs}
        row.pop("pairs_per_offset")
        rows.append(row)
        table.add_row(
            layer.describe(),
            str(row["voxels"]),
            str(row["outputs"]),
            str(row["pairs"]),
            f"{row['arf']:.2f}",
            f"{row['build_ms']:.1f}",
            f"{row['float32_ms']:.1f}",
            f"{row['int8_ms']:.1f}",
            f"{macs / 1e6:.1f}",
        )
    console.print(table)
    summary = {
        "scene": {
            "seed": seed,
            "points": len(cloud),
            "voxels": len(x),
            "voxel_size": spec.voxel_size,
            "occupancy": x.occupancy(),
        },
        "channels": channels,
        "layers": rows,
        "seconds": time.perf_counter() - t0,
    }
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "summary.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(to_jsonable(summary), fh, indent=2, sort_keys=True)
    console.print(f"summary written to {path} ({summary['seconds']:.1f} s)")
    return summary


def run(args) -> int:
    from rich.console import Console

    from ..report import build_report

    console = Console(stderr=True, log_path=False)
    t0 = time.perf_counter()
    run_demo(args.seed, args.voxels, args.channels, args.out)
    if args.no_report:
        return 0
    args.scene, args.voxel_size = f"room:{args.seed}:{args.voxels}", DEFAULT_VOXEL_SIZE
    opts = options_from_args(args)
    results, paths = build_report(opts, args.out, console=console)
    e2e = results["speedup"]["end_to_end"]
    cores = results["cpu"]["machine"]["cores"]
    print(
        f"report written to {paths['html']} (and report.md, results.json, figures/): "
        f"{results['network']['name']} on {opts.scene}, config {opts.config}: "
        f"{results['accelerator']['cycles']:,} cycles; sparse-conv speedup "
        f"{e2e['conv_speedup_best']:.2f}x, end to end {e2e['e2e_speedup_best']:.2f}x against "
        f"this {cores}-core CPU ({time.perf_counter() - t0:.0f} s in all)"
    )
    return 0
