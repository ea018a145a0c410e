"""Owns ``accss3d simulate``: run a compiled program on the RTL (Verilator or Icarus)."""

from __future__ import annotations

from ..program import load_program
from ._common import dump_json

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="run a compiled program on the generated Verilog",
        description="Build the core for the program's config (cached), preload the memory "
        "image into the Verilog memory model, run it under cocotb and print JSON: cycles, "
        "utilization, the counters, and whether every output matches the functional model "
        "and the golden model bit for bit.",
    )
    p.add_argument("program", metavar="DIR", help="a compiled directory or a .sspn file")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--latency", type=int, default=8, help="memory latency, cycles (default 8)")
    p.add_argument(
        "--stall",
        type=int,
        default=0,
        metavar="PCT",
        help="percentage of cycles each AXI channel stalls (default 0)",
    )
    p.add_argument("--seed", type=int, default=1, help="stall generator seed")
    p.add_argument(
        "--reset-at",
        type=int,
        default=0,
        metavar="CYCLES",
        help="reset the core this many cycles into the run, then restart it",
    )
    p.add_argument("--watchdog", type=int, default=0, help="WATCHDOG register (0: off)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError
    from ..rtlsim import simulate

    if args.latency < 2 or args.latency > 1000:
        raise ConfigError(f"--latency must be in [2, 1000], not {args.latency}")
    if not 0 <= args.stall <= 90:
        raise ConfigError(f"--stall must be a percentage in [0, 90], not {args.stall}")
    program = load_program(args.program)
    report = simulate(
        program,
        simulator=args.simulator,
        latency=args.latency,
        stall_pct=args.stall,
        seed=max(args.seed, 1),
        reset_at=args.reset_at,
        watchdog=args.watchdog,
    )
    dump_json(report)
    return 0 if report["match"] else 1
