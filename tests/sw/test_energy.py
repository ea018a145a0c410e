"""The energy model against hand computation, its event counts against the cycle model and an
exact replay of the rulebook entries, the analytic area model, and the CPU baseline."""

import math

import numpy as np
import pytest

from accss3d.arch import CONFIGS
from accss3d.areamodel import analytic_area
from accss3d.energy import (
    CATEGORIES,
    EnergyModel,
    count_events,
    cpu_energy_j,
    cpu_power_w,
    energy_report,
    layer_energy,
    node_factor,
)
from accss3d.errors import ConfigError
from accss3d.isa import Kind, Op
from accss3d.isatable import COL

SMALL = CONFIGS["small"]


@pytest.fixture(scope="module")
def program(tiny_room):
    from accss3d.compiler import compile_network
    from accss3d.network import get_network

    return compile_network(get_network("unet-tiny"), tiny_room.coords, SMALL).program


# --------------------------------------------------------------------------- constants
def test_node_factor_is_cv2():
    assert node_factor(45) == pytest.approx(1.0)
    assert node_factor(16) == pytest.approx(16 / 45 * (0.8 / 0.9) ** 2)
    assert node_factor(130) == pytest.approx(130 / 45 * (1.2 / 0.9) ** 2)
    # Between table nodes the supply is interpolated in log(node): monotone.
    assert node_factor(16) < node_factor(22) < node_factor(28)


def test_horowitz_figures_at_45nm():
    m = EnergyModel(node_nm=45)
    assert m.mac_pj() == pytest.approx(0.2 + 0.1)
    # 64-bit reads: 8 KB 10 pJ, 32 KB 20 pJ (Horowitz), per byte / 8.
    assert m.sram_pj_per_byte(8192) == pytest.approx(10 / 8)
    assert m.sram_pj_per_byte(32768) == pytest.approx(20 / 8)
    # 1 MB: 100 pJ in the paper, sqrt(128) * 10 = 113 pJ in the model (within 15%).
    assert m.sram_pj_per_byte(1 << 20) * 8 == pytest.approx(100, rel=0.15)
    assert m.reg_bit_pj() == pytest.approx(10 * math.sqrt(8 / 8192) / 64)
    assert m.dram_pj_per_byte == pytest.approx(1300 / 8)


def test_scaled_constants():
    m = EnergyModel()
    s = node_factor(16)
    c = m.constants(CONFIGS["default"])
    assert c["mac_pj"] == pytest.approx(0.3 * s)
    assert c["sram_ofm_pj_per_byte"] == pytest.approx(10 / 8 * math.sqrt(2) * s)
    assert c["dram_pj_per_byte"] == pytest.approx(162.5)  # DRAM is not scaled


def test_bad_model_parameters():
    with pytest.raises(ConfigError, match=r"^energy model dram_pj_per_byte must be a number >= 0"):
        EnergyModel(dram_pj_per_byte=-1)
    with pytest.raises(ConfigError, match=r"^node_nm must be a number in \[1, 1000\], not 0$"):
        EnergyModel(node_nm=0)


