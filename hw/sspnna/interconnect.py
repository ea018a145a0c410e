"""Owns the array's interconnect: row skew, multicast groups and output de-skew.

An entry enters as one activation vector ``x`` (``pe_rows`` values) with its tag.  Row
``r`` of multicast group ``g`` receives ``x[r]`` after ``r + g`` registers: ``r`` for the
systolic row skew (so each partial sum meets its row's product), ``g`` for the register
between consecutive multicast groups of a row (one value reaches ``multicast_fanout`` PEs
per cycle).  At the bottom, group ``g``'s columns are delayed ``groups - 1 - g`` more cycles
so that a whole result vector leaves aligned, and the tag is delayed to match.

Latency: an entry's result vector is valid ``pe_rows + groups - 1`` cycles after the entry
is presented (``rows`` PE registers down a column, ``groups - 1`` for the group chain plus
the de-skew).  Throughput: one entry per cycle, never stalls.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig

__all__ = ["Interconnect", "tag_layout"]


def tag_layout() -> data.StructLayout:
    """What travels with an entry to the accumulator.

    ``valid`` (a result to accumulate), ``row`` (accumulator row), ``first`` (write
    ``bias + psum``), ``fill`` (write ``bias``), ``last`` (the instruction completes with this
    entry), ``sp``/``sn`` (its token signals).
    """
    return data.StructLayout(
        {
            "valid": 1,
            "row": 16,
            "first": 1,
            "fill": 1,
            "last": 1,
            "sp": 1,
            "sn": 1,
        }
    )


class Interconnect(wiring.Component):
    """Skew, multicast and de-skew around :class:`sspnna.array.PEArray`.

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    x_in : In(ArrayLayout(signed(act_bits), rows)), wsel_in : In(1), tag_in : In(tag_layout())
        The entry presented this cycle.
    x_out : Out(ArrayLayout(ArrayLayout(signed(act_bits), groups), rows)), wsel_out
        To the array: ``x_out[r][g]`` is ``x_in[r]`` of ``r + g`` cycles ago.
    psum_in : In(ArrayLayout(signed(acc_bits), cols))
        The array's bottom row.
    psum_out : Out(ArrayLayout(signed(acc_bits), cols)), tag_out : Out(tag_layout())
        The aligned result and its tag (``rows + groups - 1`` cycles after ``x_in``).
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        rows, cols, groups = cfg.pe_rows, cfg.pe_cols, cfg.groups
        super().__init__(
            {
                "x_in": In(data.ArrayLayout(signed(cfg.act_bits), rows)),
                "wsel_in": In(1),
                "tag_in": In(tag_layout()),
                "x_out": Out(
                    data.ArrayLayout(data.ArrayLayout(signed(cfg.act_bits), groups), rows)
                ),
                "wsel_out": Out(data.ArrayLayout(data.ArrayLayout(1, groups), rows)),
                "psum_in": In(data.ArrayLayout(signed(cfg.acc_bits), cols)),
                "psum_out": Out(data.ArrayLayout(signed(cfg.acc_bits), cols)),
                "tag_out": Out(tag_layout()),
            }
        )

    @property
    def latency(self) -> int:
        """Cycles from ``x_in`` to the aligned ``psum_out``/``tag_out``."""
        return self.cfg.pe_rows + self.cfg.groups - 1

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        groups = cfg.groups
        for r in range(cfg.pe_rows):
            # One delay line per row; group g taps it at delay r + g.
            x_prev, s_prev = self.x_in[r], self.wsel_in
            taps = {0: (x_prev, s_prev)}
            for d in range(1, r + groups):
                xd = Signal(signed(cfg.act_bits), name=f"skew_r{r}_d{d}")
                sd = Signal(name=f"skew_sel_r{r}_d{d}")
                m.d.sync += [xd.eq(x_prev), sd.eq(s_prev)]
                taps[d] = (xd, sd)
                x_prev, s_prev = xd, sd
            for g in range(groups):
                xt, st = taps[r + g]
                m.d.comb += [self.x_out[r][g].eq(xt), self.wsel_out[r][g].eq(st)]
        fan = cfg.multicast_fanout
        for c in range(cfg.pe_cols):
            g = c // fan
            prev = self.psum_in[c]
            for d in range(groups - 1 - g):
                pd = Signal(signed(cfg.acc_bits), name=f"deskew_c{c}_d{d}")
                m.d.sync += pd.eq(prev)
                prev = pd
            m.d.comb += self.psum_out[c].eq(prev)
        prev = self.tag_in
        for d in range(self.latency):
            td = Signal(tag_layout(), name=f"tag_d{d}")
            m.d.sync += td.eq(prev)
            prev = td
        m.d.comb += self.tag_out.eq(prev)
        return m
