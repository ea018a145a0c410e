"""Owns ``accss3d sweep``: a design-space sweep from a space file, as Ray tasks or in-process."""

from __future__ import annotations

import os
import sys

from ._common import positive_int

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="design-space sweep: cycle model (+ energy, area) per config point, on Ray",
        description="Run every point of a space file (lists of ArchConfig values; a scene and "
        "a network or layer) as a Ray task - locally, or on an existing cluster with "
        "--address - and write results.json, results.csv and a Pareto plot (area vs cycles "
        "vs energy) under the output directory.  Points already done there are skipped; "
        "invalid or failing points are reported in the table (docs/evaluation.md).",
    )
    p.add_argument("--space", required=True, metavar="FILE", help="space file (.yaml or .json)")
    p.add_argument(
        "--address", default=None, help="Ray cluster address (HOST:PORT, ray://..., auto)"
    )
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="output directory (default build/sweep/<space name>)")  # fmt: skip
    p.add_argument("--num-cpus", type=positive_int, default=None, help="CPUs of a local Ray")
    p.add_argument("--serial", action="store_true", help="run the points in this process (no Ray)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..sweep import load_space, run_sweep
    from ._common import dump_json

    space = load_space(args.space)
    out = args.output or os.path.join("build", "sweep", space.name)
    console = Console(stderr=True, log_path=False)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                   console=console, transient=True)  # fmt: skip
    task = bar.add_task(f"sweep {space.name}", total=len(space.values()))

    def progress(done, total, row):
        bar.update(task, completed=done)
        if row["status"] != "ok":
            console.log(f"point {row['values']}: {row['status']}: {row['error']}")

    with bar:
        executor = "serial" if args.serial else "ray"
        res = run_sweep(
            space, out, executor=executor, address=args.address, num_cpus=args.num_cpus,
            progress=progress,
        )  # fmt: skip
    if args.json:
        dump_json(res.rows)
    else:
        print(
            f"sweep {space.name}: {len(res.rows)} points ({res.ran} run, {res.skipped} already "
            f"done, {res.failed} failed, {res.invalid} invalid) -> {res.paths['csv']}",
            file=sys.stdout,
        )
    return 0
