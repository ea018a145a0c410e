"""Owns ``accss3d report``: the evaluation report of a scene on a configuration (HTML, MD, JSON)."""

from __future__ import annotations

import os

from ..errors import ConfigError
from ._common import add_scene_options, positive_float, positive_int

__all__ = ["register", "options_from_args"]


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="evaluation report: cycles, energy, area, reordering, speedup vs the CPU",
        description="Compile a network on the scene, run the cycle model, the energy model, "
        "the area (synthesis or analytic), the reordering methods and the CPU baseline "
        "measured in the same run; write report.html (self-contained), report.md, "
        "results.json and figures/ under DIR (docs/evaluation.md).",
    )
    add_scene_options(p)
    add_report_options(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.set_defaults(func=run)


def add_report_options(p, seed: bool = True) -> None:
    """The options ``accss3d report`` and ``accss3d demo`` share (``demo`` has its own
    ``--seed``)."""
    from ..network import network_names

    p.add_argument("--config", default="default", help="architecture config (name or .json)")
    p.add_argument(
        "--network",
        default="minkunet18",
        help=f"network ({', '.join(network_names())} or a .yaml/.json file; default minkunet18)",
    )
    if seed:
        p.add_argument("--seed", type=int, default=0, help="seed of weights and features")
    p.add_argument(
        "--area",
        choices=("auto", "run", "none"),
        default="auto",
        help="auto: a saved synthesis of this config, or synthesize small configs, else the "
        "analytic model; run: synthesize (Yosys, cached); none: analytic model only",
    )
    p.add_argument("--no-area", dest="area", action="store_const", const="none",
                   help="same as --area none")  # fmt: skip
    p.add_argument("--area-json", metavar="FILE", help="an `accss3d area --json` report to use")
    p.add_argument("--pdk", default="sg13g2", help="liberty of --area run (sg13g2, asap7, '')")
    p.add_argument(
        "--reorder-network",
        default="unet-small",
        help="network compiled once per reordering method ('none' to skip; default unet-small)",
    )
    p.add_argument("--repeats", type=positive_int, default=5, help="CPU timing: runs per median")
    p.add_argument(
        "--cpu-budget", type=positive_float, default=2.0, metavar="S",
        help="CPU timing: stop repeating a (layer, path) after S seconds (default 2)",
    )  # fmt: skip
    p.add_argument(
        "--threads", default=None, metavar="N,M",
        help="thread counts of the torch CPU path (default: 1 and os.cpu_count())",
    )  # fmt: skip
    p.add_argument(
        "--watts-per-core", type=positive_float, default=None,
        help="CPU package power per busy core (default: i7-8700K 95 W / 6 cores, an estimate)",
    )  # fmt: skip
    p.add_argument(
        "--rtl", metavar="LAYER", help="also run one layer (e.g. subm3:16:16) on the RTL"
    )
    p.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"))
    p.add_argument("--node-nm", type=positive_float, default=16.0, help="energy node (default 16)")


def options_from_args(args):
    """A :class:`accss3d.report.ReportOptions` from parsed arguments."""
    from ..report import ReportOptions

    threads = None
    if args.threads:
        try:
            threads = tuple(int(t) for t in args.threads.split(","))
        except ValueError:
            raise ConfigError(
                f"--threads: expected integers like 1,2, not {args.threads!r}"
            ) from None
        if any(t < 1 for t in threads):
            raise ConfigError(f"--threads: thread counts must be positive, not {args.threads}")
    reorder = None if args.reorder_network in ("", "none") else args.reorder_network
    return ReportOptions(
        scene=args.scene,
        config=args.config,
        network=args.network,
        voxel_size=args.voxel_size,
        seed=args.seed,
        area=args.area,
        area_json=args.area_json,
        pdk=args.pdk,
        reorder_network=reorder,
        cpu_repeats=args.repeats,
        cpu_budget_s=args.cpu_budget,
        cpu_threads=threads,
        watts_per_core=args.watts_per_core,
        rtl=args.rtl,
        rtl_simulator=args.simulator,
        node_nm=args.node_nm,
    )


def check_scene(scene: str) -> None:
    """One-line error for a scene file that does not exist (before any work starts)."""
    from ..scene import parse_scene_name

    if parse_scene_name(scene) is None and not os.path.exists(scene):
        raise ConfigError(f"no such scene: {scene} (a point-cloud file or room[:SEED[:SIZE]])")


def run(args) -> int:
    from rich.console import Console

    from ..network import get_network
    from ..report import build_report

    check_scene(args.scene)
    opts = options_from_args(args)
    get_network(opts.network)  # a bad network fails before the scene is built
    if opts.reorder_network:
        get_network(opts.reorder_network)
    console = Console(stderr=True, log_path=False)
    results, paths = build_report(opts, args.output, console=console)
    e2e = results["speedup"]["end_to_end"]
    print(
        f"report: {paths['html']} ({results['accelerator']['cycles']:,} cycles, "
        f"sparse-conv speedup {e2e['conv_speedup_best']:.2f}x, end to end "
        f"{e2e['e2e_speedup_best']:.2f}x; {results['cpu']['machine']['cores']} CPU cores)"
    )
    return 0
