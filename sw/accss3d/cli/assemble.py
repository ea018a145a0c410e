"""Owns ``accss3d asm``: assemble program text into an instruction stream or a program."""

from __future__ import annotations

import os

from ..arch import get_config
from ..asm import assemble_table
from ..errors import ConfigError
from ..isa import INSTR_BYTES
from ..isatable import encode_table
from ..program import Program
from ._common import positive_int

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "asm",
        help="assemble program text (.s) into instructions (.bin) or a program (.sspn)",
        description="Assemble SSpNNA assembly (docs/isa.md, 'Assembler syntax'). A .bin "
        "output is the raw instruction stream; a .sspn output is a program container with "
        "an empty memory image, validated against --config.",
    )
    p.add_argument("source", metavar="FILE.s", help="assembly text")
    p.add_argument("-o", "--output", required=True, help="output .bin or .sspn")
    p.add_argument("--config", default="default", help="config of a .sspn (default: default)")
    p.add_argument(
        "--mem-bytes",
        type=positive_int,
        default=None,
        metavar="N",
        help="external memory size of a .sspn (default: just the code)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    with open(args.source, encoding="utf-8") as fh:
        table = assemble_table(fh.read())
    out = args.output
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if out.endswith(".sspn"):
        cfg = get_config(args.config)
        code = len(table) * INSTR_BYTES
        mem = args.mem_bytes if args.mem_bytes is not None else code
        if mem < code:
            raise ConfigError(f"--mem-bytes {mem} is smaller than the {code}-byte code")
        prog = Program(cfg, table, b"", code, mem, {"format": "accss3d-program", "tensors": {}})
        data = prog.to_bytes()
        Program.from_bytes(data, cfg)  # validate: legality, tokens, HALT
    else:
        data = encode_table(table)
    with open(out, "wb") as fh:
        fh.write(data)
    print(f"{len(table)} instructions -> {out}")
    return 0
