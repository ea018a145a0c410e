"""Owns ``accss3d generate``: Verilog of the core, its config, its C header, lint."""

from __future__ import annotations

from ..arch import get_config
from ..errors import AccssError
from ._common import dump_json

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate the core's Verilog, config JSON and C header",
        description="Write sspnna.v (top with flat AXI4-Lite/AXI4 ports), config.json, "
        "sspnna.h (register offsets and ISA constants) and manifest.json to DIR; the same "
        "config gives byte-identical files.",
    )
    p.add_argument("--config", default="default", help="named config or a .json file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument("--blocks", action="store_true", help="also write each block's Verilog")
    p.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from sspnna.generate import generate, lint

    cfg = get_config(args.config)
    digests = generate(cfg, args.output, blocks=args.blocks)
    info = {"config": cfg.name, "output": args.output, "files": digests}
    if args.lint:
        ok, messages = lint(f"{args.output}/sspnna.v")
        info["lint"] = "clean" if ok else "failed"
        if not ok:
            raise AccssError("verilator lint failed: " + messages.splitlines()[0])
    if args.json:
        dump_json(info)
    else:
        print(
            f"config {cfg.name}: {len(digests)} files -> {args.output}"
            + (" (lint clean)" if args.lint else "")
        )
    return 0
