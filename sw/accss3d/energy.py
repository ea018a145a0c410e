"""Owns the energy model: per-operation energies with sources, event counts of a program, CPU power.

The energy of a run is a sum of *events* times *energy per event*:

* events are counted from the program itself (:func:`count_events`: its instruction table
  and manifest, per layer) - MACs, L1 reads and writes per bank kind, pipeline-register
  bits, requantizations, DRAM bytes - and the time from the cycle model (or the RTL);
* energies per event (:class:`EnergyModel`) are published 45 nm figures (Horowitz, ISSCC
  2014), scaled to the configuration's node by a documented first-order factor.

Every figure is an *estimate*; docs/evaluation.md lists each constant with its source, the
scaling, what is and is not modelled.  The CPU baseline's energy is its measured time times
a documented package-power estimate (:func:`cpu_energy_j`).

# Ref: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
# pp. 10-14 (45 nm, 0.9 V: 8-bit add 0.03 pJ, 8-bit mult 0.2 pJ, 32-bit add 0.1 pJ,
# 32-bit mult 3.1 pJ, 64-bit SRAM read 8 KB 10 pJ / 32 KB 20 pJ / 1 MB 100 pJ,
# 64-bit DRAM access 1.3-2.6 nJ).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .arch import ArchConfig
from .errors import ConfigError
from .isa import INSTR_BYTES, Kind, Op, StoreMode
from .isatable import COL

__all__ = [
    "EnergyModel",
    "CATEGORIES",
    "I7_8700K",
    "SOURCES",
    "count_events",
    "layer_energy",
    "energy_report",
    "node_factor",
    "cpu_power_w",
    "cpu_energy_j",
]

#: The 45 nm reference of Horowitz's figures, and its supply.
REFERENCE_NODE_NM = 45.0
REFERENCE_VDD = 0.9

#: Nominal supply per node (first-order, for the C V^2 scaling of :func:`node_factor`):
#: 130 nm 1.2 V (IHP SG13G2's typical corner), 65 nm 1.0 V, 45 nm 0.9 V (Horowitz),
#: 28 nm 0.9 V, 16 nm 0.8 V (FinFET nominal), 7 nm 0.7 V.
NODE_VDD = {130.0: 1.2, 65.0: 1.0, 45.0: 0.9, 28.0: 0.9, 16.0: 0.8, 7.0: 0.7}

#: The paper's CPU: Intel Core i7-8700K, 6 cores / 12 threads, 95 W TDP (Intel ark).
I7_8700K = {"name": "Intel Core i7-8700K", "cores": 6, "tdp_w": 95.0, "source": "Intel ark"}

#: Energy categories of a breakdown, in stacking order.
CATEGORIES = (
    "mac",
    "pe_registers",
    "sram_ifm",
    "sram_wgt",
    "sram_rbk",
    "sram_ofm",
    "requant",
    "leakage",
    "dram",
)

#: Sources cited by the model (docs/evaluation.md, the report).
SOURCES = {
    "horowitz2014": "M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
    "ISSCC 2014, 45 nm 0.9 V: 8-bit add 0.03 pJ, 8-bit mult 0.2 pJ, 32-bit add 0.1 pJ, "
    "32-bit mult 3.1 pJ, 64-bit SRAM read 10 pJ (8 KB) / 20 pJ (32 KB) / 100 pJ (1 MB), "
    "64-bit DRAM access 1.3-2.6 nJ",
    "cacti": "CACTI-style capacity scaling: access energy grows as the square root of the "
    "array capacity (bit- and word-line lengths); the exponent 0.5 reproduces Horowitz's "
    "8 KB -> 32 KB step exactly and the 1 MB point within 12%",
    "eyeriss": "Y.-H. Chen, J. Emer, V. Sze, 'Eyeriss: a spatial architecture for energy-"
    "efficient dataflow for CNNs', ISCA 2016: a small register-file access costs about one "
    "MAC (used as a sanity check of the register energy)",
    "ark": "Intel ark, Core i7-8700K: 6 cores, 12 threads, 3.7 GHz base, TDP 95 W",
    "scaling": "first-order dynamic-energy scaling C V^2: capacitance proportional to the "
    "feature size, supply from NODE_VDD (45 nm 0.9 V -> 16 nm 0.8 V: x0.281)",
}


def _vdd(node_nm: float) -> float:
    """Supply of a node: the table value, else interpolated in log(node) (clamped)."""
    nodes = sorted(NODE_VDD)
    if node_nm in NODE_VDD:
        return NODE_VDD[node_nm]
    if node_nm <= nodes[0]:
        return NODE_VDD[nodes[0]]
    if node_nm >= nodes[-1]:
        return NODE_VDD[nodes[-1]]
    for lo, hi in zip(nodes, nodes[1:], strict=False):
        if lo < node_nm < hi:
            t = (math.log(node_nm) - math.log(lo)) / (math.log(hi) - math.log(lo))
            return NODE_VDD[lo] + t * (NODE_VDD[hi] - NODE_VDD[lo])
    raise AssertionError("unreachable")  # pragma: no cover


def node_factor(node_nm: float) -> float:
    """Dynamic-energy factor from 45 nm to ``node_nm``: ``(node / 45) * (V(node) / 0.9)^2``."""
    if not (isinstance(node_nm, (int, float)) and 1.0 <= node_nm <= 1000.0):
        raise ConfigError(f"node_nm must be a number in [1, 1000], not {node_nm!r}")
    return (node_nm / REFERENCE_NODE_NM) * (_vdd(float(node_nm)) / REFERENCE_VDD) ** 2


@dataclass(frozen=True)
class EnergyModel:
    """Energies per event at the 45 nm reference, and how they are applied.

    Parameters
    ----------
    node_nm : float
        The node the on-chip energies are scaled to (default 16 nm, the paper's).
    mult8_pj, add32_pj, mult32_pj : float
        Horowitz 2014 (45 nm): 8-bit multiply, 32-bit add, 32-bit multiply.  An int8 MAC
        with 32-bit accumulation is ``mult8 + add32``; a requantization (32-bit accumulator
        times a 16-bit multiplier, shift, clamp) is charged one 32-bit multiply (an upper
        bound) per output element.
    sram_pj_per_64b : float
        64-bit read of an 8 KB SRAM (Horowitz 2014: 10 pJ), at ``sram_ref_bytes``.
    sram_ref_bytes : int
        The capacity of that reference SRAM (8 KB).
    sram_exponent : float
        Capacity scaling of SRAM access energy (CACTI-style square root: 0.5).
    sram_write_factor : float
        Write energy relative to a read of the same width (1.0: CACTI gives writes within
        about 10% of reads for small arrays).
    reg_pj_per_bit : float, optional
        Energy of one pipeline-register bit written; default (``None``): the SRAM curve
        extrapolated to an 8-byte array, ``10 pJ * (8 / 8192)^0.5 / 64`` = 4.9 fJ/bit (so a
        PE's 40 register bits per MAC cost 0.19 pJ, about two thirds of the MAC: consistent
        with Eyeriss's "register-file access ~ 1 MAC").
    dram_pj_per_byte : float
        DRAM energy per byte moved (Horowitz 2014: 1.3 nJ per 64-bit access, the low end:
        162.5 pJ/B = 20.3 pJ/bit).  Not scaled with the node (an external device).
    leakage_mw_per_mm2 : float
        Static power per mm^2 of core area at ``node_nm`` (an assumption: 20 mW/mm^2, a
        typical figure for 16 nm logic + SRAM at room temperature; docs/evaluation.md).
    """

    node_nm: float = 16.0
    mult8_pj: float = 0.2
    add32_pj: float = 0.1
    mult32_pj: float = 3.1
    sram_pj_per_64b: float = 10.0
    sram_ref_bytes: int = 8192
    sram_exponent: float = 0.5
    sram_write_factor: float = 1.0
    reg_pj_per_bit: float | None = None
    dram_pj_per_byte: float = 1300.0 / 8
    leakage_mw_per_mm2: float = 20.0
    sources: dict = field(default_factory=lambda: dict(SOURCES), compare=False)

    def __post_init__(self) -> None:
        node_factor(self.node_nm)  # validates the node
        for name, value in asdict(self).items():
            if name in ("sources", "node_nm") or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"energy model {name} must be a number >= 0, not {value!r}")
        if self.sram_ref_bytes <= 0:
            raise ConfigError(f"sram_ref_bytes must be positive, not {self.sram_ref_bytes}")

    @property
    def scale(self) -> float:
        """Factor from the 45 nm figures to :attr:`node_nm` (on-chip energies)."""
        return node_factor(self.node_nm)

    def sram_pj_per_byte(self, bank_bytes: int) -> float:
        """Read energy per byte of one SRAM bank of ``bank_bytes``, at the target node."""
        per_64b = self.sram_pj_per_64b * (bank_bytes / self.sram_ref_bytes) ** self.sram_exponent
        return per_64b / 8 * self.scale

    def reg_bit_pj(self) -> float:
        """Energy per register bit written, at the target node."""
        if self.reg_pj_per_bit is not None:
            return self.reg_pj_per_bit * self.scale
        per_64b = self.sram_pj_per_64b * (8 / self.sram_ref_bytes) ** self.sram_exponent
        return per_64b / 64 * self.scale

    def mac_pj(self) -> float:
        """One int8 x int8 MAC with a 32-bit accumulation, at the target node."""
        return (self.mult8_pj + self.add32_pj) * self.scale

    def constants(self, cfg: ArchConfig) -> dict:
        """Every energy per event for ``cfg`` at the target node (pJ), for tables."""
        return {
            "node_nm": self.node_nm,
            "scale_from_45nm": round(self.scale, 4),
            "mac_pj": self.mac_pj(),
            "reg_bit_pj": self.reg_bit_pj(),
            "requant_pj": self.mult32_pj * self.scale,
            **{
                f"sram_{k}_pj_per_byte": self.sram_pj_per_byte(getattr(cfg, f"{k}_bank_bytes"))
                for k in ("ifm", "wgt", "rbk", "ofm")
            },
            "dram_pj_per_byte": self.dram_pj_per_byte,
            "leakage_mw_per_mm2": self.leakage_mw_per_mm2,
        }

    def to_dict(self) -> dict:
        """Plain-dict form (JSON)."""
        return asdict(self)


# --------------------------------------------------------------------------- events
def _beats(nbytes, bus: int):
    return -(-np.asarray(nbytes, dtype=np.int64) // bus)


def count_events(code: np.ndarray, cfg: ArchConfig, layers: list[dict]) -> list[dict]:
    """Per-layer event counts of a program (its instruction table and manifest layers).

    Counted exactly from the instructions: rulebook entries issued (COMPUTE ``pairs``),
    array MACs (``entries * R * C``, padding included - the MACS counter), L1 writes by LOAD
    kind, weight preloads (``R`` words per COMPUTE), FILL rows, STORE rows and elements,
    DMA bus bytes (beats of the bus: what the DRAM moves) and instruction fetch.  L1 reads:
    one IFM word, one RBK entry and one accumulator row per entry.  One estimate, from the
    rulebook: accumulator reads skip the first contribution of every (output, Cout tile)
    (``use_first``: ``out_voxels * n_co - FILL rows``); consecutive entries to the same
    accumulator row (merged in the index queue) are not subtracted - the compiler orders
    entries plane by plane, so they are rare (the RTL counts them).

    Parameters
    ----------
    code : ndarray
        The instruction table (:attr:`accss3d.program.Program.code`).
    cfg : ArchConfig
    layers : list of dict
        ``program.manifest["layers"]`` (``name``, ``pc``, ``cout``, ``out_voxels``).

    Returns
    -------
    list of dict
        One dict per layer (``name`` and the counts).
    """
    code = np.asarray(code)
    R, C, B = cfg.pe_rows, cfg.pe_cols, cfg.bus_bytes
    w_ifm, w_wgt, w_ofm = cfg.word_bytes("ifm"), cfg.word_bytes("wgt"), cfg.word_bytes("ofm")
    out = []
    for layer in layers:
        a, b = layer["pc"]
        t = code[a:b]
        op = t[:, COL["op"]]
        sub = t[:, COL["sub"]]
        rows = t[:, COL["rows"]]
        comp = op == int(Op.COMPUTE)
        entries = int(t[comp, COL["pairs"]].sum())
        computes = int(np.count_nonzero(comp))
        fill_rows = int(rows[op == int(Op.FILL)].sum())
        nops = int(np.count_nonzero(op == int(Op.NOP)))
        ld = op == int(Op.LOAD)
        row_bytes = t[:, COL["row_bytes"]]
        l1_wr = {}
        dram_rd = {}
        for kind in Kind:
            m = ld & (sub == int(kind))
            l1_wr[kind.name] = int((rows[m] * row_bytes[m]).sum())
            dram_rd[kind.name] = int((rows[m] * _beats(row_bytes[m], B)).sum() * B)
        st = op == int(Op.STORE)
        ch = t[st, COL["channels"]]
        raw = t[st, COL["sub"]] == int(StoreMode.RAW)
        elem = np.where(raw, cfg.acc_bits // 8, cfg.act_bits // 8)
        store_rows = int(rows[st].sum())
        store_elems = int((rows[st] * ch)[~raw].sum())
        dram_wr = int((rows[st] * _beats(ch * elem, B)).sum() * B)
        n_co = -(-int(layer.get("cout", C)) // C)
        firsts = max(0, int(layer.get("out_voxels", 0)) * n_co - fill_rows)
        firsts = min(firsts, entries)
        n_instr = b - a + 1  # the layer's SYNC/HALT
        out.append(
            {
                "name": layer["name"],
                "entries": entries,
                "computes": computes,
                "macs": entries * R * C,
                "fill_rows": fill_rows,
                "nops": nops,
                "ifm_rd_bytes": entries * w_ifm,
                "ifm_wr_bytes": l1_wr["IFM"],
                "wgt_rd_bytes": computes * R * w_wgt,
                "wgt_wr_bytes": l1_wr["WGT"],
                "rbk_rd_bytes": entries * 4,
                "rbk_wr_bytes": l1_wr["RBK"],
                "ofm_rd_bytes": (entries - firsts + store_rows) * w_ofm,
                "ofm_wr_bytes": (entries + fill_rows) * w_ofm + l1_wr["PSUM"],
                "first_entries": firsts,
                "bias_bytes": l1_wr["BIAS"],
                "store_rows": store_rows,
                "requants": store_elems,
                "dram_rd_bytes": sum(dram_rd.values()) + n_instr * INSTR_BYTES,
                "dram_rd_by_kind": {**dram_rd, "CODE": n_instr * INSTR_BYTES},
                "dram_wr_bytes": dram_wr,
                "instructions": n_instr,
            }
        )
    return out


def _register_bits(cfg: ArchConfig, ev: dict) -> dict:
    """Pipeline-register bits written: per MAC, per entry (interconnect), per preload."""
    R, C, G = cfg.pe_rows, cfg.pe_cols, cfg.groups
    a, acc, w = cfg.act_bits, cfg.acc_bits, cfg.weight_bits
    per_mac = acc  # the PE's partial-sum register
    # Row skew (row r delayed r cycles), the multicast chain (G - 1 registers per row) and
    # the output de-skew (group g of C/G columns delayed G - 1 - g cycles).
    per_entry = a * (R * (R - 1) // 2 + R * (G - 1)) + acc * (C // G) * (G * (G - 1) // 2)
    per_entry += a * R + 32  # the gathered IFM word and the rulebook entry into the array
    preload = R * C * w  # the idle weight registers of the next run
    return {
        "mac": ev["macs"] * per_mac,
        "interconnect": ev["entries"] * per_entry + ev["fill_rows"] * acc * C,
        "preload": ev["computes"] * preload + ev["bias_bytes"] * 8,
    }


def layer_energy(
    ev: dict, cfg: ArchConfig, model: EnergyModel, seconds: float, area_mm2: float
) -> dict:
    """Energy of one layer's events in pJ, per :data:`CATEGORIES` (and ``total``)."""
    kinds = ("ifm", "wgt", "rbk", "ofm")
    sram = {k: model.sram_pj_per_byte(getattr(cfg, f"{k}_bank_bytes")) for k in kinds}
    wf = model.sram_write_factor
    bits = _register_bits(cfg, ev)
    e = {
        "mac": ev["macs"] * model.mac_pj(),
        "pe_registers": sum(bits.values()) * model.reg_bit_pj(),
        **{f"sram_{k}": (ev[f"{k}_rd_bytes"] + wf * ev[f"{k}_wr_bytes"]) * sram[k] for k in kinds},
        "requant": ev["requants"] * model.mult32_pj * model.scale,
        "leakage": model.leakage_mw_per_mm2 * area_mm2 * seconds * 1e9,  # mW*s = 1e9 pJ
        "dram": (ev["dram_rd_bytes"] + ev["dram_wr_bytes"]) * model.dram_pj_per_byte,
    }
    e = {k: float(e[k]) for k in CATEGORIES}
    e["total"] = sum(e.values())
    e["on_chip"] = e["total"] - e["dram"]
    return e


def energy_report(
    code: np.ndarray,
    cfg: ArchConfig,
    layers: list[dict],
    layer_cycles: dict[str, int],
    *,
    model: EnergyModel | None = None,
    area_mm2: float,
    area_source: str = "",
    total_cycles: int | None = None,
) -> dict:
    """Per-layer and total energy of a program run (JSON-ready).

    Parameters
    ----------
    code, cfg, layers
        As :func:`count_events`.
    layer_cycles : dict
        Cycles per layer name (cycle model or RTL); time = cycles / ``cfg.clock_mhz``.
    model : EnergyModel, optional
    area_mm2 : float
        Core area at ``model.node_nm`` for the leakage (the area module or the analytic
        model; ``area_source`` says which).
    total_cycles : int, optional
        The whole program's cycles (default: the sum of the layers').
    """
    model = model or EnergyModel()
    events = count_events(code, cfg, layers)
    rows = []
    for ev in events:
        cycles = int(layer_cycles.get(ev["name"], 0))
        seconds = cycles / (cfg.clock_mhz * 1e6)
        en = layer_energy(ev, cfg, model, seconds, area_mm2)
        rows.append({"name": ev["name"], "cycles": cycles, "seconds": seconds,
                     "events": ev, "energy_pj": en})  # fmt: skip
    total = {k: sum(r["energy_pj"][k] for r in rows) for k in (*CATEGORIES, "total", "on_chip")}
    cycles = total_cycles if total_cycles is not None else sum(r["cycles"] for r in rows)
    seconds = cycles / (cfg.clock_mhz * 1e6)
    macs = sum(r["events"]["macs"] for r in rows)
    return {
        "model": {k: v for k, v in model.to_dict().items() if k != "sources"},
        "constants": model.constants(cfg),
        "sources": dict(model.sources),
        "area_mm2": area_mm2,
        "area_source": area_source,
        "layers": rows,
        "total_pj": total,
        "cycles": int(cycles),
        "seconds": seconds,
        "average_power_mw": total["total"] / seconds / 1e9 if seconds else 0.0,
        "on_chip_power_mw": total["on_chip"] / seconds / 1e9 if seconds else 0.0,
        "pj_per_mac_on_chip": total["on_chip"] / macs if macs else 0.0,
    }


# --------------------------------------------------------------------------- CPU
def cpu_power_w(cores: int, watts_per_core: float | None = None) -> float:
    """Package-power estimate of ``cores`` busy cores: ``cores * watts_per_core``.

    Default ``watts_per_core``: the paper's CPU, i7-8700K TDP / cores = 95 W / 6 = 15.8 W
    (Intel ark) - an estimate (TDP is a thermal design limit, not a measurement; uncore
    power is shared out per core).
    """
    if watts_per_core is None:
        watts_per_core = I7_8700K["tdp_w"] / I7_8700K["cores"]
    if not (isinstance(cores, int) and cores >= 1):
        raise ConfigError(f"cores must be a positive integer, not {cores!r}")
    return cores * float(watts_per_core)


def cpu_energy_j(seconds: float, cores: int, watts_per_core: float | None = None) -> float:
    """CPU energy estimate: measured time x :func:`cpu_power_w`."""
    return float(seconds) * cpu_power_w(cores, watts_per_core)
