"""Owns the signatures blocks of the core talk through (AXI, L1 ports, engines, tokens).

Conventions
-----------
* Every signature is written from the *initiator's* side (``Out`` = driven by the block that
  starts transfers); the responder uses ``.flip()``.
* Streams are ``amaranth.lib.stream`` (valid/ready, payload held while ``valid & ~ready``).
* Ext (external) addresses are byte addresses, ``cfg.addr_bits`` wide; L1 *physical rows*
  are rows of the SRAM of a bank kind (:func:`phys_bytes` bytes wide).

# Ref: AMBA AXI4 / AXI4-Lite (ARM IHI 0022).
"""

from __future__ import annotations

from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig
from accss3d.isa import INSTR_BITS

__all__ = [
    "AXI_ID_BITS",
    "ID_LOAD",
    "ID_FETCH",
    "ID_STORE",
    "MAX_OUTSTANDING",
    "KIND_BITS",
    "phys_bytes",
    "phys_rows",
    "lanes",
    "axi_ar_layout",
    "axi_r_layout",
    "axi_aw_layout",
    "axi_w_layout",
    "axi_b_layout",
    "AxiReadSignature",
    "AxiWriteSignature",
    "AxiLiteSignature",
    "issue_layout",
    "L1WriteSignature",
    "TokenSignature",
    "ErrorSignature",
]

#: AXI ID width and the IDs of the three initiators (reads: load 0, fetch 1; writes: store 0).
AXI_ID_BITS = 2
ID_LOAD = 0
ID_FETCH = 1
ID_STORE = 0
#: Read/write bursts an engine may have in flight.
MAX_OUTSTANDING = 4
#: Width of the L1 bank-kind selector (accss3d.isa.Kind values: IFM..BIAS).
KIND_BITS = 3


# ---------------------------------------------------------------- L1 geometry
def phys_bytes(cfg: ArchConfig, kind: str) -> int:
    """Bytes of one physical SRAM row of a kind: ``max(word, bus)`` (BIAS: ``pe_cols*4``).

    ``kind`` is ``ifm``, ``wgt``, ``rbk``, ``ofm`` or ``bias``.
    """
    if kind == "bias":
        return cfg.pe_cols * cfg.acc_bits // 8
    return max(cfg.word_bytes(kind), cfg.bus_bytes)


def phys_rows(cfg: ArchConfig, kind: str) -> int:
    """Physical rows of a kind over all its banks (BIAS: 1)."""
    if kind == "bias":
        return 1
    return cfg.words(kind) * cfg.word_bytes(kind) // phys_bytes(cfg, kind)


def lanes(cfg: ArchConfig, kind: str) -> int:
    """Bus beats per physical row (``phys_bytes / bus_bytes``)."""
    return phys_bytes(cfg, kind) // cfg.bus_bytes


# ---------------------------------------------------------------- AXI4
def axi_ar_layout(cfg: ArchConfig) -> data.StructLayout:
    """AR/AW channel payload: id, addr, len (beats-1), size (log2 bytes), burst (1 = INCR)."""
    return data.StructLayout(
        {
            "id": AXI_ID_BITS,
            "addr": cfg.addr_bits,
            "len": 8,
            "size": 3,
            "burst": 2,
        }
    )


axi_aw_layout = axi_ar_layout


def axi_r_layout(cfg: ArchConfig) -> data.StructLayout:
    """R channel payload."""
    return data.StructLayout(
        {
            "id": AXI_ID_BITS,
            "data": cfg.bus_data_bits,
            "resp": 2,
            "last": 1,
        }
    )


def axi_w_layout(cfg: ArchConfig) -> data.StructLayout:
    """W channel payload (no WID in AXI4)."""
    return data.StructLayout(
        {
            "data": cfg.bus_data_bits,
            "strb": cfg.bus_bytes,
            "last": 1,
        }
    )


def axi_b_layout(cfg: ArchConfig) -> data.StructLayout:
    """B channel payload."""
    return data.StructLayout({"id": AXI_ID_BITS, "resp": 2})


class AxiReadSignature(wiring.Signature):
    """AXI4 read channels, initiator side: ``ar`` out, ``r`` in."""

    def __init__(self, cfg: ArchConfig):
        super().__init__(
            {
                "ar": Out(stream.Signature(axi_ar_layout(cfg))),
                "r": In(stream.Signature(axi_r_layout(cfg))),
            }
        )


class AxiWriteSignature(wiring.Signature):
    """AXI4 write channels, initiator side: ``aw``/``w`` out, ``b`` in."""

    def __init__(self, cfg: ArchConfig):
        super().__init__(
            {
                "aw": Out(stream.Signature(axi_aw_layout(cfg))),
                "w": Out(stream.Signature(axi_w_layout(cfg))),
                "b": In(stream.Signature(axi_b_layout(cfg))),
            }
        )


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite (32-bit data, ``addr_bits`` address), initiator side."""

    def __init__(self, addr_bits: int = 8):
        super().__init__(
            {
                "aw": Out(stream.Signature(data.StructLayout({"addr": addr_bits}))),
                "w": Out(stream.Signature(data.StructLayout({"data": 32, "strb": 4}))),
                "b": In(stream.Signature(data.StructLayout({"resp": 2}))),
                "ar": Out(stream.Signature(data.StructLayout({"addr": addr_bits}))),
                "r": In(stream.Signature(data.StructLayout({"data": 32, "resp": 2}))),
            }
        )


# ---------------------------------------------------------------- engines
def issue_layout() -> data.StructLayout:
    """An instruction dispatched to an engine: its 128 bits and its index (``pc``)."""
    return data.StructLayout({"bits": INSTR_BITS, "pc": 32})


class L1WriteSignature(wiring.Signature):
    """One bus beat written into L1 (initiator: the load engine).

    Members
    -------
    en : Out(1)
        Write this cycle (no back-pressure: L1 write ports are dedicated to the DMA).
    kind : Out(3)
        ``accss3d.isa.Kind`` (IFM, WGT, RBK, PSUM = OFM accumulators, BIAS).
    row : Out(16)
        Physical row within the kind (all banks; bank = row // rows per bank).
    lane : Out(8)
        Which ``bus_bytes`` lane of the physical row the beat fills.
    data : Out(bus_data_bits)
    be : Out(bus_bytes)
        Byte enables of the beat (partial last beats of a row).
    """

    def __init__(self, cfg: ArchConfig):
        super().__init__(
            {
                "en": Out(1),
                "kind": Out(KIND_BITS),
                "row": Out(16),
                "lane": Out(8),
                "data": Out(cfg.bus_data_bits),
                "be": Out(cfg.bus_bytes),
            }
        )


class TokenSignature(wiring.Signature):
    """An engine's view of one token semaphore shared with a neighbour engine.

    The controller holds the counters.  ``avail`` is high when the count is > 0; ``take``
    (one cycle) consumes one (only while ``avail``); ``give`` (one cycle) adds one.
    """

    def __init__(self):
        super().__init__({"avail": In(1), "take": Out(1), "give": Out(1)})


class ErrorSignature(wiring.Signature):
    """An engine's error report: ``valid`` with the ErrorCode and the instruction index."""

    def __init__(self):
        super().__init__({"valid": Out(1), "code": Out(4), "pc": Out(32)})
