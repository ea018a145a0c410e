"""Owns the text form of SSpNNA programs: the assembler and the disassembler.

One instruction per line: the mnemonic (``LOAD.IFM``, ``STORE.REQUANT``, ``COMPUTE``...),
then ``field=value`` for every multi-bit field (decimal or ``0x`` hex), then the names of
the 1-bit fields that are set (``relu``, ``use_first``, and the token bits ``wp wn sp sn``)::

    LOAD.IFM l1_addr=0 rows=12 ext_addr=0x1000 row_bytes=32 ext_stride=32 l1_stride=2 sn
    FILL ofm_row=0 rows=4 wp

``;`` or ``#`` start a comment; blank lines are ignored; omitted fields are 0.  The
disassembler writes every multi-bit field (zeros included) in the order of
:data:`accss3d.isa.OPCODES`, so text -> bytes -> text and bytes -> text -> bytes are exact.
Mnemonics and field names come from :mod:`accss3d.isa`; nothing is restated here.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import ProgramError
from .isa import OPCODES, Kind, Op, StoreMode
from .isatable import COL, COLUMNS, decode_table, empty_table, encode_table, mnemonic

__all__ = ["assemble", "assemble_table", "disassemble", "format_instr", "MNEMONICS"]

_SUBS = {Op.LOAD: Kind, Op.STORE: StoreMode}
_TOKENS = ("wp", "wn", "sp", "sn")


def _mnemonics() -> dict[str, tuple[Op, int]]:
    out = {}
    for op in OPCODES:
        if op in _SUBS:
            for sub in _SUBS[op]:
                out[f"{op.name}.{sub.name}"] = (op, int(sub))
        else:
            out[op.name] = (op, 0)
    return out


#: Every mnemonic and the ``(opcode, sub)`` it stands for.
MNEMONICS = _mnemonics()
_NUMBER = re.compile(r"^(0x[0-9a-f]+|0b[01]+|[0-9]+)$", re.IGNORECASE)


def format_instr(row) -> str:
    """The text of one instruction (a table row)."""
    row = [int(v) for v in row]
    op = Op(row[COL["op"]])
    parts = [mnemonic(op, row[COL["sub"]])]
    flags = []
    for f in OPCODES[op].fields:
        value = row[COL[f.name]]
        if f.width == 1:
            if value:
                flags.append(f.name)
        elif f.name == "ext_addr":
            parts.append(f"{f.name}=0x{value:x}")
        else:
            parts.append(f"{f.name}={value}")
    parts += flags + [t for t in _TOKENS if row[COL[t]]]
    return " ".join(parts)


def disassemble(code, *, pc: bool = True) -> str:
    """Text of an instruction stream (bytes) or table; ``pc`` adds ``; @N`` comments."""
    table = code if isinstance(code, np.ndarray) and code.ndim == 2 else decode_table(code)
    lines = []
    width = len(str(max(len(table) - 1, 0)))
    for i, row in enumerate(table.tolist()):
        text = format_instr(row)
        lines.append(f"{text:<90} ; @{i:>{width}}" if pc else text)
    return "\n".join(lines) + ("\n" if lines else "")


def _value(token: str, lineno: int) -> int:
    if not _NUMBER.match(token):
        raise ProgramError(f"line {lineno}: {token!r} is not a non-negative integer")
    return int(token, 0)


def assemble_table(text: str) -> np.ndarray:
    """Assemble program text into an instruction table.

    Raises
    ------
    ProgramError
        ``line N: ...`` for an unknown mnemonic or field, a repeated field, a value that
        does not fit its field.
    """
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = re.split(r"[;#]", line, maxsplit=1)[0].strip()
        if not line:
            continue
        words = line.split()
        head = words[0].upper()
        if head not in MNEMONICS:
            if head in ("LOAD", "STORE"):
                subs = ", ".join(f"{head}.{s.name}" for s in _SUBS[Op[head]])
                raise ProgramError(f"line {lineno}: {head} needs a sub-opcode ({subs})")
            raise ProgramError(f"line {lineno}: unknown mnemonic {words[0]!r}")
        op, sub = MNEMONICS[head]
        spec = OPCODES[op]
        widths = {f.name: f.width for f in spec.all_fields if f.name not in ("op", "sub")}
        row = empty_table(1)[0]
        row[COL["op"]], row[COL["sub"]] = int(op), sub
        seen = set()
        for word in words[1:]:
            name, eq, raw = word.partition("=")
            name = name.lower()
            if name not in widths:
                raise ProgramError(f"line {lineno}: {head} has no field {name!r}")
            if name in seen:
                raise ProgramError(f"line {lineno}: field {name!r} given twice")
            seen.add(name)
            if not eq:
                if widths[name] != 1:
                    raise ProgramError(f"line {lineno}: field {name!r} needs a value ({name}=N)")
                value = 1
            else:
                value = _value(raw, lineno)
            if value >= 1 << widths[name]:
                raise ProgramError(
                    f"line {lineno}: {head} {name}={value} does not fit in {widths[name]} bits"
                )
            row[COL[name]] = value
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(-1, len(COLUMNS))


def assemble(text: str) -> bytes:
    """Assemble program text into the instruction stream (16 bytes per instruction)."""
    return encode_table(assemble_table(text))
