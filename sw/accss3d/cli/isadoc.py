"""Owns ``accss3d isa-doc``: write the ISA reference page generated from accss3d.isa."""

from __future__ import annotations

import os

from ..isadoc import isa_markdown

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "isa-doc",
        help="write the ISA reference (docs/isa.md) generated from accss3d.isa",
        description="Generate the ISA reference page (opcodes, fields, sub-opcodes, rulebook "
        "entry, error codes, CSRs) from sw/accss3d/isa.py.",
    )
    p.add_argument("-o", "--output", default=None, help="output file (default: stdout)")
    p.set_defaults(func=run)


def run(args) -> int:
    text = isa_markdown()
    if args.output is None:
        print(text, end="")
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(text)
    return 0
