"""Owns ``accss3d disasm``: print a program (or a raw instruction stream) as assembly."""

from __future__ import annotations

from ..arch import get_config
from ..asm import disassemble
from ..isa import ISA_VERSION
from ..isatable import decode_table
from ..program import MAGIC, Program, program_path

__all__ = ["register", "manifest_summary"]


def register(sub) -> None:
    p = sub.add_parser(
        "disasm",
        help="disassemble a compiled program (DIR or .sspn) or raw instructions (.bin)",
        description="Print a program as assembly text that `accss3d asm` turns back into "
        "the same bytes; a program's manifest is summarized in leading comments.",
    )
    p.add_argument("program", metavar="DIR|FILE", help="compiled directory, .sspn or .bin")
    p.add_argument("--config", default=None, help="check the program against this config")
    p.add_argument("--no-pc", action="store_true", help="omit the '; @N' index comments")
    p.set_defaults(func=run)


def manifest_summary(prog: Program) -> list[str]:
    """Comment lines describing a program: size, config, memory, layers."""
    m = prog.manifest
    cfg = prog.cfg
    lines = [
        f"program: {prog.prog_len} instructions at 0x{prog.prog_addr:x}, ISA "
        f"{ISA_VERSION[0]}.{ISA_VERSION[1]}, config '{cfg.name}' ({cfg.digest()[:16]})",
        f"memory: {prog.mem_bytes} bytes (MEM_LIMIT), image {len(prog.image)} bytes at "
        f"0x{prog.image_base:x}",
    ]
    if m.get("network"):
        lines.append(f"network: {m['network']}, outputs: {', '.join(m.get('outputs', []))}")
    for layer in m.get("layers", []):
        pc = layer.get("pc", [0, 0])
        lines.append(
            f"layer {layer.get('name')}: {layer.get('conv')} {layer.get('cin')}->"
            f"{layer.get('cout')}, instructions {pc[0]}..{pc[1] - 1}, "
            f"{layer.get('schedule_text', '')}"
        )
    for name, t in sorted(m.get("tensors", {}).items()):
        lines.append(
            f"tensor {name}: {t['rows']} x {t['channels']} at 0x{t['addr']:x} "
            f"(row stride {t['row_stride']})"
        )
    return lines


def run(args) -> int:
    path = program_path(args.program)
    with open(path, "rb") as fh:
        data = fh.read()
    cfg = get_config(args.config) if args.config else None
    if data[: len(MAGIC)] == MAGIC:
        prog = Program.from_bytes(data, cfg)
        for line in manifest_summary(prog):
            print(f"; {line}")
        table = prog.code
    else:
        table = decode_table(data)
    print(disassemble(table, pc=not args.no_pc), end="")
    return 0
