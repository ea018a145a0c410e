"""Owns the processing element: a signed multiply-accumulate with two weight registers.

``psum_out <= psum_in + x * w[wsel]`` every cycle (registered), widths from the config:
``act_bits`` x ``weight_bits`` signed operands, ``acc_bits`` two's complement partial sums
(wrapping).  Two weight registers let the next weight-plane tile be preloaded while the
current one is in use; ``wsel`` travels with each activation so the switch needs no bubble.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig

__all__ = ["PE", "pe_logic"]


def pe_logic(m: Module, cfg: ArchConfig, x, wsel, psum_in, w_we, w_bank, w_data, name: str):
    """Add one PE's logic to module ``m``; return its registered ``psum_out`` signal.

    Used by :class:`PE` and, inlined, by :class:`sspnna.array.PEArray` (one Verilog module
    for the whole array instead of ``rows * cols`` module definitions).
    """
    w0 = Signal(signed(cfg.weight_bits), name=f"{name}_w0")
    w1 = Signal(signed(cfg.weight_bits), name=f"{name}_w1")
    psum_out = Signal(signed(cfg.acc_bits), name=f"{name}_psum")
    with m.If(w_we & ~w_bank):
        m.d.sync += w0.eq(w_data)
    with m.If(w_we & w_bank):
        m.d.sync += w1.eq(w_data)
    product = Signal(signed(cfg.act_bits + cfg.weight_bits), name=f"{name}_prod")
    m.d.comb += product.eq(x * Mux(wsel, w1, w0))
    m.d.sync += psum_out.eq((psum_in + product)[: cfg.acc_bits].as_signed())
    return psum_out


class PE(wiring.Component):
    """One processing element.

    Parameters
    ----------
    cfg : ArchConfig
        Widths (``act_bits``, ``weight_bits``, ``acc_bits``).

    Members
    -------
    x : In(signed(act_bits))
        Activation of this cycle.
    wsel : In(1)
        Which weight register ``x`` is multiplied with.
    psum_in : In(signed(acc_bits))
        Partial sum from the PE above (0 for row 0).
    psum_out : Out(signed(acc_bits))
        ``psum_in + x * w[wsel]`` of the previous cycle.
    w_we, w_bank, w_data : In(1), In(1), In(signed(weight_bits))
        Write ``w_data`` into weight register ``w_bank``.

    Latency and throughput: one MAC per cycle, result one cycle later.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        super().__init__(
            {
                "x": In(signed(cfg.act_bits)),
                "wsel": In(1),
                "psum_in": In(signed(cfg.acc_bits)),
                "psum_out": Out(signed(cfg.acc_bits)),
                "w_we": In(1),
                "w_bank": In(1),
                "w_data": In(signed(cfg.weight_bits)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        out = pe_logic(
            m, self.cfg, self.x, self.wsel, self.psum_in, self.w_we, self.w_bank, self.w_data, "pe"
        )
        m.d.comb += self.psum_out.eq(out)
        return m
