"""Owns the SSpNNA instruction set: opcodes, fields, encodings, CSRs - defined once.

Everything that reads or writes instructions imports this module: the compiler, the
assembler/disassembler, the functional and cycle models, the Amaranth decoder (which builds
its ``data.StructLayout`` from :data:`OPCODES`), the C header generator and the ISA
reference page in docs/ (generated from it, so it cannot drift).

Instructions are 128 bits, stored little-endian (byte 0 holds bits 0-7).  Every instruction
starts with the same 16-bit header:

====== ===== ====================================================================
bits   name  meaning
====== ===== ====================================================================
0-7    op    opcode (:class:`Op`); unknown opcodes are illegal (0x00 included, so
             zeroed memory never executes)
8      wp    wait for a token from the previous engine (load <- compute <- store)
9      wn    wait for a token from the next engine
10     sp    signal a token to the previous engine when done
11     sn    signal a token to the next engine when done
12-15  sub   sub-opcode (bank kind of LOAD, mode of STORE); 0 elsewhere
====== ===== ====================================================================

Three engines run decoupled (decoupled access/execute, as in VTA): LOAD instructions go to
the load engine, COMPUTE and FILL to the compute engine, STORE and CONFIG to the store
engine; SYNC and HALT wait until all three are idle.  Tokens order them: ``load -> compute``
("data ready", ``sn`` of a LOAD, ``wp`` of a COMPUTE), ``compute -> load`` ("buffer free"),
``compute -> store`` and ``store -> compute``.  A wait happens before an instruction starts,
a signal after its effects are complete.  Bits not used by an instruction's fields must be 0.

L1 addresses are in *words* of the addressed bank kind (``ArchConfig.word_bytes``): an input
feature word holds ``pe_rows`` activations (one Cin tile of one voxel), a weight word
``pe_cols`` weights (one row of a weight-plane tile), a rulebook word one entry, an
accumulator word ``pe_cols`` accumulators (one output voxel of a Cout tile).

# Ref: US 11,620,818 (instruction: number of rulebooks, feature sizes, base addresses).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .errors import ProgramError

__all__ = [
    "ISA_VERSION",
    "INSTR_BYTES",
    "INSTR_BITS",
    "Op",
    "Kind",
    "StoreMode",
    "Engine",
    "Field",
    "OpSpec",
    "HEADER_FIELDS",
    "OPCODES",
    "ENGINE_OF",
    "Instr",
    "encode",
    "decode",
    "decode_stream",
    "RBK_IN_BITS",
    "RBK_OUT_BITS",
    "pack_rulebook_entry",
    "ErrorCode",
    "CSR",
    "CSRS",
]

#: (major, minor) of the instruction set; a program must match the major and not exceed
#: the minor of the hardware it runs on.
ISA_VERSION = (1, 0)
INSTR_BITS = 128
INSTR_BYTES = INSTR_BITS // 8


class Op(enum.IntEnum):
    """Opcodes.  Gaps are reserved for later versions (illegal in version 1)."""

    NOP = 0x01
    CONFIG = 0x10
    LOAD = 0x20
    COMPUTE = 0x30
    STORE = 0x40
    FILL = 0x50
    SYNC = 0x60
    HALT = 0x70


class Kind(enum.IntEnum):
    """L1 bank kind targeted by a LOAD (its ``sub`` field)."""

    IFM = 0  #: input features (int ``act_bits``)
    WGT = 1  #: weight-plane tiles (int ``weight_bits``)
    RBK = 2  #: rulebook entries (32 bits)
    PSUM = 3  #: accumulators (int ``acc_bits``): partial sums spilled earlier
    BIAS = 4  #: the bias vector of the current Cout tile (``pe_cols`` x int32)


class StoreMode(enum.IntEnum):
    """What a STORE writes (its ``sub`` field)."""

    REQUANT = 0  #: requantize (+ReLU) and saturate to ``act_bits``
    RAW = 1  #: raw ``acc_bits`` accumulators (partial-sum spill)


class Engine(enum.IntEnum):
    """The engine an instruction executes on."""

    LOAD = 0
    COMPUTE = 1
    STORE = 2
    GLOBAL = 3  #: SYNC/HALT: waits for all engines to be idle


@dataclass(frozen=True)
class Field:
    """A bit field of an instruction: ``width`` bits starting at bit ``lsb``."""

    name: str
    lsb: int
    width: int
    doc: str

    @property
    def msb(self) -> int:
        """Highest bit of the field."""
        return self.lsb + self.width - 1


HEADER_FIELDS = (
    Field("op", 0, 8, "opcode"),
    Field("wp", 8, 1, "wait for a token from the previous engine"),
    Field("wn", 9, 1, "wait for a token from the next engine"),
    Field("sp", 10, 1, "signal a token to the previous engine when done"),
    Field("sn", 11, 1, "signal a token to the next engine when done"),
    Field("sub", 12, 4, "sub-opcode"),
)


@dataclass(frozen=True)
class OpSpec:
    """The fields and engine of one opcode."""

    op: Op
    engine: Engine
    fields: tuple[Field, ...]
    doc: str
    sub_doc: str = ""

    def field(self, name: str) -> Field:
        """The field called ``name`` (header fields included)."""
        for f in HEADER_FIELDS + self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """Header fields followed by the opcode's own fields."""
        return HEADER_FIELDS + self.fields


