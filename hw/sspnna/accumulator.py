"""Owns the accumulate stage: the index queue that merges contributions into accumulators.

Every cycle the aligned result vector of one rulebook entry arrives with its tag (the
accumulator row, ``first``/``fill`` flags, completion flags).  Two stages:

* **S0** reads the row's accumulators (skipped for ``first``/``fill`` entries);
* **S1** adds ``psum`` to the old value (or to the bias for ``first``; ``fill`` writes the
  bias) and writes the row back.

The *index queue* holds the rows whose new value is not yet in the SRAM (here: the entry in
S1 when its successor reads).  A read that hits it takes the queued value instead of the
stale SRAM word, so consecutive contributions to the same output merge locally; and when
the next entry targets the same row, S1 does not write at all (write combining: the merged
sum is written once, by the last contribution of the run).  Nothing is lost and the stage
never stalls.

Latency: 2 cycles from a result's arrival to its write.  Throughput: one row per cycle.
``done`` pulses one cycle after the write of an entry tagged ``last`` (the instruction's
effects are then in the SRAM), with that entry's ``sp``/``sn`` token flags.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig

from .interconnect import tag_layout

__all__ = ["Accumulator"]


class Accumulator(wiring.Component):
    """Read-add-write of accumulator rows with forwarding and write combining.

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    psum : In(ArrayLayout(signed(acc_bits), pe_cols)), tag : In(tag_layout())
        The aligned result of one entry (``tag.valid`` marks a real one).
    bias : In(ArrayLayout(signed(acc_bits), pe_cols))
    raddr, ren : Out(16), Out(1); rdata : In(pe_cols * acc_bits)
    waddr, wen, wdata : Out(16), Out(1), Out(pe_cols * acc_bits)
        The accumulator SRAM ports (data one cycle after ``raddr``).
    done, done_sp, done_sn : Out(1)
        Completion of an instruction (its last entry's write has landed) and its signals.
    writes, merges : Out(1)
        Per-cycle event flags for the energy counters (an SRAM write; a write saved).
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        vec = data.ArrayLayout(signed(cfg.acc_bits), cfg.pe_cols)
        super().__init__(
            {
                "psum": In(vec),
                "tag": In(tag_layout()),
                "bias": In(vec),
                "raddr": Out(16),
                "ren": Out(1),
                "rdata": In(cfg.pe_cols * cfg.acc_bits),
                "waddr": Out(16),
                "wen": Out(1),
                "wdata": Out(cfg.pe_cols * cfg.acc_bits),
                "done": Out(1),
                "done_sp": Out(1),
                "done_sn": Out(1),
                "writes": Out(1),
                "merges": Out(1),
            }
        )

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        vec = data.ArrayLayout(signed(cfg.acc_bits), cfg.pe_cols)
        # S0: issue the read.
        m.d.comb += [
            self.raddr.eq(self.tag.row),
            self.ren.eq(self.tag.valid & ~self.tag.first & ~self.tag.fill),
        ]
        s1_tag = Signal(tag_layout(), name="s1_tag")
        s1_psum = Signal(vec, name="s1_psum")
        m.d.sync += [s1_tag.eq(self.tag), s1_psum.eq(self.psum)]
        # The index queue: the last row S1 computed and its value (not yet in SRAM if the
        # write was combined, or written in the same cycle as this read).
        q_valid = Signal(name="iq_valid")
        q_row = Signal(16, name="iq_row")
        q_value = Signal(vec, name="iq_value")
        old = Signal(vec, name="s1_old")
        hit = Signal(name="iq_hit")
        m.d.comb += hit.eq(q_valid & (q_row == s1_tag.row))
        m.d.comb += old.eq(Mux(hit, q_value.as_value(), self.rdata))
        base = Signal(vec, name="s1_base")
        with m.If(s1_tag.first | s1_tag.fill):
            m.d.comb += base.eq(self.bias)
        with m.Else():
            m.d.comb += base.eq(old)
        new = Signal(vec, name="s1_new")
        for c in range(cfg.pe_cols):
            add = Mux(s1_tag.fill, 0, s1_psum[c])
            m.d.comb += new[c].eq((base[c] + add)[: cfg.acc_bits].as_signed())
        # Write unless the entry now in S0 continues the same row (write combining).
        combine = Signal(name="combine")
        m.d.comb += combine.eq(self.tag.valid & (self.tag.row == s1_tag.row))
        m.d.comb += [
            self.waddr.eq(s1_tag.row),
            self.wdata.eq(new),
            self.wen.eq(s1_tag.valid & ~combine),
            self.writes.eq(s1_tag.valid & ~combine),
            self.merges.eq(s1_tag.valid & combine),
        ]
        with m.If(s1_tag.valid):
            m.d.sync += [q_valid.eq(1), q_row.eq(s1_tag.row), q_value.eq(new)]
        with m.Else():
            m.d.sync += q_valid.eq(0)
        done = Signal(name="done_q")
        done_sp = Signal(name="done_sp_q")
        done_sn = Signal(name="done_sn_q")
        m.d.sync += [
            done.eq(s1_tag.last),
            done_sp.eq(s1_tag.last & s1_tag.sp),
            done_sn.eq(s1_tag.last & s1_tag.sn),
        ]
        m.d.comb += [self.done.eq(done), self.done_sp.eq(done_sp), self.done_sn.eq(done_sn)]
        return m
