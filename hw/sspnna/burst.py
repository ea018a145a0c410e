"""Owns the AXI burst splitting of the DMA engines: runs of beats -> legal INCR bursts.

A *command* is a run of ``beats`` consecutive bus beats starting at a bus-aligned byte
address; the splitter cuts it into bursts of at most ``cfg.max_burst_beats`` beats that never
cross a 4 KB boundary (AMBA AXI4, A3.4.1).  The load, store and fetch engines share it.

# Ref: AMBA AXI4 (ARM IHI 0022), A3.4.1 "Address structure" (4 KB rule, INCR bursts).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from accss3d.arch import ArchConfig

__all__ = ["BurstSplitter", "burst_cmd_layout", "burst_layout", "PAGE_BYTES"]

#: AXI bursts must not cross a boundary of this many bytes.
PAGE_BYTES = 4096


def burst_cmd_layout(cfg: ArchConfig, beats_bits: int) -> data.StructLayout:
    """A run of beats: bus-aligned byte ``addr`` and ``beats`` (>= 1) bus beats."""
    return data.StructLayout({"addr": cfg.addr_bits, "beats": beats_bits})


def burst_layout(cfg: ArchConfig) -> data.StructLayout:
    """One burst: ``addr``, ``len`` (beats - 1, the AXI encoding), ``last`` of its command."""
    return data.StructLayout({"addr": cfg.addr_bits, "len": 8, "last": 1})


class BurstSplitter(wiring.Component):
    """Split runs of bus beats into AXI4 INCR bursts (``max_burst_beats``, 4 KB rule).

    Parameters
    ----------
    cfg : ArchConfig
        Uses ``addr_bits``, ``bus_data_bits`` and ``max_burst_beats``.
    beats_bits : int
        Width of the beat count of a command.

    Members
    -------
    cmd : In(stream.Signature(burst_cmd_layout(cfg, beats_bits)))
        Runs to split.  ``addr`` must be a multiple of the bus width; a run of 0 beats is
        accepted and produces nothing.
    burst : Out(stream.Signature(burst_layout(cfg)))
        The bursts, in address order; the payload comes from registers and is stable while
        ``valid & ~ready`` (it may drive an AXI address channel directly).
    flush : In(1)
        Drop the run in progress (its remaining bursts are not produced).
    busy : Out(1)
        A run is being split.

    Latency and throughput: the first burst of a run is valid the cycle after the run is
    accepted; one burst per cycle; a new run is accepted in the cycle the last burst of the
    previous one is, so bursts of consecutive runs come back to back.
    """

    def __init__(self, *, cfg: ArchConfig, beats_bits: int):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        if isinstance(beats_bits, bool) or not isinstance(beats_bits, int) or beats_bits < 1:
            raise TypeError(f"beats_bits must be a positive integer, not {beats_bits!r}")
        self._cfg = cfg
        self._beats_bits = beats_bits
        super().__init__(
            {
                "cmd": In(stream.Signature(burst_cmd_layout(cfg, beats_bits))),
                "burst": Out(stream.Signature(burst_layout(cfg))),
                "flush": In(1),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        log2b = exact_log2(cfg.bus_bytes)

        busy = Signal(name="busy_run")
        addr = Signal(cfg.addr_bits, name="run_addr")
        left = Signal(self._beats_bits, name="run_left")
        to_page = Signal(range(PAGE_BYTES // cfg.bus_bytes + 1), name="to_page_end")
        capped = Signal(range(cfg.max_burst_beats + 1), name="capped_beats")
        beats = Signal(range(cfg.max_burst_beats + 1), name="burst_beats")
        last = Signal(name="burst_last")

        m.d.comb += [
            to_page.eq((PAGE_BYTES - addr[:12]) >> log2b),
            capped.eq(Mux(left < cfg.max_burst_beats, left, cfg.max_burst_beats)),
            beats.eq(Mux(capped < to_page, capped, to_page)),
            last.eq(left == beats),
            self.busy.eq(busy),
            self.burst.valid.eq(busy),
            self.burst.payload.addr.eq(addr),
            self.burst.payload.len.eq(beats - 1),
            self.burst.payload.last.eq(last),
            self.cmd.ready.eq((~busy | (self.burst.ready & last)) & ~self.flush),
        ]
        with m.If(self.burst.valid & self.burst.ready):
            m.d.sync += [
                addr.eq(addr + (beats << log2b)),
                left.eq(left - beats),
            ]
            with m.If(last):
                m.d.sync += busy.eq(0)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [
                addr.eq(self.cmd.payload.addr),
                left.eq(self.cmd.payload.beats),
                busy.eq(self.cmd.payload.beats != 0),
            ]
        with m.If(self.flush):
            m.d.sync += busy.eq(0)
        return m