def _fields(*spec: tuple[str, int, str]) -> tuple[Field, ...]:
    """Lay fields out contiguously from bit 16 (after the header)."""
    out, lsb = [], 16
    for name, width, doc in spec:
        out.append(Field(name, lsb, width, doc))
        lsb += width
    if lsb > INSTR_BITS:
        raise AssertionError(f"instruction fields overflow: {lsb} bits")
    return tuple(out)


OPCODES: dict[Op, OpSpec] = {
    Op.NOP: OpSpec(Op.NOP, Engine.COMPUTE, (), "No operation (tokens still honoured)."),
    Op.CONFIG: OpSpec(
        Op.CONFIG,
        Engine.STORE,
        _fields(
            ("multiplier", 32, "requantization multiplier (unsigned, < 2^requant_mult_bits)"),
            ("shift", 8, "requantization right shift (< acc_bits + requant_mult_bits)"),
            ("relu", 1, "apply ReLU before saturation"),
        ),
        "Set the requantization of the following STOREs (executes in order with them).",
    ),
    Op.LOAD: OpSpec(
        Op.LOAD,
        Engine.LOAD,
        _fields(
            ("l1_addr", 16, "first L1 word (of the bank kind `sub`)"),
            ("rows", 16, "number of rows to copy (>= 1)"),
            ("ext_addr", 32, "external byte address of the first row"),
            ("row_bytes", 12, "bytes per row (>= 1)"),
            ("ext_stride", 16, "external bytes between row starts"),
            ("l1_stride", 12, "L1 words between row starts (>= ceil(row_bytes / word))"),
        ),
        "Copy `rows` rows of `row_bytes` bytes from external memory into L1.",
        "bank kind: 0 IFM, 1 WGT, 2 RBK, 3 PSUM, 4 BIAS",
    ),
    Op.COMPUTE: OpSpec(
        Op.COMPUTE,
        Engine.COMPUTE,
        _fields(
            ("wgt_addr", 16, "first weight word of the pe_rows x pe_cols weight-plane tile"),
            ("rbk_addr", 16, "first rulebook entry of the run"),
            ("pairs", 16, "number of rulebook entries (pairs) in the run (>= 1)"),
            ("ifm_base", 16, "input-feature word of slot 0"),
            ("ifm_stride", 8, "input-feature words per voxel slot (>= 1)"),
            ("ifm_offset", 8, "word of this Cin tile within a slot (< ifm_stride)"),
            ("ofm_base", 16, "accumulator row of out_row 0"),
            ("use_first", 1, "honour the entries' `first` bit (bias + product, no read)"),
        ),
        "Stream a run of rulebook entries of one weight plane through the PE array and "
        "accumulate into the accumulator rows they name.",
    ),
    Op.STORE: OpSpec(
        Op.STORE,
        Engine.STORE,
        _fields(
            ("ofm_row", 16, "first accumulator row"),
            ("rows", 16, "number of rows (>= 1)"),
            ("ext_addr", 32, "external byte address of the first row"),
            ("ext_stride", 16, "external bytes between row starts"),
            ("channels", 12, "output channels per row (1 .. pe_cols)"),
        ),
        "Write accumulator rows to external memory.",
        "mode: 0 REQUANT (int act_bits), 1 RAW (int acc_bits)",
    ),
    Op.FILL: OpSpec(
        Op.FILL,
        Engine.COMPUTE,
        _fields(
            ("ofm_row", 16, "first accumulator row"),
            ("rows", 16, "number of rows (>= 1)"),
        ),
        "Set accumulator rows to the bias vector (outputs without a `first` entry).",
    ),
    Op.SYNC: OpSpec(Op.SYNC, Engine.GLOBAL, (), "Wait until every engine is idle."),
    Op.HALT: OpSpec(Op.HALT, Engine.GLOBAL, (), "Wait until every engine is idle, then stop."),
}

