"""The OpenROAD-flow-scripts export: structure of config.mk and constraint.sdc (no OpenROAD)."""

import json
import re

import pytest

from accss3d.arch import CONFIGS
from accss3d.cli import main
from accss3d.errors import ConfigError
from accss3d.orfs import PLATFORMS, SG13G2_MACROS, export_orfs, l1_banks

SMALL = CONFIGS["small"]
STUB = "module sspnna(input clk);\nendmodule\n"  # where only config.mk/SDC matter


@pytest.fixture(scope="module")
def small_verilog():
    from sspnna.generate import verilog_text

    return verilog_text(SMALL)


def mk_vars(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        match = re.match(r"^export (\w+) :?= (.*)$", line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_design_directory(tmp_path, platform, small_verilog):
    files = export_orfs(SMALL, platform, str(tmp_path), verilog=small_verilog)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    mk = mk_vars((tmp_path / "config.mk").read_text())
    for key in (
        "DESIGN_NAME",
        "PLATFORM",
        "VERILOG_FILES",
        "SDC_FILE",
        "CORE_UTILIZATION",
        "PLACE_DENSITY",
    ):
        assert key in mk, key
    assert mk["PLATFORM"] == platform
    assert mk["DESIGN_NAME"] == "sspnna"
    # Paths point at files of the directory, relative to config.mk.
    for key, name in (("VERILOG_FILES", "sspnna.v"), ("SDC_FILE", "constraint.sdc")):
        assert mk[key] == f"$(ACCSS3D_DESIGN_DIR)/{name}"
        assert (tmp_path / name).exists()
    assert "module sspnna(" in (tmp_path / "sspnna.v").read_text()
    assert 0 < int(mk["CORE_UTILIZATION"]) < 100 and 0 < float(mk["PLACE_DENSITY"]) < 1
    assert int(mk["SYNTH_MEMORY_MAX_BITS"]) >= max(b["words"] * b["bits"] for b in l1_banks(SMALL))
    sdc = (tmp_path / "constraint.sdc").read_text()
    period = 1e3 / SMALL.clock_mhz * (1000 if platform == "asap7" else 1)  # ps on asap7
    match = re.search(r"^create_clock -name core_clock -period (\S+) \[get_ports clk\]$", sdc, re.M)
    assert match and float(match.group(1)) == pytest.approx(period)
    assert "set_input_delay" in sdc and "set_output_delay" in sdc


def test_sg13g2_macros(tmp_path):
    export_orfs(CONFIGS["default"], "ihp-sg13g2", str(tmp_path), verilog=STUB)
    mk = mk_vars((tmp_path / "config.mk").read_text())
    plan = json.loads((tmp_path / "macros.json").read_text())["banks"]
    assert [b["name"] for b in plan] == [b["name"] for b in l1_banks(CONFIGS["default"])]
    for bank in plan:
        words, bits = SG13G2_MACROS[bank["macro"]]
        assert bank["count"] * words * bits >= bank["words"] * bank["bits"]
    macros = sorted({b["macro"] for b in plan})
    assert mk["ADDITIONAL_LEFS"].split() == [f"$(PLATFORM_DIR)/lef/{m}.lef" for m in macros]
    for corner, tag in (("TYP", "typ_1p20V_25C"), ("SLOW", "slow_1p08V_125C")):
        libs = mk[f"ADDITIONAL_{corner}_LIBS"].split()
        assert libs == [f"$(PLATFORM_DIR)/lib/{m}_{tag}.lib" for m in macros]
    # Other platforms get no macro references.
    export_orfs(SMALL, "nangate45", str(tmp_path / "n"), verilog=STUB)
    assert "ADDITIONAL_LEFS" not in (tmp_path / "n" / "config.mk").read_text()


def test_deterministic(tmp_path):
    a = export_orfs(SMALL, "ihp-sg13g2", str(tmp_path / "a"))  # Verilog generated twice
    b = export_orfs(SMALL, "ihp-sg13g2", str(tmp_path / "b"))
    assert a == b
    assert (tmp_path / "a" / "config.mk").read_bytes() == (
        tmp_path / "b" / "config.mk"
    ).read_bytes()


def test_cli_clock_override_and_errors(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["export-orfs", "--config", "small", "--platform", "sky130hd", "-o", str(out)]
    assert main([*args, "--clock-mhz", "50"]) == 0
    assert "-period 20 [get_ports clk]" in (out / "constraint.sdc").read_text()
    assert main(["export-orfs", "--platform", "gf180", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        "accss3d: error: unknown ORFS platform 'gf180' "
        "(known: asap7, ihp-sg13g2, nangate45, sky130hd)"
    )
    with pytest.raises(ConfigError):
        export_orfs(SMALL, "gf180", str(out))
