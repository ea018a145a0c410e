"""Owns ``accss3d network``: list the networks, or tabulate one network's layers on a scene."""

from __future__ import annotations

import time

from ..errors import ConfigError
from ..network import NETWORKS, CoordinateManager, get_network, network_names
from ..scene import load_scene
from ..voxel import voxelize
from ._common import dump_json, positive_float

__all__ = ["register", "plan_network", "console"]


def register(sub) -> None:
    p = sub.add_parser(
        "network",
        help="list the networks, or a network's per-layer table on a scene",
        description="Without SCENE: the layers of a network (or --list the networks). With "
        "SCENE: every layer bound to the scene - voxels, outputs, pairs, ARF, MACs - with the "
        "coordinates of each stride level and each kernel map built once.",
    )
    p.add_argument(
        "scene",
        metavar="SCENE",
        nargs="?",
        help="point cloud file or generated scene 'room:SEED[:SIZE]' (optional)",
    )
    p.add_argument(
        "--voxel-size",
        type=positive_float,
        default=None,
        metavar="V",
        help="voxel edge (default 0.05 for generated rooms; required for files)",
    )
    p.add_argument(
        "--name",
        default="minkunet18",
        help="network name or a .yaml/.json file (default minkunet18)",
    )
    p.add_argument("--list", action="store_true", help="list the built-in networks")
    p.add_argument("--json", action="store_true", help="print figures as JSON")
    p.set_defaults(func=run)


def plan_network(scene: str, voxel_size: float | None, name: str):
    """``(network, plans, info)``: a network bound to a scene, and the scene's figures."""
    net = get_network(name)
    cloud, v = load_scene(scene, voxel_size)
    x = voxelize(cloud, v)
    t0 = time.perf_counter()
    cm = CoordinateManager(x.coords)
    plans = cm.plan(net)
    info = {
        "network": net.name,
        "scene": scene,
        "voxel_size": v,
        "voxels": len(x),
        "kernel_maps": len({id(p.kmap) for p in plans}),
        "plan_ms": 1e3 * (time.perf_counter() - t0),
    }
    return net, plans, info


def _layers_only(net) -> list[dict]:
    return [
        {
            "layer": layer.name,
            "conv": layer.conv.describe(),
            "inputs": list(layer.inputs),
            "cin": net.cin(layer),
            "cout": layer.cout,
            "residual": list(layer.residual),
            "in_stride": net.in_stride(layer),
            "out_stride": net.out_stride(layer),
            "relu": layer.relu,
        }
        for layer in net.layers
    ]


def run(args) -> int:
    if args.list:
        rows = [
            {"name": n, "layers": len(NETWORKS[n].layers), "description": NETWORKS[n].description}
            for n in network_names()
        ]
        if args.json:
            dump_json({"networks": rows})
        else:
            for r in rows:
                print(f"{r['name']:<12} {r['layers']:3d} layers  {r['description']}")
        return 0
    if args.scene is None:
        if args.voxel_size is not None:
            raise ConfigError("--voxel-size needs a SCENE")
        net = get_network(args.name)
        rows = _layers_only(net)
        if args.json:
            dump_json({"network": net.name, "in_channels": net.in_channels, "layers": rows})
        else:
            _print_layers(net, rows)
        return 0
    net, plans, info = plan_network(args.scene, args.voxel_size, args.name)
    rows = [p.row() for p in plans]
    totals = {
        "layers": len(rows),
        "pairs": sum(r["pairs"] for r in rows),
        "macs": sum(r["macs"] for r in rows),
    }
    if args.json:
        dump_json({**info, "layers": rows, "totals": totals})
    else:
        _print_table(info, rows, totals)
    return 0


def _print_layers(net, rows) -> None:
    from rich.table import Table

    table = Table(title=f"{net.name}: {len(rows)} layers, {net.in_channels} input channels")
    for col in ("layer", "conv", "inputs", "cin", "cout", "stride", "residual"):
        table.add_column(col, justify="right" if col in ("cin", "cout") else "left")
    for r in rows:
        table.add_row(
            r["layer"],
            r["conv"],
            "+".join(r["inputs"]),
            str(r["cin"]),
            str(r["cout"]),
            f"{r['in_stride']}->{r['out_stride']}",
            "+".join(r["residual"]),
        )
    console().print(table)


def _print_table(info, rows, totals) -> None:
    from rich.table import Table

    table = Table(
        title=f"{info['network']} on {info['scene']} at {info['voxel_size']:g}: "
        f"{info['voxels']} voxels, {info['kernel_maps']} kernel maps "
        f"(planned in {info['plan_ms']:.0f} ms)"
    )
    cols = ("layer", "conv", "cin", "cout", "stride", "voxels", "outputs", "pairs", "ARF", "MACs")
    for col in cols:
        table.add_column(col, justify="left" if col in ("layer", "conv") else "right")
    for r in rows:
        table.add_row(
            r["layer"],
            r["conv"],
            str(r["cin"]),
            str(r["cout"]),
            f"{r['in_stride']}->{r['out_stride']}",
            str(r["voxels"]),
            str(r["outputs"]),
            str(r["pairs"]),
            f"{r['arf']:.2f}",
            f"{r['macs'] / 1e6:.1f}M",
        )
    table.add_row(
        "total", "", "", "", "", "", "", str(totals["pairs"]), "", f"{totals['macs'] / 1e6:.1f}M"
    )
    console().print(table)


def console():
    """A rich console, 140 columns wide when the output is not a terminal."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=140)
