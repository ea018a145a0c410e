"""Hypothesis strategies shared by the ISA tests: random legal encodings of instructions."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from accss3d.isa import OPCODES, Kind, Op, StoreMode
from accss3d.isatable import COL, empty_table

__all__ = ["instr_rows", "tables"]


@st.composite
def instr_rows(draw) -> np.ndarray:
    """One table row with a valid encoding (any field values, defined sub-opcode)."""
    op = draw(st.sampled_from(list(OPCODES)))
    row = empty_table(1)[0]
    row[COL["op"]] = int(op)
    for f in OPCODES[op].all_fields:
        if f.name in ("op", "sub"):
            continue
        row[COL[f.name]] = draw(st.integers(0, (1 << f.width) - 1))
    if op is Op.LOAD:
        row[COL["sub"]] = int(draw(st.sampled_from(list(Kind))))
    elif op is Op.STORE:
        row[COL["sub"]] = int(draw(st.sampled_from(list(StoreMode))))
    return row


def tables(max_size: int = 20):
    """Tables of 1..max_size valid encodings."""
    return st.lists(instr_rows(), min_size=1, max_size=max_size).map(np.array)
