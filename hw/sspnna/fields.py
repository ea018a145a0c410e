"""Owns the Amaranth views of instruction fields: layouts built from :data:`accss3d.isa.OPCODES`.

No bit position is restated here: every layout is derived from the ISA's field list, with
``_pad<lsb>`` members filling the gaps, so a change of the ISA changes the hardware.

Example::

    fields = Signal(op_layout(Op.LOAD))
    m.d.comb += fields.eq(instr.payload.bits)
    ... fields.rows, fields.ext_addr ...
"""

from __future__ import annotations

from functools import cache

from amaranth.lib import data

from accss3d.isa import INSTR_BITS, OPCODES, Op

__all__ = ["op_layout"]


@cache
def op_layout(op: Op) -> data.StructLayout:
    """The 128-bit ``data.StructLayout`` of one opcode's fields (header included).

    Members are named as in :data:`accss3d.isa.OPCODES` (``op``, ``wp``, ``wn``, ``sp``,
    ``sn``, ``sub``, then the opcode's fields); unused bits are ``_pad<lsb>`` members.

    Raises
    ------
    TypeError
        If ``op`` is not an :class:`accss3d.isa.Op`.
    """
    if not isinstance(op, Op):
        raise TypeError(f"Opcode must be an accss3d.isa.Op, not {op!r}")
    members: dict[str, int] = {}
    pos = 0
    for field in sorted(OPCODES[op].all_fields, key=lambda f: f.lsb):
        if field.lsb > pos:
            members[f"_pad{pos}"] = field.lsb - pos
        members[field.name] = field.width
        pos = field.lsb + field.width
    if pos < INSTR_BITS:
        members[f"_pad{pos}"] = INSTR_BITS - pos
    return data.StructLayout(members)
