"""Owns the requantizer datapath: accumulators -> output activations, bit-exact with
:meth:`accss3d.quant.Requant.apply`.

``y = (acc * M + 2^(shift-1)) >> shift`` (arithmetic shift, no rounding term when
``shift = 0``), then ReLU (optional), then saturation to ``act_bits`` - docs/arithmetic.md.

# Ref: docs/arithmetic.md, "Requantization".
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig

__all__ = ["Requantizer"]


class Requantizer(wiring.Component):
    """A pipelined requantizer of ``lanes`` accumulators per cycle.

    Parameters
    ----------
    cfg : ArchConfig
        Uses ``acc_bits``, ``requant_mult_bits`` and ``act_bits``.
    lanes : int
        Accumulators requantized per cycle.

    Members
    -------
    acc : In(data.ArrayLayout(signed(acc_bits), lanes))
        Accumulators (two's complement).
    multiplier : In(requant_mult_bits)
        Unsigned multiplier ``M``.
    shift : In(range(acc_bits + requant_mult_bits))
        Right shift.
    relu : In(1)
        Clamp negative results to 0 before saturating.
    out : Out(data.ArrayLayout(signed(act_bits), lanes))
        Requantized activations, :attr:`LATENCY` cycles after ``acc``.

    Latency and throughput: :attr:`LATENCY` = 3 cycles (multiply; round and shift; ReLU and
    saturate - one register after each), a new vector every cycle, no stall (the pipeline
    always advances; the user carries its own valid bits alongside).  ``multiplier``,
    ``shift`` and ``relu`` are read in the stages that use them and must be held while
    vectors are in flight.
    """

    #: Cycles from ``acc`` to ``out``.
    LATENCY = 3

    def __init__(self, *, cfg: ArchConfig, lanes: int):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise TypeError(f"lanes must be a positive integer, not {lanes!r}")
        self._cfg = cfg
        self._lanes = lanes
        super().__init__(
            {
                "acc": In(data.ArrayLayout(signed(cfg.acc_bits), lanes)),
                "multiplier": In(cfg.requant_mult_bits),
                "shift": In(range(cfg.acc_bits + cfg.requant_mult_bits)),
                "relu": In(1),
                "out": Out(data.ArrayLayout(signed(cfg.act_bits), lanes)),
            }
        )

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        width = cfg.acc_bits + cfg.requant_mult_bits + 1  # acc * M, signed
        hi = (1 << (cfg.act_bits - 1)) - 1
        lo = -(1 << (cfg.act_bits - 1))

        mult = Signal(signed(cfg.requant_mult_bits + 1), name="mult_signed")
        rounding = Signal(signed(width), name="rounding")  # 2^(shift-1), 0 for shift 0
        m.d.comb += mult.eq(Cat(self.multiplier, Const(0, 1)).as_signed())
        m.d.sync += rounding.eq((Const(1, width) << self.shift) >> 1)
        floor = Signal(signed(cfg.act_bits + 1), name="floor")
        m.d.comb += floor.eq(Mux(self.relu, 0, lo))

        for lane in range(self._lanes):
            prod = Signal(signed(width), name=f"prod{lane}")
            shifted = Signal(signed(width), name=f"shifted{lane}")
            m.d.sync += [
                prod.eq(self.acc[lane] * mult),
                shifted.eq((prod + rounding) >> self.shift),
                self.out[lane].eq(
                    Mux(shifted > hi, hi, Mux(shifted < floor, floor, shifted[: cfg.act_bits]))
                ),
            ]
        return m
