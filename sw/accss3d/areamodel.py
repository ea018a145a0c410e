"""Owns the analytic area model: a documented estimate of a config's area at 16 nm, no synthesis.

Design-space sweeps evaluate hundreds of configurations; synthesizing each one with Yosys
(:mod:`accss3d.area`, minutes per config) is the accurate path, this model the fast one.
It counts NAND2 gate equivalents (GE) per block and SRAM bits per L1 bank:

* **PE** (``pe_rows x pe_cols``): multiplier ``6 * act_bits * weight_bits`` GE, accumulator
  adder ``7 * acc_bits``, registers ``7 * (acc_bits + 2 * weight_bits)`` (partial sum, two
  weight registers; a flip-flop with enable = 7 GE, the area module's generic rule
  4.5 + 2.5), plus 122 GE of selection logic - 1,066 GE for the int8/int32 PE, the
  ``compute.array`` area per PE of the ``small`` config synthesized with the IHP SG13G2
  cells (``accss3d area --config small --pdk sg13g2``: 123,779 um^2 / 16 PEs / 7.2576 um^2).
* **Interconnect**: the row skew, the multicast chain and the output de-skew registers
  (``act_bits * (R (R-1)/2 + R (G-1)) + acc_bits * (C/G) * G (G-1)/2`` bits, 7 GE each) plus
  776 GE (tags, valid bits: the ``small`` synthesis' remainder).
* **Per output lane** (``pe_cols`` lanes: accumulator, requantizer, store path, L1 logic):
  13,952 GE per lane (the ``small`` synthesis: 405,018 um^2 for 4 lanes).
* **Control** (controller, decoder, queues, fetch, load, CSRs): 60,050 GE, plus
  ``bus_data_bits`` scaled from the 32-bit ``small`` bus (the DMA datapaths): 10% of it per
  doubling of the bus.
* **L1 banks**: one single-port macro per bank, area ``36,260 um^2 + 3.474 um^2/bit`` at
  130 nm (fitted to the IHP SG13G2 ``RM_IHPSG13_1P`` macros from 64x64 to 2048x64: exact to
  0.1%), times 2 for the banks' one read and one write port (the area module's
  ``dual_port_factor``).
* GE are IHP SG13G2 ``sg13g2_nand2_1`` (7.2576 um^2, 130 nm); everything is scaled to 16 nm
  with the area module's rule ``(16 / 130)^2``.

So the model reproduces the ``small`` config's sg13g2 synthesis by construction; on other
configs it is an *estimate* (docs/evaluation.md compares it with the synthesized default).

# Ref: accss3d.area (docs/area.md); IHP SG13G2 open PDK liberty files.
"""

from __future__ import annotations

import math

from .arch import ArchConfig

__all__ = ["analytic_area", "NAND2_UM2_130", "SRAM_FIXED_UM2_130", "SRAM_UM2_PER_BIT_130"]

#: NAND2 area of the reference library (IHP SG13G2 ``sg13g2_nand2_1``), um^2 at 130 nm.
NAND2_UM2_130 = 7.2576
#: Fitted single-port SRAM macro area at 130 nm: fixed periphery and per bit (um^2).
SRAM_FIXED_UM2_130 = 36_260.0
SRAM_UM2_PER_BIT_130 = 3.474
_DUAL_PORT = 2.0
_SCALE = (16.0 / 130.0) ** 2
_FF_GE = 7.0
_LANE_GE = 13_952.0
_CONTROL_GE = 60_050.0
_INTERCONNECT_GE = 776.0
_PE_MISC_GE = 122.0


def analytic_area(cfg: ArchConfig) -> dict:
    """Estimated area of ``cfg`` at 16 nm: ``{"blocks": {name: mm^2}, "total_mm2": ...}``."""
    R, C, G = cfg.pe_rows, cfg.pe_cols, cfg.groups
    a, w, acc = cfg.act_bits, cfg.weight_bits, cfg.acc_bits
    pe_ge = 6 * a * w + 7 * acc + _FF_GE * (acc + 2 * w) + _PE_MISC_GE
    ic_bits = a * (R * (R - 1) // 2 + R * (G - 1)) + acc * (C // G) * (G * (G - 1) // 2)
    bus_factor = 1.0 + 0.1 * math.log2(cfg.bus_data_bits / 32)
    ge = {
        "array": R * C * pe_ge,
        "interconnect": _FF_GE * ic_bits + _INTERCONNECT_GE,
        "lanes": C * _LANE_GE,
        "control": _CONTROL_GE * bus_factor,
    }
    blocks = {k: v * NAND2_UM2_130 * _SCALE / 1e6 for k, v in ge.items()}
    l1 = 0.0
    for kind in ("ifm", "wgt", "rbk", "ofm"):
        bits = getattr(cfg, f"{kind}_bank_bytes") * 8
        macro = SRAM_FIXED_UM2_130 + SRAM_UM2_PER_BIT_130 * bits
        l1 += getattr(cfg, f"{kind}_banks") * macro * _DUAL_PORT
    blocks["l1_memories"] = l1 * _SCALE / 1e6
    return {
        "mode": "analytic-estimate",
        "node_nm": 16.0,
        "blocks": {k: round(v, 6) for k, v in blocks.items()},
        "total_mm2": round(sum(blocks.values()), 6),
        "gate_equivalents": {k: round(v) for k, v in ge.items()},
    }
