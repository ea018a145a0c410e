"""Owns the analytic area model: a documented estimate of a config's area at 16 nm, no synthesis.

Design-space sweeps evaluate many configurations; synthesizing each one with Yosys
(:mod:`accss3d.area`, minutes per config) is the accurate path, this model the fast one.
It counts NAND2 gate equivalents (GE) per block and SRAM macros per L1 bank, with constants
fitted to the two configurations synthesized with the IHP SG13G2 cells and SRAM macros
(``accss3d area --config small|default --pdk sg13g2``, areas / 7.2576 um^2 per NAND2):

* **PE array**: 1,503 GE per int8/int32 PE (``default``: 2,793,229 um^2 / 256 PEs), scaled
  for other widths by ``6 a w + 7 acc + 7 (acc + 2 w) + 559`` (multiplier, adder, partial
  sum and two weight registers; a flip-flop with enable = 7 GE) relative to 8/8/32.  (The
  ``small`` synthesis gives 1,066 GE per PE: ABC maps the same PE differently in context.)
* **Interconnect**: 10.4 GE per register bit of the row skew, the multicast chain and the
  output de-skew (``act_bits (R (R-1)/2 + R (G-1)) + acc_bits (C/G) G (G-1)/2``) plus 612 GE
  (two-point fit: 1,112 GE for 48 bits, 10,616 GE for 960 bits).
* **Output lanes** (accumulator, requantizer and store path, L1 logic): 15,459 + 10,087 GE
  per ``pe_cols`` lane (two-point fit: 4 and 16 lanes).
* **Control** (controller, decoder, queues, fetch, load, CSRs): 38,482 + 674 GE per bus bit
  (two-point fit: 32 and 128 bits; the fetch buffer and the DMA datapaths grow with the bus).
* **L1 banks**: as :mod:`accss3d.area` covers them - rows of ``max(word, bus)`` bytes,
  ``ceil(bits / 64)`` macros side by side (48-bit macros for rows of at most 48 bits), each
  of the smallest depth in 256..2048 that holds the bank (more rows of macros beyond 2048
  words); macro area ``36,260 um^2 + 3.474 um^2/bit`` at 130 nm (a linear fit of the IHP
  SG13G2 ``RM_IHPSG13_1P`` macros, exact to 0.1% from 64x64 to 2048x64), times 2 for the
  banks' one read and one write port (the area module's ``dual_port_factor``).
* everything scaled to 16 nm with the area module's rule ``(16 / 130)^2``.

An *estimate*: within a few percent of both syntheses it was fitted to, unknown elsewhere
(docs/evaluation.md).

# Ref: accss3d.area (docs/area.md); IHP SG13G2 open PDK liberty files.
"""

from __future__ import annotations

from .arch import ArchConfig

__all__ = ["analytic_area", "NAND2_UM2_130", "SRAM_FIXED_UM2_130", "SRAM_UM2_PER_BIT_130"]

#: NAND2 area of the reference library (IHP SG13G2 ``sg13g2_nand2_1``), um^2 at 130 nm.
NAND2_UM2_130 = 7.2576
#: Fitted single-port SRAM macro area at 130 nm: fixed periphery and per bit (um^2).
SRAM_FIXED_UM2_130 = 36_260.0
SRAM_UM2_PER_BIT_130 = 3.474
_DUAL_PORT = 2.0
_SCALE = (16.0 / 130.0) ** 2
_PE_GE = 1503.0
_IC_GE_PER_BIT, _IC_GE = 10.4, 612.0
_LANE_GE, _LANES_GE = 10_087.0, 15_459.0
_CONTROL_GE, _CONTROL_GE_PER_BUS_BIT = 38_482.0, 674.0
_MACRO_DEPTHS = (256, 512, 1024, 2048)


def _pe_ge(a: int, w: int, acc: int) -> float:
    def f(a, w, acc):
        return 6 * a * w + 7 * acc + 7 * (acc + 2 * w) + 559

    return _PE_GE * f(a, w, acc) / f(8, 8, 32)


def _bank_um2(bank_bytes: int, row_bytes: int) -> float:
    """Area at 130 nm of one 1R1W bank of ``bank_bytes`` in rows of ``row_bytes``."""
    bits = 8 * row_bytes
    words = max(1, bank_bytes // row_bytes)
    width = 48 if bits <= 48 else 64
    cols = -(-bits // width)
    depth = next((d for d in _MACRO_DEPTHS if d >= words), _MACRO_DEPTHS[-1])
    rows = -(-words // depth)
    macro = SRAM_FIXED_UM2_130 + SRAM_UM2_PER_BIT_130 * width * depth
    return cols * rows * macro * _DUAL_PORT


def analytic_area(cfg: ArchConfig) -> dict:
    """Estimated area of ``cfg`` at 16 nm: ``{"blocks": {name: mm^2}, "total_mm2": ...}``."""
    R, C, G = cfg.pe_rows, cfg.pe_cols, cfg.groups
    a, w, acc = cfg.act_bits, cfg.weight_bits, cfg.acc_bits
    ic_bits = a * (R * (R - 1) // 2 + R * (G - 1)) + acc * (C // G) * (G * (G - 1) // 2)
    ge = {
        "array": R * C * _pe_ge(a, w, acc),
        "interconnect": _IC_GE_PER_BIT * ic_bits + _IC_GE,
        "lanes": _LANES_GE + C * _LANE_GE,
        "control": _CONTROL_GE + _CONTROL_GE_PER_BUS_BIT * cfg.bus_data_bits,
    }
    blocks = {k: v * NAND2_UM2_130 * _SCALE / 1e6 for k, v in ge.items()}
    l1 = 0.0
    for kind in ("ifm", "wgt", "rbk", "ofm"):
        row = max(cfg.word_bytes(kind), cfg.bus_bytes)
        l1 += getattr(cfg, f"{kind}_banks") * _bank_um2(getattr(cfg, f"{kind}_bank_bytes"), row)
    blocks["l1_memories"] = l1 * _SCALE / 1e6
    return {
        "mode": "analytic-estimate",
        "node_nm": 16.0,
        "blocks": {k: round(v, 6) for k, v in blocks.items()},
        "total_mm2": round(sum(blocks.values()), 6),
        "gate_equivalents": {k: round(v) for k, v in ge.items()},
    }
