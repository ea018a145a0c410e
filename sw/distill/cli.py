"""Owns the ``accss3d-distill`` command line (also ``python -m distill``).

Subcommands:

* ``run CONFIG [--out DIR] [--seeds S ...] [--parallel MODE] [--workers N] [--ray]
  [--address ADDR] [--data-dir DIR]``:
  train every condition and seed of one experiment (reusing cached checkpoints) and write its
  results;
* ``check CONFIG``: validate a config and print the runs it plans;
* ``list``: the registered models, augmentations and losses.

``CONFIG`` is a YAML/JSON file or a shipped profile name (``smoke``, ``quick``, ``full``).
User errors print one line, ``accss3d-distill: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from . import __version__
from .errors import DistillError

__all__ = ["main", "build_parser"]

PROG = "accss3d-distill"


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "seeds", None):
        out["seeds"] = args.seeds
    if getattr(args, "parallel", None):
        out["parallel"] = args.parallel
    if getattr(args, "ray", False) or getattr(args, "address", None):
        out["parallel"] = "ray"
    if getattr(args, "workers", None):
        out["workers"] = args.workers
    if getattr(args, "address", None):
        out["ray_address"] = args.address
    if getattr(args, "data_dir", None):
        out["data_dir"] = args.data_dir
    if getattr(args, "threads", None):
        out["threads"] = args.threads
    if getattr(args, "device", None):
        out["device"] = args.device
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .runner import run_experiment

    cfg = load_config(args.config, _overrides(args))
    start = time.perf_counter()
    outcome = run_experiment(cfg, args.out, show_progress=not args.quiet)
    wall = time.perf_counter() - start
    if not args.quiet:
        sys.stdout.write((outcome.out_dir / "table.md").read_text())
    sys.stdout.write(
        f"\n{outcome.trained} runs trained, {outcome.cached} cached, {wall:.1f} s; "
        f"results in {outcome.out_dir}\n"
    )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .config import load_config
    from .runner import plan_runs

    cfg = load_config(args.config, _overrides(args))
    runs = plan_runs(cfg)
    for spec in runs:
        sys.stdout.write(f"{spec.run_id}\n")
    sys.stdout.write(f"{cfg.name}: valid, {len(runs)} runs\n")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from .augment import AUGMENTATIONS
    from .losses import LOSSES
    from .models import MODELS

    for title, reg in (("models", MODELS), ("augmentations", AUGMENTATIONS), ("losses", LOSSES)):
        sys.stdout.write(f"{title}: {', '.join(reg.names())}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the ``accss3d-distill`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Data augmentation vs knowledge distillation (arXiv 2006.03810), end to end.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="train and evaluate every condition and seed of a config")
    check = sub.add_parser("check", help="validate a config and list its runs")
    for p in (run, check):
        p.add_argument("config", help="YAML/JSON config file, or smoke | quick | full")
        p.add_argument("--seeds", type=int, nargs="+", metavar="S", help="override the seeds")
        p.add_argument("--data-dir", help="directory holding the dataset files")
        p.add_argument("--ray", action="store_true", help="run conditions and seeds as Ray tasks")
        p.add_argument("--address", help="Ray cluster address (implies --ray)")
        p.add_argument("--threads", type=int, help="torch threads per run (sequential runs)")
        p.add_argument(
            "--parallel",
            choices=("none", "processes", "ray"),
            help="run in this process, in local worker processes, or as Ray tasks",
        )
        p.add_argument("--workers", type=int, help="worker processes (or local Ray CPUs)")
        p.add_argument(
            "--device",
            choices=("cpu", "cuda"),
            help="where the networks train (default: the config's, cpu)",
        )
    run.add_argument("--out", help="output directory (default build/distill/<config name>)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no table")
    run.set_defaults(func=_cmd_run)
    check.set_defaults(func=_cmd_check)
    lst = sub.add_parser("list", help="registered models, augmentations and losses")
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
    except DistillError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"{PROG}: error: no such file: {exc.filename}", file=sys.stderr)
        return 2
    except (IsADirectoryError, PermissionError) as exc:
        print(f"{PROG}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
