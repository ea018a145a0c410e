"""Owns the AXI address generation of the DMA engines: strided rows -> legal INCR bursts.

A *command* is ``rows`` rows of ``beats`` bus beats, row ``r`` starting at the bus-aligned
byte address ``addr + r * stride``.  Rows that follow each other without a gap
(``stride == beats * bus_bytes``, or a single row) are merged into one run; runs are cut
into bursts of at most ``cfg.max_burst_beats`` beats that never cross a 4 KB boundary
(AMBA AXI4, A3.4.1).  The generator also keeps the count of bursts in flight (at most
:data:`~sspnna.interfaces.MAX_OUTSTANDING`) and stops cleanly (a burst once offered stays
offered until taken, as AXI requires).  The load, store and fetch engines share it.

# Ref: AMBA AXI4 (ARM IHI 0022), A3.4.1 "Address structure" (4 KB rule, INCR bursts).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from accss3d.arch import ArchConfig

from .interfaces import MAX_OUTSTANDING

__all__ = ["BurstGenerator", "burst_cmd_layout", "burst_layout", "address_fields", "PAGE_BYTES"]

#: AXI bursts must not cross a boundary of this many bytes.
PAGE_BYTES = 4096


def burst_cmd_layout(cfg: ArchConfig, rows_bits: int, beats_bits: int) -> data.StructLayout:
    """``rows`` rows of ``beats`` beats from the byte address ``addr``, ``stride`` bytes apart."""
    return data.StructLayout(
        {"addr": cfg.addr_bits, "rows": rows_bits, "beats": beats_bits, "stride": 16}
    )


def burst_layout(cfg: ArchConfig) -> data.StructLayout:
    """One burst: ``addr`` and ``len`` (beats - 1, the AXI encoding)."""
    return data.StructLayout({"addr": cfg.addr_bits, "len": 8})


def address_fields(cfg: ArchConfig, ax, burst, axi_id: int) -> list:
    """Assignments of an AXI AR/AW payload ``ax`` from a ``burst`` payload: INCR, full width."""
    return [
        ax.id.eq(axi_id),
        ax.addr.eq(burst.addr),
        ax.len.eq(burst.len),
        ax.size.eq(exact_log2(cfg.bus_bytes)),
        ax.burst.eq(1),  # INCR
    ]


class BurstGenerator(wiring.Component):
    """Turn strided rows of bus beats into AXI4 INCR bursts (``max_burst_beats``, 4 KB rule).

    Parameters
    ----------
    cfg : ArchConfig
        Uses ``addr_bits``, ``bus_data_bits`` and ``max_burst_beats``.
    rows_bits, beats_bits : int
        Widths of the row count and of the beats per row of a command.

    Members
    -------
    cmd : In(stream.Signature(burst_cmd_layout(cfg, rows_bits, beats_bits)))
        A command; accepted only while idle.  ``addr`` and ``stride`` must be multiples of
        the bus width; a command of 0 rows or 0 beats produces nothing.
    burst : Out(stream.Signature(burst_layout(cfg)))
        The bursts, rows in order.  ``valid`` is offered only while fewer than
        ``MAX_OUTSTANDING`` bursts are in flight, ``allow`` is high and ``stop`` low, and
        then held with a stable payload until ``ready`` (it may drive an AXI address channel
        directly).
    allow : In(1)
        The user can take the offered burst (e.g. buffer room for ``len + 1`` beats); must
        not fall while a burst is offered and not taken.
    stop : In(1)
        Offer no new burst; once nothing is offered, drop the rest of the command.
    complete : In(1)
        One burst in flight completed (its last R beat or its B response).
    outstanding : Out(range(MAX_OUTSTANDING + 1))
        Bursts taken and not completed.
    busy : Out(1)
        Bursts of a command remain to be taken.

    Latency and throughput: the first burst is valid 2 cycles after the command is accepted;
    then one burst per cycle, the bursts of consecutive rows back to back.  Merging gapless
    rows multiplies ``rows x beats`` once per command (the one multiplier of the block).
    """

    def __init__(self, *, cfg: ArchConfig, rows_bits: int, beats_bits: int):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        for name, value in (("rows_bits", rows_bits), ("beats_bits", beats_bits)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TypeError(f"{name} must be a positive integer, not {value!r}")
        self._cfg = cfg
        self._rows_bits = rows_bits
        self._beats_bits = beats_bits
        super().__init__(
            {
                "cmd": In(stream.Signature(burst_cmd_layout(cfg, rows_bits, beats_bits))),
                "burst": Out(stream.Signature(burst_layout(cfg))),
                "allow": In(1, init=1),
                "stop": In(1),
                "complete": In(1),
                "outstanding": Out(range(MAX_OUTSTANDING + 1)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        log2b = exact_log2(cfg.bus_bytes)
        run_bits = self._rows_bits + self._beats_bits
        cmd = self.cmd.payload

        # rows stage: the rows still to hand to the split stage
        rows_left = Signal(self._rows_bits, name="rows_left")
        row_addr = Signal(cfg.addr_bits, name="row_addr")
        row_beats = Signal(run_bits, name="row_beats")
        stride = Signal(16, name="stride")
        # split stage: the run being cut into bursts
        busy = Signal(name="run_busy")
        addr = Signal(cfg.addr_bits, name="run_addr")
        left = Signal(run_bits, name="run_left")

        to_page = Signal(range(PAGE_BYTES // cfg.bus_bytes + 1), name="to_page_end")
        capped = Signal(range(cfg.max_burst_beats + 1), name="capped_beats")
        beats = Signal(range(cfg.max_burst_beats + 1), name="burst_beats")
        last = Signal(name="run_last")
        m.d.comb += [
            to_page.eq((PAGE_BYTES - addr[:12]) >> log2b),
            capped.eq(Mux(left < cfg.max_burst_beats, left, cfg.max_burst_beats)),
            beats.eq(Mux(capped < to_page, capped, to_page)),
            last.eq(left == beats),
            self.busy.eq(busy | (rows_left != 0)),
            self.burst.payload.addr.eq(addr),
            self.burst.payload.len.eq(beats - 1),
            self.cmd.ready.eq(~busy & (rows_left == 0) & ~self.stop),
        ]

        offered = Signal(name="offered")  # offered last cycle and not taken
        flush = Signal(name="flush")
        outstanding = self.outstanding
        m.d.comb += [
            self.burst.valid.eq(
                busy & (offered | (~self.stop & self.allow & (outstanding < MAX_OUTSTANDING)))
            ),
            flush.eq(self.stop & ~offered),
        ]
        m.d.sync += offered.eq(self.burst.valid & ~self.burst.ready)

        fire = Signal(name="burst_fire")
        next_row = Signal(name="next_row")
        with m.If(fire & ~self.complete):
            m.d.sync += outstanding.eq(outstanding + 1)
        with m.Elif(~fire & self.complete & (outstanding != 0)):
            m.d.sync += outstanding.eq(outstanding - 1)
        m.d.comb += [
            fire.eq(self.burst.valid & self.burst.ready),
            next_row.eq((rows_left != 0) & (~busy | (fire & last))),
        ]
        with m.If(fire):
            m.d.sync += [addr.eq(addr + (beats << log2b)), left.eq(left - beats)]
            with m.If(last):
                m.d.sync += busy.eq(0)
        with m.If(next_row):
            m.d.sync += [
                busy.eq(1),
                addr.eq(row_addr),
                left.eq(row_beats),
                row_addr.eq(row_addr + stride),
                rows_left.eq(rows_left - 1),
            ]

        with m.If(self.cmd.valid & self.cmd.ready):
            gapless = (cmd.rows == 1) | (cmd.stride == (cmd.beats << log2b))
            empty = (cmd.rows == 0) | (cmd.beats == 0)
            m.d.sync += [
                row_addr.eq(cmd.addr),
                stride.eq(cmd.stride),
                rows_left.eq(Mux(empty, 0, Mux(gapless, 1, cmd.rows))),
                row_beats.eq(Mux(gapless, cmd.rows * cmd.beats, cmd.beats)),
            ]
        with m.If(flush):
            m.d.sync += [busy.eq(0), rows_left.eq(0)]
        return m
