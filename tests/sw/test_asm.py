"""accss3d.asm and the asm/disasm commands: exact round trips and one-line errors."""

import numpy as np
import pytest
from hypothesis import given
from isa_strategies import tables

from accss3d.asm import assemble, assemble_table, disassemble, format_instr
from accss3d.cli import main
from accss3d.errors import ProgramError
from accss3d.isatable import encode_table

TEXT = """\
; comment line
LOAD.IFM l1_addr=0 rows=12 ext_addr=0x1000 row_bytes=32 ext_stride=32 l1_stride=2 sn
COMPUTE wgt_addr=0 rbk_addr=0 pairs=7 ifm_base=0 ifm_stride=2 ifm_offset=0 ofm_base=0 use_first wp

CONFIG multiplier=40000 shift=20 relu   # trailing comment
STORE.REQUANT ofm_row=0 rows=7 ext_addr=0x2000 ext_stride=16 channels=16 wp sp
HALT
"""


@given(tables(30))
def test_bytes_text_bytes_is_exact(table):
    data = encode_table(table)
    assert assemble(disassemble(data)) == data
    assert assemble(disassemble(data, pc=False)) == data


def test_text_bytes_text_is_exact():
    canonical = [line.split(";")[0].split("#")[0].strip() for line in TEXT.splitlines()]
    canonical = [line for line in canonical if line]
    assert disassemble(assemble(TEXT), pc=False).splitlines() == canonical


def test_omitted_fields_are_zero_and_values_parse():
    t = assemble_table("LOAD.WGT rows=0x10 l1_stride=0b1\nSYNC")
    assert format_instr(t[0]).startswith("LOAD.WGT l1_addr=0 rows=16 ext_addr=0x0")
    assert t.shape == (2, t.shape[1])
    assert assemble_table("").shape[0] == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("MOVE x=1", r"^line 1: unknown mnemonic 'MOVE'$"),
        ("NOP\nLOAD rows=1", r"^line 2: LOAD needs a sub-opcode \(LOAD.IFM, LOAD.WGT"),
        ("LOAD.IFM pairs=3", r"^line 1: LOAD.IFM has no field 'pairs'$"),
        ("FILL rows=1 rows=2", r"^line 1: field 'rows' given twice$"),
        ("FILL rows=65536", r"^line 1: FILL rows=65536 does not fit in 16 bits$"),
        ("FILL rows=-1", r"^line 1: '-1' is not a non-negative integer$"),
        ("FILL rows", r"^line 1: field 'rows' needs a value \(rows=N\)$"),
        ("CONFIG relu=2", r"^line 1: CONFIG relu=2 does not fit in 1 bits$"),
    ],
)
def test_assembler_errors(text, message):
    with pytest.raises(ProgramError, match=message):
        assemble(text)


def test_cli_round_trip(tmp_path, capsys):
    src = tmp_path / "p.s"
    src.write_text(TEXT)
    assert main(["asm", str(src), "-o", str(tmp_path / "p.bin")]) == 0
    assert capsys.readouterr().out.startswith("5 instructions -> ")
    assert main(["disasm", str(tmp_path / "p.bin")]) == 0
    out = capsys.readouterr().out
    (tmp_path / "q.s").write_text(out)
    assert main(["asm", str(tmp_path / "q.s"), "-o", str(tmp_path / "q.bin")]) == 0
    assert (tmp_path / "p.bin").read_bytes() == (tmp_path / "q.bin").read_bytes()
    assert (tmp_path / "p.bin").read_bytes() == assemble(TEXT)


def test_cli_program_container(tmp_path, capsys):
    src = tmp_path / "p.s"
    src.write_text("FILL rows=1 sn\nSTORE.REQUANT rows=1 channels=4 wp ext_addr=0x100\nHALT\n")
    out = tmp_path / "p.sspn"
    assert main(["asm", str(src), "-o", str(out), "--config", "small", "--mem-bytes", "512"]) == 0
    capsys.readouterr()
    assert main(["disasm", str(out), "--config", "small"]) == 0
    text = capsys.readouterr().out
    assert "; program: 3 instructions" in text and "config 'small'" in text
    code = main(["disasm", str(out), "--config", "default"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("accss3d: error: program compiled for config 'small'")
    assert np.array_equal(assemble_table(text), assemble_table(src.read_text()))


def test_cli_errors(tmp_path, capsys):
    src = tmp_path / "bad.s"
    src.write_text("NOP\nFOO\n")
    assert main(["asm", str(src), "-o", str(tmp_path / "x.bin")]) == 2
    assert capsys.readouterr().err == "accss3d: error: line 2: unknown mnemonic 'FOO'\n"
    src.write_text("NOP\n")
    assert main(["asm", str(src), "-o", str(tmp_path / "x.sspn")]) == 2
    assert "has no HALT" in capsys.readouterr().err
    (tmp_path / "junk.bin").write_bytes(bytes(16))
    assert main(["disasm", str(tmp_path / "junk.bin")]) == 2
    assert capsys.readouterr().err == "accss3d: error: instruction 0: illegal opcode 0x00\n"
