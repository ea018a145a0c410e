"""accss3d.isa / isatable / isadoc: bulk codec vs the scalar one, legality, tokens, the doc."""

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from isa_strategies import tables

from accss3d import isa
from accss3d.arch import CONFIGS
from accss3d.asm import assemble_table
from accss3d.errors import ProgramError
from accss3d.isadoc import isa_markdown, member_docs
from accss3d.isatable import (
    COL,
    COLUMNS,
    check_legal,
    check_tokens,
    decode_table,
    encode_table,
    instrs_from_table,
    program_end,
    table_from_instrs,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT, SMALL = CONFIGS["default"], CONFIGS["small"]


def test_committed_isa_doc_is_generated():
    with open(os.path.join(ROOT, "docs", "isa.md"), encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == isa_markdown(), "regenerate: accss3d isa-doc -o docs/isa.md"


def test_doc_lists_every_opcode_error_and_csr():
    text = isa_markdown()
    for op in isa.Op:
        assert f"| 0x{int(op):02x} | {op.name} |" in text
    for code in isa.ErrorCode:
        assert f"| {int(code)} | {code.name} |" in text
    for csr in isa.CSRS:
        assert f"| {csr.name} |" in text
    assert member_docs(isa.Kind)["RBK"] == "rulebook entries (32 bits)"


def test_columns_cover_every_field():
    names = {f.name for spec in isa.OPCODES.values() for f in spec.all_fields}
    assert set(COLUMNS) == names and len(COLUMNS) == len(set(COLUMNS))


@given(tables())
def test_bulk_codec_matches_scalar(table):
    data = encode_table(table)
    assert data == b"".join(isa.encode(i) for i in instrs_from_table(table))
    assert np.array_equal(decode_table(data), table)
    assert instrs_from_table(decode_table(data)) == isa.decode_stream(data)


@given(st.binary(min_size=16, max_size=16 * 8).filter(lambda b: len(b) % 16 == 0))
def test_bulk_decode_of_random_bytes_matches_scalar(data):
    try:
        expected = isa.decode_stream(data)
    except ProgramError as exc:
        with pytest.raises(ProgramError, match=f"^{exc}$".replace("(", r"\(").replace(")", r"\)")):
            decode_table(data)
    else:
        assert instrs_from_table(decode_table(data)) == expected


def test_decode_errors():
    with pytest.raises(ProgramError, match=r"^instruction stream of 17 bytes is not a multiple"):
        decode_table(bytes(17))
    with pytest.raises(ProgramError, match=r"^instruction 0: illegal opcode 0x00$"):
        decode_table(bytes(16))
    word = bytearray(isa.encode(isa.Instr.make("HALT")))
    word[5] = 1
    with pytest.raises(ProgramError, match=r"^instruction 1: HALT has reserved bits set$"):
        decode_table(isa.encode(isa.Instr.make("NOP")) + bytes(word))
    load = isa.Instr.make("LOAD", sub=7, rows=1)
    with pytest.raises(ProgramError, match=r"LOAD of unknown bank kind 7"):
        decode_table(isa.encode(load))


def test_encode_rejects_overflowing_fields():
    table = table_from_instrs([isa.Instr.make("FILL", rows=1)])
    table[0, COL["rows"]] = 1 << 16
    with pytest.raises(ProgramError, match=r"^instruction 0: FILL.rows = 65536 does not fit"):
        encode_table(table)


def _legal(text, cfg=DEFAULT, mem=1 << 16):
    check_legal(assemble_table(text), cfg, mem)


@pytest.mark.parametrize(
    "text, message",
    [
        ("LOAD.IFM rows=0 row_bytes=16 l1_stride=1", r"rows = 0, row_bytes = 16 .*\(BAD_FIELD\)"),
        ("LOAD.IFM rows=1 row_bytes=17 l1_stride=1", r"row_bytes 17 exceeds l1_stride 1 .*BAD_F"),
        ("LOAD.RBK l1_addr=1 rows=1 row_bytes=4 l1_stride=2", r"not a multiple of 4 words"),
        ("LOAD.IFM l1_addr=1020 rows=5 row_bytes=16 l1_stride=1", r"up to 1024, .*\(L1_RANGE\)"),
        ("LOAD.BIAS l1_addr=0 rows=2 row_bytes=64 l1_stride=1", r"BIAS needs .*\(BAD_FIELD\)"),
        ("LOAD.BIAS rows=1 row_bytes=65 l1_stride=1", r"row_bytes <= 64.*\(BAD_FIELD\)"),
        ("LOAD.WGT rows=1 ext_addr=4 row_bytes=16 l1_stride=1", r"aligned to the 16-byte bus"),
        (
            "LOAD.WGT rows=2 ext_addr=0xfff0 ext_stride=16 row_bytes=16 l1_stride=1",
            r"up to 0x10010, beyond MEM_LIMIT 0x10000 \(EXT_RANGE\)",
        ),
        ("COMPUTE pairs=1 ifm_stride=1 ifm_offset=1", r"ifm_offset = 1 .*\(BAD_FIELD\)"),
        ("COMPUTE pairs=1 ifm_stride=1 wgt_addr=500", r"outside L1 .*\(L1_RANGE\)"),
        ("COMPUTE pairs=1000 ifm_stride=1 rbk_addr=1900", r"\(L1_RANGE\)"),
        ("STORE.REQUANT rows=1 channels=17", r"channels = 17 .*\(BAD_FIELD\)"),
        ("STORE.RAW rows=1 channels=16 ofm_row=512", r"rows 512\.\.512 beyond .*\(L1_RANGE\)"),
        ("FILL rows=0", r"^instruction 0: FILL rows = 0 \(must be >= 1\) \(BAD_FIELD\)$"),
        ("CONFIG multiplier=65536", r"multiplier 65536 .*\(BAD_FIELD\)"),
        ("CONFIG shift=48", r"shift 48 out of range"),
    ],
)
def test_illegal_instructions(text, message):
    with pytest.raises(ProgramError, match=message):
        _legal(text)


def test_store_raw_range_is_exact():
    # 2 rows of 16 x int32 = 64 bytes each end at 0xff80 + 64 + 64 = 0x10000: legal.
    _legal("STORE.RAW rows=2 channels=16 ext_addr=0xff80 ext_stride=64")
    with pytest.raises(ProgramError, match=r"^instruction 0: STORE.RAW writes external bytes"):
        _legal("STORE.RAW rows=2 channels=16 ext_addr=0xff90 ext_stride=64")


def test_first_illegal_instruction_is_reported():
    text = "NOP\nFILL rows=1\nLOAD.IFM rows=1 row_bytes=16 l1_stride=1 l1_addr=4000\nFILL rows=0"
    with pytest.raises(ProgramError, match=r"^instruction 2: LOAD.IFM writes L1 words"):
        _legal(text)


def test_small_config_alignment():
    # A 4-byte bus: RBK words are one SRAM row, any l1_addr is fine.
    _legal("LOAD.RBK l1_addr=1 rows=1 row_bytes=4 l1_stride=1 ext_addr=4", SMALL, 64)


def test_tokens():
    check_tokens(assemble_table("LOAD.IFM rows=1 row_bytes=1 l1_stride=1 sn\nCOMPUTE wp\nHALT"))
    # Bits towards engines that do not exist are ignored.
    check_tokens(assemble_table("LOAD.IFM wp sp rows=1\nSTORE.RAW wn sn\nSYNC wp wn sp sn\nHALT"))
    with pytest.raises(ProgramError, match=r"^instruction 1: COMPUTE waits for a load->compute"):
        check_tokens(assemble_table("COMPUTE sn\nCOMPUTE wp\nHALT"))
    with pytest.raises(ProgramError, match=r"^instruction 1: LOAD.WGT waits for a compute->load"):
        check_tokens(assemble_table("LOAD.IFM sn\nLOAD.WGT wn\nCOMPUTE wp sp\nHALT"))
    with pytest.raises(ProgramError, match=r"^instruction 0: FILL waits for a store->compute"):
        check_tokens(assemble_table("FILL wn rows=1\nSTORE.RAW sp\nHALT"))
    # After HALT nothing executes.
    check_tokens(assemble_table("HALT\nCOMPUTE wp"))


def test_program_end():
    with pytest.raises(
        ProgramError, match=r"^program of 1 instructions has no HALT: .*PROGRAM_END"
    ):
        program_end(assemble_table("NOP"))
    assert program_end(assemble_table("NOP\nHALT\nNOP")) == 2
