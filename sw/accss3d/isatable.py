"""Owns instruction tables: the ISA in bulk (encode, decode, legality, tokens) with numpy.

A *table* is an ``(n, len(COLUMNS))`` int64 array, one row per instruction and one column
per field name of :mod:`accss3d.isa` (the union over all opcodes; a field an opcode lacks
is 0).  The compiler builds tables, the loader, the functional and cycle models read them;
all conversions go through the bit positions of :data:`accss3d.isa.OPCODES`, so nothing
here restates a width or a position.

* :func:`encode_table` / :func:`decode_table`: tables <-> 16-byte little-endian words,
  byte-identical to :func:`accss3d.isa.encode` / :func:`accss3d.isa.decode` (the first
  illegal encoding raises the same one-line :class:`~accss3d.errors.ProgramError`).
* :func:`check_legal`: docs/architecture.md "Legality" against a config and ``MEM_LIMIT``
  (every check that does not need the rulebook entries read at run time), in the order
  the hardware decoder applies them; the first illegal instruction raises a one-line
  error naming the instruction, the reason and the :class:`~accss3d.isa.ErrorCode`.
* :func:`check_tokens`: token consistency in program order (every wait finds a token an
  earlier instruction signalled; at most :data:`MAX_OUTSTANDING_TOKENS` outstanding).

# Ref: docs/architecture.md, "Instructions and engines", "Legality".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from .arch import ArchConfig
from .errors import ProgramError
from .isa import (
    HEADER_FIELDS,
    INSTR_BYTES,
    OPCODES,
    Engine,
    Instr,
    Kind,
    Op,
    StoreMode,
    decode,
)

__all__ = [
    "COLUMNS",
    "COL",
    "KIND_L1",
    "DIRECTIONS",
    "MAX_OUTSTANDING_TOKENS",
    "empty_table",
    "table_from_instrs",
    "instrs_from_table",
    "encode_table",
    "decode_table",
    "engine_of",
    "check_legal",
    "check_tokens",
    "program_end",
    "mnemonic",
]


def _columns() -> tuple[str, ...]:
    names: list[str] = []
    for f in HEADER_FIELDS:
        names.append(f.name)
    for spec in OPCODES.values():
        for f in spec.fields:
            if f.name not in names:
                names.append(f.name)
    return tuple(names)


#: Column names of a table: ``op``, the header fields, then every opcode field once.
COLUMNS: tuple[str, ...] = _columns()
#: Column index of each name.
COL: dict[str, int] = {name: i for i, name in enumerate(COLUMNS)}

#: L1 bank kind (``ArchConfig.word_bytes`` name) written by each LOAD sub-opcode.
KIND_L1 = {Kind.IFM: "ifm", Kind.WGT: "wgt", Kind.RBK: "rbk", Kind.PSUM: "ofm", Kind.BIAS: "bias"}

#: Token directions ``(name, producer engine, producer bit, consumer engine, consumer bit)``.
DIRECTIONS = (
    ("load->compute", Engine.LOAD, "sn", Engine.COMPUTE, "wp"),
    ("compute->load", Engine.COMPUTE, "sp", Engine.LOAD, "wn"),
    ("compute->store", Engine.COMPUTE, "sn", Engine.STORE, "wp"),
    ("store->compute", Engine.STORE, "sp", Engine.COMPUTE, "wn"),
)

#: Tokens one direction may hold in program order (the hardware counters are 16 bits; with
#: the queued instructions on top, decoupled execution stays below 2**16).
MAX_OUTSTANDING_TOKENS = 1 << 15

_ENGINE_LUT = np.full(256, -1, dtype=np.int64)
for _op, _spec in OPCODES.items():
    _ENGINE_LUT[int(_op)] = int(_spec.engine)


def empty_table(n: int) -> np.ndarray:
    """A zeroed table of ``n`` instructions."""
    return np.zeros((n, len(COLUMNS)), dtype=np.int64)


def table_from_instrs(instrs) -> np.ndarray:
    """A table from :class:`accss3d.isa.Instr` objects."""
    instrs = list(instrs)
    table = empty_table(len(instrs))
    for row, ins in enumerate(instrs):
        table[row, COL["op"]] = int(ins.op)
        for name, value in ins.values:
            table[row, COL[name]] = value
    return table


def instrs_from_table(table: np.ndarray) -> list[Instr]:
    """:class:`accss3d.isa.Instr` objects from a table (fields the opcode lacks dropped)."""
    out = []
    for row in np.asarray(table).tolist():
        op = Op(row[COL["op"]])
        names = [f.name for f in OPCODES[op].all_fields if f.name != "op"]
        out.append(Instr(op, tuple((n, int(row[COL[n]])) for n in names)))
    return out


def engine_of(table: np.ndarray) -> np.ndarray:
    """Engine (:class:`accss3d.isa.Engine` value) of every instruction."""
    return _ENGINE_LUT[np.asarray(table)[:, COL["op"]]]


# --------------------------------------------------------------------------- bits
def _split_words(data) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else data, np.uint8)
    words = raw.view("<u8").reshape(-1, 2)
    return words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)


def _used_masks(op: Op) -> tuple[int, int]:
    mask = 0
    for f in OPCODES[op].all_fields:
        mask |= ((1 << f.width) - 1) << f.lsb
    return mask & ((1 << 64) - 1), mask >> 64


def _field_layout() -> tuple[np.ndarray, np.ndarray]:
    """Per opcode value: the (column, lsb, width) of its fields (header first), -1 padded;
    and the number of fields (-1: not an opcode)."""
    most = max(len(spec.all_fields) for spec in OPCODES.values())
    layout = np.full((256, most, 3), -1, dtype=np.int64)
    count = np.full(256, -1, dtype=np.int64)
    for op, spec in OPCODES.items():
        count[int(op)] = len(spec.all_fields)
        for j, f in enumerate(spec.all_fields):
            layout[int(op), j] = (COL[f.name], f.lsb, f.width)
    return layout, count


_LAYOUT, _NFIELDS = _field_layout()


@njit(cache=True)
def _encode(table, layout, count, out, first_bad):  # pragma: no cover - compiled
    """Encode every row into ``out`` (n, 2) uint64; the first row of each (opcode, field)
    whose value does not fit into ``first_bad``; returns the first unknown opcode's row."""
    unknown = -1
    for i in range(table.shape[0]):
        op = table[i, 0]
        if op < 0 or op > 255 or count[op] < 0:
            if unknown < 0:
                unknown = i
            continue
        lo = np.uint64(0)
        hi = np.uint64(0)
        for j in range(count[op]):
            v = table[i, layout[op, j, 0]]
            lsb, width = layout[op, j, 1], layout[op, j, 2]
            if v < 0 or v >= np.int64(1) << width:
                if first_bad[op, j] < 0:
                    first_bad[op, j] = i
                continue
            u = np.uint64(v)
            if lsb >= 64:
                hi |= u << np.uint64(lsb - 64)
            else:
                lo |= u << np.uint64(lsb)
                if lsb + width > 64:
                    hi |= u >> np.uint64(64 - lsb)
        out[i, 0] = lo
        out[i, 1] = hi
    return unknown


