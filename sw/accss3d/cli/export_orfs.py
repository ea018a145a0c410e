"""Owns ``accss3d export-orfs``: an OpenROAD-flow-scripts design directory for a config."""

from __future__ import annotations

from ..arch import get_config
from ._common import dump_json, positive_float

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "export-orfs",
        help="write an OpenROAD-flow-scripts design directory (config.mk, SDC, Verilog)",
        description="Write config.mk, constraint.sdc (at the config's clock), sspnna.v and "
        "macros.json to DIR; run it with make -C OpenROAD-flow-scripts/flow "
        "DESIGN_CONFIG=DIR/config.mk.",
    )
    p.add_argument("--config", default="default", help="named config or a .json file")
    p.add_argument(
        "--platform",
        required=True,
        help="ORFS platform: asap7, sky130hd, ihp-sg13g2 or nangate45",
    )
    p.add_argument(
        "--clock-mhz", type=positive_float, default=None, help="override the config's clock"
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..orfs import export_orfs

    cfg = get_config(args.config)
    if args.clock_mhz is not None:
        cfg = cfg.replace(clock_mhz=args.clock_mhz)
    files = export_orfs(cfg, args.platform, args.output)
    if args.json:
        dump_json({"config": cfg.name, "platform": args.platform, "files": sorted(files)})
    else:
        print(f"config {cfg.name}, platform {args.platform}: {len(files)} files -> {args.output}")
    return 0
