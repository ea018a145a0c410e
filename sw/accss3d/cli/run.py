"""Owns ``accss3d run``: execute a compiled program on the functional simulator."""

from __future__ import annotations

import os

import numpy as np

from ..arch import get_config
from ..funcsim import run_program
from ..program import load_program, program_path
from ._common import dump_json

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a compiled program on the functional simulator and check its outputs",
        description="Execute the program on its memory image (a compiled sequential engine, "
        "or numpy vectorized per instruction batch), write the output tensors (.npz) and "
        "check every tensor against the golden SHA-256 the compiler recorded. Exit status 1 "
        "when an output differs.",
    )
    p.add_argument("program", metavar="DIR|FILE", help="compiled directory or .sspn file")
    p.add_argument("--config", default=None, help="check the program against this config")
    p.add_argument("-o", "--output", default=None, help="outputs .npz (default DIR/outputs.npz)")
    p.add_argument("--all", action="store_true", help="write every tensor, not only outputs")
    p.add_argument("--no-race-check", action="store_true", help="skip the token/race checks")
    p.add_argument(
        "--engine",
        choices=("jit", "numpy"),
        default="jit",
        help="compiled sequential engine (default) or numpy vectorized per batch",
    )
    p.add_argument(
        "--reference", action="store_true", help="numpy, one instruction at a time (slow)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = get_config(args.config) if args.config else None
    prog = load_program(args.program, cfg)
    res = run_program(
        prog, check_races=not args.no_race_check, batch=not args.reference, engine=args.engine
    )
    names = list(res.outputs) if args.all else prog.manifest.get("outputs", [])
    out = args.output
    if out is None:
        path = program_path(args.program)
        out = os.path.join(os.path.dirname(os.path.abspath(path)), "outputs.npz")
    np.savez(out, **{n: res.outputs[n] for n in names})
    info = {
        "program": args.program,
        "match": res.all_match,
        "mismatches": sorted(n for n, ok in res.matches.items() if not ok),
        "tensors_checked": len(res.matches),
        "seconds": round(res.seconds, 3),
        "counters": res.counters,
        "outputs": out,
    }
    if args.json:
        dump_json(info)
    else:
        verdict = (
            "match the golden model"
            if res.all_match
            else (f"DIFFER from the golden model: {', '.join(info['mismatches'])}")
        )
        print(
            f"{prog.prog_len} instructions in {res.seconds:.2f} s: {len(res.matches)} tensors "
            f"{verdict}; {res.counters['macs']} MACs; outputs -> {out}"
        )
    return 0 if res.all_match else 1