def test_layer_energy_by_hand():
    cfg = CONFIGS["default"]
    m = EnergyModel(node_nm=45, leakage_mw_per_mm2=10.0)
    ev = {
        "macs": 1000 * 256,
        "entries": 1000,
        "computes": 10,
        "fill_rows": 2,
        "bias_bytes": 64,
        "ifm_rd_bytes": 16000,
        "ifm_wr_bytes": 4000,
        "wgt_rd_bytes": 2560,
        "wgt_wr_bytes": 2560,
        "rbk_rd_bytes": 4000,
        "rbk_wr_bytes": 4000,
        "ofm_rd_bytes": 900 * 64,
        "ofm_wr_bytes": 1002 * 64,
        "requants": 500,
        "dram_rd_bytes": 10_000,
        "dram_wr_bytes": 1_000,
    }
    e = layer_energy(ev, cfg, m, seconds=1e-6, area_mm2=0.5)
    assert e["mac"] == pytest.approx(256_000 * 0.3)
    assert e["sram_ifm"] == pytest.approx(20_000 * 1.25)  # 8 KB banks
    assert e["sram_wgt"] == pytest.approx(5120 * 1.25 * math.sqrt(0.5))  # 4 KB banks
    assert e["sram_rbk"] == pytest.approx(8000 * 1.25 * math.sqrt(0.5))
    assert e["sram_ofm"] == pytest.approx(1902 * 64 * 1.25 * math.sqrt(2))  # 16 KB banks
    assert e["requant"] == pytest.approx(500 * 3.1)
    assert e["dram"] == pytest.approx(11_000 * 162.5)
    assert e["leakage"] == pytest.approx(10.0 * 0.5 * 1e-6 * 1e9)  # mW x s -> pJ
    R, C, G = 16, 16, 1
    bits = 256_000 * 32 + 1000 * (8 * R * (R - 1) // 2 + 8 * R + 32) + 2 * 32 * C
    bits += 10 * R * C * 8 + 64 * 8
    assert G == cfg.groups
    assert e["pe_registers"] == pytest.approx(bits * m.reg_bit_pj())
    assert e["total"] == pytest.approx(sum(e[k] for k in CATEGORIES))
    assert e["on_chip"] == pytest.approx(e["total"] - e["dram"])


def test_cpu_power_estimate():
    assert cpu_power_w(1) == pytest.approx(95 / 6)
    assert cpu_energy_j(2.0, 3) == pytest.approx(2.0 * 3 * 95 / 6)
    assert cpu_energy_j(1.0, 2, watts_per_core=10) == pytest.approx(20)
    with pytest.raises(ConfigError, match=r"^cores must be a positive integer, not 0$"):
        cpu_power_w(0)


# --------------------------------------------------------------------------- events
def _exact_rbk_replay(program):
    """Per layer: entries under use_first with the first bit, from the memory image."""
    cfg = program.cfg
    mem = program.memory()
    rbk = np.zeros(cfg.words("rbk"), dtype=np.uint32)
    code = program.code
    out = {}
    for layer in program.manifest["layers"]:
        a, b = layer["pc"]
        firsts = 0
        for row in code[a:b]:
            op = row[COL["op"]]
            if op == Op.LOAD and row[COL["sub"]] == Kind.RBK:
                for r in range(row[COL["rows"]]):
                    src = row[COL["ext_addr"]] + r * row[COL["ext_stride"]]
                    data = mem[src : src + row[COL["row_bytes"]]].view("<u4")
                    dst = row[COL["l1_addr"]] + r * row[COL["l1_stride"]]
                    rbk[dst : dst + len(data)] = data
            elif op == Op.COMPUTE and row[COL["use_first"]]:
                e = rbk[row[COL["rbk_addr"]] : row[COL["rbk_addr"]] + row[COL["pairs"]]]
                firsts += int(np.count_nonzero(e >> 31))
        out[layer["name"]] = firsts
    return out


def test_events_match_the_cycle_model_and_the_rulebook(program):
    from accss3d.cyclemodel import simulate

    layers = program.manifest["layers"]
    ev = count_events(program.code, SMALL, layers)
    rep = simulate(program.code, SMALL, layers=layers)
    assert [e["name"] for e in ev] == [lay["name"] for lay in layers]
    assert sum(e["macs"] for e in ev) == rep.counters["macs"]
    assert sum(e["entries"] for e in ev) == rep.counters["busy"]
    # Reads in bus beats, instruction fetch included: the cycle model's RD_BYTES exactly.
    assert sum(e["dram_rd_bytes"] for e in ev) == rep.counters["rd_bytes"]
    written = {"IFM": "ifm_wr_bytes", "WGT": "wgt_wr_bytes", "RBK": "rbk_wr_bytes",
               "BIAS": "bias_bytes"}  # fmt: skip
    for kind, key in written.items():
        assert sum(e[key] for e in ev) == rep.bytes_by_kind[kind], kind
    # Writes: payload <= bus beats.
    assert rep.counters["wr_bytes"] <= sum(e["dram_wr_bytes"] for e in ev)
    # The use_first estimate (outputs x Cout tiles - FILL rows) is exact for the compiler.
    exact = _exact_rbk_replay(program)
    for e, lay in zip(ev, layers, strict=True):
        assert e["first_entries"] == exact[lay["name"]], lay["name"]
        assert e["ofm_rd_bytes"] == (e["entries"] - e["first_entries"] + e["store_rows"]) * 16


def test_energy_report_totals(program):
    from accss3d.cyclemodel import simulate

    layers = program.manifest["layers"]
    rep = simulate(program.code, SMALL, layers=layers)
    cyc = {r["name"]: r["cycles"] for r in rep.layers}
    er = energy_report(program.code, SMALL, layers, cyc, area_mm2=0.03, total_cycles=rep.cycles)
    assert er["total_pj"]["total"] == pytest.approx(
        sum(r["energy_pj"]["total"] for r in er["layers"])
    )
    assert er["cycles"] == rep.cycles
    assert er["seconds"] == pytest.approx(rep.cycles / 100e6)  # small: 100 MHz
    assert 0 < er["pj_per_mac_on_chip"] < 10
    # Doubling the leakage density doubles the leakage only.
    er2 = energy_report(program.code, SMALL, layers, cyc, area_mm2=0.06, total_cycles=rep.cycles)
    assert er2["total_pj"]["leakage"] == pytest.approx(2 * er["total_pj"]["leakage"])
    assert er2["total_pj"]["mac"] == er["total_pj"]["mac"]


# --------------------------------------------------------------------------- area model
def test_analytic_area_reproduces_its_calibration():
    # The SG13G2 syntheses it is fitted to, scaled (16/130)^2: small 2,568,321 um^2 ->
    # 0.0389 mm^2, default 10,732,742 um^2 -> 0.1626 mm^2.
    assert analytic_area(SMALL)["total_mm2"] == pytest.approx(0.0389, rel=0.08)
    default = analytic_area(CONFIGS["default"])
    assert default["total_mm2"] == pytest.approx(0.1626, rel=0.02)
    assert default["gate_equivalents"]["array"] == 256 * 1503
    # L1: 2 x (IFM 512x128, WGT 256x128, RBK 256x128, OFM 256x512) as 64-bit macros, x2 ports.
    assert default["blocks"]["l1_memories"] == pytest.approx(
        5_673_485 * (16 / 130) ** 2 / 1e6, rel=1e-3
    )


def test_analytic_area_fanout_and_size():
    base = CONFIGS["default"]
    areas = [analytic_area(base.replace(multicast_fanout=f))["total_mm2"] for f in (16, 4, 1)]
    assert areas[0] < areas[1] < areas[2]  # more groups: more skew/de-skew registers
    big = base.replace(pe_rows=32, pe_cols=32, multicast_fanout=32)
    assert analytic_area(big)["blocks"]["array"] == pytest.approx(
        4 * analytic_area(base)["blocks"]["array"], rel=1e-4
    )


# --------------------------------------------------------------------------- CPU
def test_cpu_baseline_paths_agree_with_the_golden_model(tiny_room):
    pytest.importorskip("torch")
    from accss3d.cpubaseline import machine_info, measure_layers, median_time, time_rulebooks
    from accss3d.network import get_network

    seconds, plans = time_rulebooks(tiny_room.coords, get_network("unet-tiny"), repeats=1)
    assert seconds > 0 and len(plans) == 5
    res = measure_layers(plans, threads=(1, 2), repeats=1, warmup=0)
    for layer in res:
        assert layer.ok and all(layer.ok.values()), (layer.name, layer.rel_err)
        assert {"torch-1t", "torch-2t", "numpy-1t"} <= set(layer.times)
        path, t = layer.best(1)
        assert path.endswith("-1t") and t > 0
    info = machine_info()
    assert info["cores"] >= 1 and info["cpu"]
    assert median_time(lambda: None, repeats=3, warmup=0) >= 0


def test_cpu_baseline_unknown_path():
    from accss3d.cpubaseline import measure_layers

    with pytest.raises(
        ConfigError, match=r"^unknown CPU path 'gpu' \(known: spconv, torch, numpy\)$"
    ):
        measure_layers([], paths=("gpu",))