def encode_table(table: np.ndarray) -> bytes:
    """The little-endian bytes of every instruction of a table (``16 * n`` bytes).

    Raises
    ------
    ProgramError
        For an unknown opcode (its first row), else for the first field value that does
        not fit its width (opcodes in :data:`~accss3d.isa.OPCODES` order, fields in order,
        the first row of each).
    """
    table = np.ascontiguousarray(table, dtype=np.int64)
    assert COL["op"] == 0
    out = np.zeros((len(table), 2), dtype="<u8")
    first_bad = np.full(_NFIELDS.shape + (_LAYOUT.shape[1],), -1, dtype=np.int64)
    unknown = _encode(table, _LAYOUT, _NFIELDS, out, first_bad)
    if unknown >= 0:
        code = int(table[unknown, COL["op"]]) & 0xFF
        raise ProgramError(f"instruction {unknown}: unknown opcode 0x{code:02x}")
    for op, spec in OPCODES.items():
        for j, f in enumerate(spec.all_fields):
            row = int(first_bad[int(op), j])
            if row >= 0:
                raise ProgramError(
                    f"instruction {row}: {op.name}.{f.name} = {int(table[row, COL[f.name]])} "
                    f"does not fit in {f.width} bits"
                )
    return out.tobytes()


def _decode_masks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per opcode value: the bits its fields use (low, high 64) and the valid sub-opcodes."""
    used = np.zeros((256, 2), dtype=np.uint64)
    subs = np.zeros((256, 16), dtype=np.bool_)
    for op in OPCODES:
        mlo, mhi = _used_masks(op)
        used[int(op)] = (mlo, mhi)
        valid = (
            [int(k) for k in Kind]
            if op is Op.LOAD
            else [int(m) for m in StoreMode]
            if op is Op.STORE
            else [0]
        )
        subs[int(op), valid] = True
    return used, subs, np.array([COL["sub"]], dtype=np.int64)


_USED, _SUBS, _SUB_COL = _decode_masks()


@njit(cache=True)
def _decode(lo, hi, layout, count, used, subs, sub_col, table):  # pragma: no cover - compiled
    """Fill ``table`` from the words; returns the first illegal row (-1: none)."""
    first_bad = -1
    for i in range(lo.shape[0]):
        op = np.int64(lo[i] & np.uint64(0xFF))
        table[i, 0] = op
        if count[op] < 0:
            if first_bad < 0:
                first_bad = i
            continue
        if (lo[i] & ~used[op, 0]) != 0 or (hi[i] & ~used[op, 1]) != 0:
            if first_bad < 0:
                first_bad = i
        for j in range(1, count[op]):
            lsb, width = layout[op, j, 1], layout[op, j, 2]
            mask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)
            if lsb >= 64:
                v = (hi[i] >> np.uint64(lsb - 64)) & mask
            else:
                v = lo[i] >> np.uint64(lsb)
                if lsb + width > 64:
                    v |= hi[i] << np.uint64(64 - lsb)
                v &= mask
            table[i, layout[op, j, 0]] = np.int64(v)
        if not subs[op, table[i, sub_col[0]]] and first_bad < 0:
            first_bad = i
    return first_bad


def decode_table(data) -> np.ndarray:
    """Decode an instruction stream (a multiple of 16 bytes) into a table (one compiled pass).

    Raises
    ------
    ProgramError
        The message :func:`accss3d.isa.decode` gives for the first illegal instruction
        (unknown opcode, reserved bits set, undefined sub-opcode), or for a length that is
        not a multiple of 16 bytes.
    """
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data, dtype=np.uint8).tobytes()
    if len(data) % INSTR_BYTES:
        raise ProgramError(
            f"instruction stream of {len(data)} bytes is not a multiple of {INSTR_BYTES}"
        )
    lo, hi = _split_words(data)
    table = empty_table(len(lo))
    assert COL["op"] == 0 and HEADER_FIELDS[0].name == "op"
    row = _decode(lo, hi, _LAYOUT, _NFIELDS, _USED, _SUBS, _SUB_COL, table)
    if row >= 0:
        decode(data[row * INSTR_BYTES : (row + 1) * INSTR_BYTES], row)  # raises the message
        raise AssertionError("decode_table and isa.decode disagree")  # pragma: no cover
    return table


def mnemonic(op: int, sub: int) -> str:
    """``LOAD.IFM``, ``STORE.RAW``, ``COMPUTE``... for an opcode and sub-opcode."""
    op = Op(op)
    if op is Op.LOAD:
        return f"LOAD.{Kind(sub).name}"
    if op is Op.STORE:
        return f"STORE.{StoreMode(sub).name}"
    return op.name


# --------------------------------------------------------------------------- legality
@dataclass(frozen=True)
class _Rule:
    """One legality check: rows of ``ops`` where ``test`` is True are illegal."""

    ops: tuple[Op, ...]
    code: str
    test: Callable[[dict, ArchConfig, int], np.ndarray]
    message: Callable[[dict, ArchConfig, int], str]


def _kind_words(cfg: ArchConfig, sub) -> np.ndarray:
    """Total words of the L1 kind a LOAD of kind ``sub`` writes (BIAS: 1)."""
    lut = np.array([cfg.words(KIND_L1[k]) if KIND_L1[k] != "bias" else 1 for k in Kind])
    return lut[np.asarray(sub, dtype=np.int64)]


def _kind_align(cfg: ArchConfig, sub) -> np.ndarray:
    """Physical-row alignment (in words) of LOAD ``l1_addr``/``l1_stride`` per kind."""
    lut = np.array(
        [
            max(1, cfg.bus_bytes // cfg.word_bytes(KIND_L1[k])) if KIND_L1[k] != "bias" else 1
            for k in Kind
        ]
    )
    return lut[np.asarray(sub, dtype=np.int64)]


def _load_word(c, cfg):
    """Bytes of the L1 word each LOAD writes (BIAS: one accumulator row)."""
    word = np.array(
        [
            cfg.pe_cols * cfg.acc_bits // 8 if k is Kind.BIAS else cfg.word_bytes(KIND_L1[k])
            for k in Kind
        ]
    )
    return word[np.asarray(c["sub"], dtype=np.int64)]


def _load_last_word(c, cfg):
    word = _load_word(c, cfg)
    return c["l1_addr"] + (c["rows"] - 1) * c["l1_stride"] + (c["row_bytes"] + word - 1) // word


def _store_row_bytes(c, cfg):
    per = np.where(c["sub"] == int(StoreMode.RAW), cfg.acc_bits // 8, cfg.act_bits // 8)
    return c["channels"] * per


def _ext_end(c, row_bytes):
    return c["ext_addr"] + np.maximum(c["rows"] - 1, 0) * c["ext_stride"] + row_bytes


def _not_bias(c):
    return c["sub"] != int(Kind.BIAS)


def _rules() -> tuple[_Rule, ...]:
    L, C, S, F, CF = Op.LOAD, Op.COMPUTE, Op.STORE, Op.FILL, Op.CONFIG
    B = "BAD_FIELD"
    return (
        _Rule(
            (L,),
            B,
            lambda c, g, m: (c["rows"] == 0) | (c["row_bytes"] == 0),
            lambda c, g, m: f"rows = {c['rows']}, row_bytes = {c['row_bytes']} (must be >= 1)",
        ),
        _Rule(
            (L,),
            B,
            lambda c, g, m: _not_bias(c) & (c["l1_stride"] * _load_word(c, g) < c["row_bytes"]),
            lambda c, g, m: (
                f"row_bytes {c['row_bytes']} exceeds l1_stride {c['l1_stride']} "
                f"x {int(_load_word(c, g))}-byte words"
            ),
        ),
        _Rule(
            (L,),
            B,
            lambda c, g, m: (
                _not_bias(c)
                & (
                    (c["l1_addr"] % _kind_align(g, c["sub"]) != 0)
                    | (c["l1_stride"] % _kind_align(g, c["sub"]) != 0)
                )
            ),
            lambda c, g, m: (
                f"l1_addr {c['l1_addr']} / l1_stride {c['l1_stride']} not a "
                f"multiple of {int(_kind_align(g, c['sub']))} words (one SRAM row)"
            ),
        ),
        _Rule(
            (L,),
            "L1_RANGE",
            lambda c, g, m: _not_bias(c) & (_load_last_word(c, g) > _kind_words(g, c["sub"])),
            lambda c, g, m: (
                f"writes L1 words up to {int(_load_last_word(c, g)) - 1}, the "
                f"{KIND_L1[Kind(int(c['sub']))].upper()} L1 has "
                f"{int(_kind_words(g, c['sub']))}"
            ),
        ),
        _Rule(
            (L,),
            B,
            lambda c, g, m: (
                ~_not_bias(c)
                & (
                    (c["l1_addr"] != 0)
                    | (c["rows"] != 1)
                    | (c["row_bytes"] > g.pe_cols * g.acc_bits // 8)
                )
            ),
            lambda c, g, m: (
                f"BIAS needs l1_addr = 0, rows = 1 and row_bytes <= "
                f"{g.pe_cols * g.acc_bits // 8}, not {c['l1_addr']}, {c['rows']}, "
                f"{c['row_bytes']}"
            ),
        ),
        _Rule(
            (L, S),
            "EXT_RANGE",
            lambda c, g, m: (
                (c["ext_addr"] % g.bus_bytes != 0) | (c["ext_stride"] % g.bus_bytes != 0)
            ),
            lambda c, g, m: (
                f"ext_addr 0x{c['ext_addr']:x} / ext_stride {c['ext_stride']} not "
                f"aligned to the {g.bus_bytes}-byte bus"
            ),
        ),
        _Rule(
            (L,),
            "EXT_RANGE",
            lambda c, g, m: _ext_end(c, c["row_bytes"]) > m,
            lambda c, g, m: (
                f"reads external bytes up to 0x{int(_ext_end(c, c['row_bytes'])):x}"
                f", beyond MEM_LIMIT 0x{m:x}"
            ),
        ),
        _Rule(
            (C,),
            B,
            lambda c, g, m: (
                (c["pairs"] == 0) | (c["ifm_stride"] == 0) | (c["ifm_offset"] >= c["ifm_stride"])
            ),
            lambda c, g, m: (
                f"pairs = {c['pairs']}, ifm_stride = {c['ifm_stride']}, "
                f"ifm_offset = {c['ifm_offset']} (need pairs >= 1, "
                f"ifm_offset < ifm_stride)"
            ),
        ),
        _Rule(
            (C,),
            "L1_RANGE",
            lambda c, g, m: (
                (c["wgt_addr"] + g.pe_rows > g.words("wgt"))
                | (c["rbk_addr"] + c["pairs"] > g.words("rbk"))
                | (c["ifm_base"] + c["ifm_offset"] >= g.words("ifm"))
                | (c["ofm_base"] >= g.words("ofm"))
            ),
            lambda c, g, m: (
                f"wgt_addr {c['wgt_addr']}, rbk_addr {c['rbk_addr']} + pairs "
                f"{c['pairs']}, ifm_base {c['ifm_base']}, ofm_base {c['ofm_base']} "
                f"outside L1 (WGT {g.words('wgt')}, RBK {g.words('rbk')}, IFM "
                f"{g.words('ifm')}, OFM {g.words('ofm')} words)"
            ),
        ),
        _Rule(
            (S,),
            B,
            lambda c, g, m: (c["rows"] == 0) | (c["channels"] == 0) | (c["channels"] > g.pe_cols),
            lambda c, g, m: (
                f"rows = {c['rows']}, channels = {c['channels']} (need rows >= 1, "
                f"1 <= channels <= {g.pe_cols})"
            ),
        ),
        _Rule(
            (S, F),
            "L1_RANGE",
            lambda c, g, m: c["ofm_row"] + c["rows"] > g.words("ofm"),
            lambda c, g, m: (
                f"accumulator rows {c['ofm_row']}..{c['ofm_row'] + c['rows'] - 1} "
                f"beyond the {g.words('ofm')} OFM rows"
            ),
        ),
        _Rule(
            (S,),
            "EXT_RANGE",
            lambda c, g, m: _ext_end(c, _store_row_bytes(c, g)) > m,
            lambda c, g, m: (
                f"writes external bytes up to "
                f"0x{int(_ext_end(c, _store_row_bytes(c, g))):x}, beyond MEM_LIMIT "
                f"0x{m:x}"
            ),
        ),
        _Rule((F,), B, lambda c, g, m: c["rows"] == 0, lambda c, g, m: "rows = 0 (must be >= 1)"),
        _Rule(
            (CF,),
            B,
            lambda c, g, m: (
                (c["multiplier"] >= 1 << g.requant_mult_bits)
                | (c["shift"] >= g.acc_bits + g.requant_mult_bits)
            ),
            lambda c, g, m: (
                f"multiplier {c['multiplier']} / shift {c['shift']} out of range "
                f"(< 2^{g.requant_mult_bits}, < {g.acc_bits + g.requant_mult_bits})"
            ),
        ),
    )


_RULES = _rules()
_CHECK_ROWS = 1 << 16
# Hardware order: for STORE the BAD_FIELD and L1 checks come before alignment (EXT_RANGE).
_ORDER = {
    Op.LOAD: [0, 1, 2, 3, 4, 5, 6],
    Op.COMPUTE: [7, 8],
    Op.STORE: [9, 10, 5, 11],
    Op.FILL: [12, 10],
    Op.CONFIG: [13],
}


class _Columns(dict):
    """The columns of some rows of a table by name, each gathered when first used."""

    def __init__(self, table: np.ndarray, rows: np.ndarray):
        super().__init__()
        self._table, self._rows = table, rows

    def __missing__(self, name: str) -> np.ndarray:
        col = self[name] = self._table[self._rows, COL[name]]
        return col


def check_legal(table: np.ndarray, cfg: ArchConfig, mem_limit: int) -> None:
    """Raise a one-line :class:`ProgramError` for the first illegal instruction.

    Checks everything docs/architecture.md "Legality" defines that does not depend on
    the rulebook entries a COMPUTE reads at run time (those the functional model checks).
    ``mem_limit`` is ``MEM_LIMIT``: external accesses must end at or below it.
    """
    table = np.asarray(table, dtype=np.int64)
    n = len(table)
    if not n:
        return
    first_bad = n
    # Slices of _CHECK_ROWS instructions keep the temporaries small; the first slice with
    # an illegal instruction holds the first one.
    for s in range(0, n, _CHECK_ROWS):
        part = table[s : s + _CHECK_ROWS]
        ops = part[:, COL["op"]]
        for op, order in _ORDER.items():
            rows = np.flatnonzero(ops == int(op))
            if not len(rows) or s + rows[0] >= first_bad:
                continue
            cols = _Columns(part, rows)
            bad_any = np.zeros(len(rows), dtype=bool)
            for r in order:
                bad_any |= _RULES[r].test(cols, cfg, mem_limit)
            if bad_any.any():
                first_bad = min(first_bad, s + int(rows[np.argmax(bad_any)]))
        if first_bad < n:
            break
    if first_bad == n:
        return
    row = {name: int(v) for name, v in zip(COLUMNS, table[first_bad], strict=True)}
    order = _ORDER[Op(row["op"])]
    one = {name: np.array([v]) for name, v in row.items()}
    for r in order:
        rule = _RULES[r]
        if rule.test(one, cfg, mem_limit)[0]:
            raise ProgramError(
                f"instruction {first_bad}: {mnemonic(row['op'], row['sub'])} "
                f"{rule.message(row, cfg, mem_limit)} ({rule.code})"
            )
    raise AssertionError("legality rules disagree")  # pragma: no cover


# --------------------------------------------------------------------------- tokens
def program_end(table: np.ndarray) -> int:
    """Instructions executed: up to and including the first HALT.

    Raises
    ------
    ProgramError
        When there is no HALT (execution would run past ``PROG_LEN``: ``PROGRAM_END``).
    """
    halts = np.flatnonzero(np.asarray(table)[:, COL["op"]] == int(Op.HALT))
    if not len(halts):
        raise ProgramError(
            f"program of {len(table)} instructions has no HALT: execution runs past PROG_LEN "
            f"(PROGRAM_END)"
        )
    return int(halts[0]) + 1


def check_tokens(table: np.ndarray) -> None:
    """Check token consistency in program order (docs/architecture.md "Semantics").

    Executing the instructions one after the other (up to the first HALT), every wait must
    find a token an earlier instruction signalled, and no direction may hold more than
    :data:`MAX_OUTSTANDING_TOKENS`.  Token bits towards an engine that does not exist
    (``wp``/``sp`` of LOAD, ``wn``/``sn`` of the store engine, any of SYNC/HALT) are ignored.

    Raises
    ------
    ProgramError
        Naming the first instruction that waits in vain, or the first that overflows.
    """
    table = np.asarray(table, dtype=np.int64)[: program_end(table)]
    dirs = np.array(
        [[int(prod), COL[pbit], int(cons), COL[cbit]] for _, prod, pbit, cons, cbit in DIRECTIONS],
        dtype=np.int64,
    )
    starve, over = _token_scan(table, engine_of(table), dirs, MAX_OUTSTANDING_TOKENS)
    for d, (name, *_) in enumerate(DIRECTIONS):
        if starve[d] >= 0:
            row = int(starve[d])
            op = table[row, COL["op"]]
            raise ProgramError(
                f"instruction {row}: {mnemonic(op, table[row, COL['sub']])} waits for a "
                f"{name} token that no earlier instruction signalled"
            )
        if over[d] >= 0:
            raise ProgramError(
                f"instruction {int(over[d])}: more than {MAX_OUTSTANDING_TOKENS} {name} tokens "
                f"outstanding"
            )


@njit(cache=True)
def _token_scan(table, eng, dirs, limit):  # pragma: no cover - compiled
    """Per direction ``(producer engine, its bit column, consumer engine, its bit column)``:
    the first instruction that waits for a token no earlier one signalled, and the first
    after which more than ``limit`` are outstanding (-1: none)."""
    nd = len(dirs)
    level = np.zeros(nd, dtype=np.int64)
    starve = np.full(nd, -1, dtype=np.int64)
    over = np.full(nd, -1, dtype=np.int64)
    for k in range(table.shape[0]):
        e = eng[k]
        for d in range(nd):
            sig = 1 if e == dirs[d, 0] and table[k, dirs[d, 1]] != 0 else 0
            wait = 1 if e == dirs[d, 2] and table[k, dirs[d, 3]] != 0 else 0
            if wait and level[d] < 1 and starve[d] < 0:
                starve[d] = k
            level[d] += sig - wait
            if level[d] > limit and over[d] < 0:
                over[d] = k
    return starve, over
