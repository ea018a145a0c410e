"""Owns the PE array: rows x cols PEs with systolic partial sums and multicast inputs.

Index convention: ``pe[r][c]`` is the PE at row ``r`` (input channel ``r`` of the Cin tile),
column ``c`` (output channel ``c`` of the Cout tile); column ``c`` belongs to multicast group
``g = c // multicast_fanout``.

The array receives, per row and group, the activation already delayed by the interconnect
(:class:`sspnna.interconnect.Interconnect`): row ``r`` of group ``g`` sees an entry
``r + g`` cycles after row 0 of group 0.  Partial sums move down one row per cycle, so the
bottom of column ``c`` (group ``g``) delivers an entry's ``sum_r x_r * w_rc`` ``rows + g``
cycles after the entry entered row 0.

Weights are written one row per cycle (``w_we``, ``w_row``, ``w_bank``, ``w_data`` holding
``cols`` weights) into the idle weight register of every PE of that row.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig

from .pe import pe_logic

__all__ = ["PEArray"]


class PEArray(wiring.Component):
    """The ``pe_rows x pe_cols`` processing-element array.

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    x : In(ArrayLayout(ArrayLayout(signed(act_bits), groups), rows))
        ``x[r][g]``: activation of row ``r`` for multicast group ``g`` (already skewed).
    wsel : In(ArrayLayout(ArrayLayout(1, groups), rows))
        Weight register selector travelling with ``x``.
    w_we : In(1), w_row : In(range(rows)), w_bank : In(1)
    w_data : In(ArrayLayout(signed(weight_bits), cols))
        Weight-row write port.
    psum : Out(ArrayLayout(signed(acc_bits), cols))
        Bottom-row partial sums (column ``c`` is ``rows + c // fanout`` cycles behind row 0).

    Latency and throughput: one entry (``rows * cols`` MACs) per cycle; ``rows`` cycles from
    row 0 to the bottom output of group 0.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        rows, cols, groups = cfg.pe_rows, cfg.pe_cols, cfg.groups
        super().__init__(
            {
                "x": In(data.ArrayLayout(data.ArrayLayout(signed(cfg.act_bits), groups), rows)),
                "wsel": In(data.ArrayLayout(data.ArrayLayout(1, groups), rows)),
                "w_we": In(1),
                "w_row": In(range(max(rows, 2))),
                "w_bank": In(1),
                "w_data": In(data.ArrayLayout(signed(cfg.weight_bits), cols)),
                "psum": Out(data.ArrayLayout(signed(cfg.acc_bits), cols)),
            }
        )

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        fan = cfg.multicast_fanout
        for c in range(cfg.pe_cols):
            g = c // fan
            above = None
            for r in range(cfg.pe_rows):
                we = Signal(name=f"we_r{r}_c{c}")
                m.d.comb += we.eq(self.w_we & (self.w_row == r))
                psum_in = above if above is not None else 0
                above = pe_logic(
                    m,
                    cfg,
                    self.x[r][g],
                    self.wsel[r][g],
                    psum_in,
                    we,
                    self.w_bank,
                    self.w_data[c],
                    f"pe_r{r}_c{c}",
                )
            m.d.comb += self.psum[c].eq(above)
        return m
