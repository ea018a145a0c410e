"""Verilog generation: byte-identical output, Verilator lint, a C header that compiles."""

import shutil
import subprocess

import pytest

from accss3d.cli import main
from sspnna.generate import generate, lint, verilog_text

from .configs import NONSQUARE, SMALL


def test_byte_identical(tmp_path):
    a = generate(SMALL, str(tmp_path / "a"), blocks=True)
    b = generate(SMALL, str(tmp_path / "b"), blocks=True)
    assert a == b
    text = (tmp_path / "a" / "sspnna.v").read_text()
    assert "/work" not in text and "src =" not in text  # no absolute paths
    assert "module sspnna(" in text and "m_axi_arvalid" in text and "s_axil_awaddr" in text


@pytest.mark.parametrize("cfg", [SMALL, NONSQUARE], ids=lambda c: c.name)
def test_verilator_lint_clean(tmp_path, cfg):
    generate(cfg, str(tmp_path))
    ok, messages = lint(str(tmp_path / "sspnna.v"))
    assert ok, messages


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
def test_c_header_compiles(tmp_path):
    generate(SMALL, str(tmp_path))
    src = tmp_path / "t.c"
    src.write_text(
        '#include "sspnna.h"\nint main(void) { return SSPNNA_REG_CTRL == 0x0C && '
        "SSPNNA_OP_COMPUTE == 0x30 && SSPNNA_RBK_ENTRY(1, 2, 1) == 0x80020001u "
        "? 0 : 1; }\n"
    )
    subprocess.run(
        ["gcc", "-Wall", "-Werror", "-o", str(tmp_path / "t"), str(src), f"-I{tmp_path}"],
        check=True,
    )
    assert subprocess.run([str(tmp_path / "t")], check=False).returncode == 0


def test_cli(tmp_path, capsys):
    assert main(["generate", "--config", "small", "-o", str(tmp_path), "--json"]) == 0
    assert '"sspnna.v"' in capsys.readouterr().out
    assert main(["generate", "--config", "huge", "-o", str(tmp_path)]) == 2
    assert "unknown config 'huge'" in capsys.readouterr().err


def test_unknown_block():
    with pytest.raises(Exception, match=r"unknown block 'gpu'"):
        verilog_text(SMALL, "gpu")
