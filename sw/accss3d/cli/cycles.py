"""Owns ``accss3d cycles``: the cycle model of a compiled program."""

from __future__ import annotations

import json

import numpy as np

from ..arch import get_config
from ..cyclemodel import Timing, simulate
from ..isatable import COL
from ..program import load_program
from ._common import dump_json

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "cycles",
        help="cycle-model a compiled program (cycles, utilization, counters)",
        description="Run the instruction-level cycle model (docs/compiler.md, 'Cycle model') "
        "and report cycles, PE utilization, the performance counters, bytes moved per bank "
        "kind, engine busy cycles and per-layer cycles.",
    )
    p.add_argument("program", metavar="DIR|FILE", help="compiled directory or .sspn file")
    p.add_argument("--config", default=None, help="check the program against this config")
    p.add_argument("--latency", type=int, default=None, help="memory latency in cycles")
    p.add_argument("--timing", metavar="FILE.json", help="Timing constants (JSON object)")
    p.add_argument("--trace", metavar="FILE.csv", help="per-instruction trace")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--engine",
        choices=("jit", "python"),
        default="jit",
        help="compiled engine (default) or the Python reference (same report, slow)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = get_config(args.config) if args.config else None
    prog = load_program(args.program, cfg)
    values = {}
    if args.timing:
        with open(args.timing, encoding="utf-8") as fh:
            values = json.load(fh)
    if args.latency is not None:
        values["mem_latency"] = args.latency
    timing = Timing.from_dict(values)
    rep = simulate(
        prog.code,
        prog.cfg,
        timing,
        trace=bool(args.trace),
        layers=prog.manifest.get("layers"),
        engine=args.engine,
    )
    if args.trace:
        pcs = np.arange(len(rep.trace))
        ops = prog.code[: len(rep.trace), COL["op"]]
        table = np.column_stack([pcs, ops, rep.trace])
        np.savetxt(
            args.trace,
            table,
            fmt="%d",
            delimiter=",",
            header="pc,opcode,dispatch,accept,start,done",
            comments="",
        )
    info = {**rep.to_dict(), "timing": timing.__dict__}
    if args.json:
        dump_json(info)
    else:
        c = rep.counters
        print(
            f"{c['cycles']} cycles, PE utilization {rep.utilization:.3f}, {c['macs']} MACs, "
            f"mem stall {c['mem_stall']}, read {c['rd_bytes']} B, wrote {c['wr_bytes']} B "
            f"({rep.seconds:.2f} s)"
        )
    return 0