#: Engine of each opcode.
ENGINE_OF = {op: spec.engine for op, spec in OPCODES.items()}

#: Rulebook entry (32 bits): ``in_slot`` (bits 0-15), ``out_row`` (16-30), ``first`` (31).
RBK_IN_BITS = 16
RBK_OUT_BITS = 15


def pack_rulebook_entry(in_slot, out_row, first):
    """Pack rulebook entries (scalars or numpy arrays) into uint32 words."""
    import numpy as np

    in_slot = np.asarray(in_slot, dtype=np.int64)
    out_row = np.asarray(out_row, dtype=np.int64)
    first = np.asarray(first, dtype=np.int64)
    if (in_slot < 0).any() or (in_slot >= 1 << RBK_IN_BITS).any():
        raise ProgramError("rulebook in_slot out of range (16 bits)")
    if (out_row < 0).any() or (out_row >= 1 << RBK_OUT_BITS).any():
        raise ProgramError("rulebook out_row out of range (15 bits)")
    return (in_slot | (out_row << 16) | ((first & 1) << 31)).astype(np.uint32)


@dataclass(frozen=True)
class Instr:
    """A decoded instruction: opcode and the value of every field (header included)."""

    op: Op
    values: tuple[tuple[str, int], ...]

    @classmethod
    def make(cls, op: Op | str, **values: int) -> Instr:
        """Build an instruction; missing fields are 0, unknown ones an error."""
        op = Op[op.upper()] if isinstance(op, str) else Op(op)
        spec = OPCODES[op]
        names = [f.name for f in spec.all_fields if f.name != "op"]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ProgramError(f"{op.name} has no field {unknown[0]!r}")
        out = []
        for f in spec.all_fields:
            if f.name == "op":
                continue
            v = int(values.get(f.name, 0))
            if not 0 <= v < (1 << f.width):
                raise ProgramError(f"{op.name}.{f.name} = {v} does not fit in {f.width} bits")
            out.append((f.name, v))
        return cls(op, tuple(out))

    def __getitem__(self, name: str) -> int:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(name)

    def get(self, name: str, default: int = 0) -> int:
        """Field value, or ``default`` for a field this opcode lacks."""
        try:
            return self[name]
        except KeyError:
            return default

    @property
    def engine(self) -> Engine:
        """The engine that executes this instruction."""
        return ENGINE_OF[self.op]

    def as_dict(self) -> dict[str, int]:
        """Field values as a dict (opcode excluded)."""
        return dict(self.values)


def encode(instr: Instr) -> bytes:
    """The 16 little-endian bytes of an instruction."""
    word = int(instr.op)
    spec = OPCODES[instr.op]
    for name, value in instr.values:
        word |= value << spec.field(name).lsb
    return word.to_bytes(INSTR_BYTES, "little")


def decode(data: bytes, pc: int = 0) -> Instr:
    """Decode 16 bytes; raise :class:`ProgramError` for illegal instructions.

    Illegal: an unknown opcode, a nonzero bit outside the opcode's fields, or a ``sub``
    value the opcode does not define.
    """
    if len(data) != INSTR_BYTES:
        raise ProgramError(f"instruction {pc}: needs {INSTR_BYTES} bytes, got {len(data)}")
    word = int.from_bytes(data, "little")
    code = word & 0xFF
    try:
        op = Op(code)
    except ValueError:
        raise ProgramError(f"instruction {pc}: illegal opcode 0x{code:02x}") from None
    spec = OPCODES[op]
    values = []
    used = 0
    for f in spec.all_fields:
        mask = ((1 << f.width) - 1) << f.lsb
        used |= mask
        if f.name != "op":
            values.append((f.name, (word & mask) >> f.lsb))
    if word & ~used & ((1 << INSTR_BITS) - 1):
        raise ProgramError(f"instruction {pc}: {op.name} has reserved bits set")
    instr = Instr(op, tuple(values))
    sub = instr["sub"]
    if op is Op.LOAD and sub not in set(Kind):
        raise ProgramError(f"instruction {pc}: LOAD of unknown bank kind {sub}")
    if op is Op.STORE and sub not in set(StoreMode):
        raise ProgramError(f"instruction {pc}: STORE with unknown mode {sub}")
    if op not in (Op.LOAD, Op.STORE) and sub:
        raise ProgramError(f"instruction {pc}: {op.name} has reserved bits set")
    return instr


def decode_stream(data: bytes) -> list[Instr]:
    """Decode a whole instruction stream (a multiple of 16 bytes)."""
    if len(data) % INSTR_BYTES:
        raise ProgramError(
            f"instruction stream of {len(data)} bytes is not a multiple of {INSTR_BYTES}"
        )
    return [
        decode(data[i : i + INSTR_BYTES], i // INSTR_BYTES)
        for i in range(0, len(data), INSTR_BYTES)
    ]


class ErrorCode(enum.IntEnum):
    """Values of the ERROR_CODE register (0: no error)."""

    NONE = 0
    ILLEGAL_OPCODE = 1  #: unknown opcode
    RESERVED_BITS = 2  #: nonzero bits outside the fields, or an undefined sub-opcode
    L1_RANGE = 3  #: an L1 access beyond its bank kind's capacity
    EXT_RANGE = 4  #: an external access beyond MEM_LIMIT
    BUS_ERROR = 5  #: the external bus answered SLVERR/DECERR
    WATCHDOG = 6  #: no progress for WATCHDOG cycles
    BAD_FIELD = 7  #: a field value the hardware cannot execute (e.g. rows = 0)
    PROGRAM_END = 8  #: the program counter ran past PROG_LEN without HALT


@dataclass(frozen=True)
class CSR:
    """A 32-bit control/status register of the AXI4-Lite slave."""

    name: str
    offset: int
    access: str  #: "ro", "rw" or "wo"
    doc: str


#: Register map (byte offsets); 64-bit counters are LO/HI pairs (read LO first: HI latched).
CSRS = (
    CSR("ID", 0x00, "ro", "identification: 0x53534E41 ('SSNA')"),
    CSR("VERSION", 0x04, "ro", "ISA major (bits 31-16) and minor (15-0)"),
    CSR("CONFIG_HASH", 0x08, "ro", "first 4 bytes of the architecture config digest"),
    CSR("CTRL", 0x0C, "wo", "bit 0: start (from PROG_ADDR); bit 1: clear done/error"),
    CSR("STATUS", 0x10, "ro", "bit 0: busy, bit 1: done, bit 2: error"),
    CSR("ERROR_CODE", 0x14, "ro", "ErrorCode of the first error"),
    CSR("ERROR_PC", 0x18, "ro", "index of the instruction that caused the error"),
    CSR("PROG_ADDR", 0x1C, "rw", "external byte address of the first instruction"),
    CSR("PROG_LEN", 0x20, "rw", "number of instructions (execution past it is an error)"),
    CSR("MEM_LIMIT", 0x24, "rw", "external accesses must be below this byte address"),
    CSR("WATCHDOG", 0x28, "rw", "cycles without progress before a WATCHDOG error (0: off)"),
    CSR("CYCLES_LO", 0x40, "ro", "cycles since start (low word)"),
    CSR("CYCLES_HI", 0x44, "ro", "cycles since start (high word)"),
    CSR("BUSY_LO", 0x48, "ro", "cycles the PE array held valid data (low word)"),
    CSR("BUSY_HI", 0x4C, "ro", "(high word)"),
    CSR("MEM_STALL_LO", 0x50, "ro", "cycles the compute engine waited on memory (low word)"),
    CSR("MEM_STALL_HI", 0x54, "ro", "(high word)"),
    CSR("MACS_LO", 0x58, "ro", "multiply-accumulates issued (low word)"),
    CSR("MACS_HI", 0x5C, "ro", "(high word)"),
    CSR("INSTRS_LO", 0x60, "ro", "instructions dispatched (low word)"),
    CSR("INSTRS_HI", 0x64, "ro", "(high word)"),
    CSR("RD_BYTES_LO", 0x68, "ro", "bytes read from external memory (low word)"),
    CSR("RD_BYTES_HI", 0x6C, "ro", "(high word)"),
    CSR("WR_BYTES_LO", 0x70, "ro", "bytes written to external memory (low word)"),
    CSR("WR_BYTES_HI", 0x74, "ro", "(high word)"),
)

_ID = struct.unpack(">I", b"SSNA")[0]
assert _ID == 0x53534E41
