"""Owns instruction fetch: the program in external memory -> AXI4 read bursts -> a prefetch
buffer -> 128-bit instructions in order, each with its index (``pc``).

# Ref: docs/architecture.md, "Timing" (fetch in bursts of ``max_burst_beats`` into a small
# buffer), "Legality" (never past ``PROG_LEN``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from accss3d.arch import ArchConfig
from accss3d.isa import INSTR_BITS, INSTR_BYTES, ErrorCode

from .burst import BurstGenerator, address_fields
from .interfaces import (
    ID_FETCH,
    AxiReadSignature,
    ErrorSignature,
    issue_layout,
)

__all__ = ["Fetch"]


class Fetch(wiring.Component):
    """Instruction fetch unit with a prefetch buffer.

    Parameters
    ----------
    cfg : ArchConfig
        The whole architecture configuration.

    Members
    -------
    start : In(1)
        Pulse: fetch ``prog_len`` instructions from ``prog_addr`` (taken only while ``idle``;
        clears the buffer and restarts ``pc`` at 0).
    prog_addr : In(32)
        Byte address of instruction 0: a multiple of ``max(16, bus_bytes)``.
    prog_len : In(32)
        Number of instructions.
    axi : Out(AxiReadSignature(cfg))
        AXI4 read initiator (ARID = ``ID_FETCH``, INCR bursts of at most ``max_burst_beats``
        beats, never crossing 4 KB, issued only when the buffer has room for the whole burst,
        up to ``MAX_OUTSTANDING`` in flight).  Nothing beyond instruction ``prog_len - 1``
        is read (on a bus wider than an instruction, the rest of the last beat).
    instr : Out(stream.Signature(issue_layout()))
        The instructions in order; ``pc`` is the instruction index.
    exhausted : Out(1)
        All ``prog_len`` instructions of the last start were emitted.
    error : Out(ErrorSignature())
        ``valid`` for one cycle with ``BUS_ERROR`` and the index of the instruction whose
        beat answered RRESP != OKAY; fetching stops (instructions before it are still
        emitted, none from it on).
    abort : In(1)
        Stop: no new bursts, outstanding beats are dropped, the buffer is emptied.
    idle : Out(1)
        No burst to issue and none outstanding (the buffer may still hold instructions).
    rd_beat : Out(1)
        A bus beat was accepted this cycle.

    Latency and throughput: the first AR is valid 2 cycles after ``start``; a beat is in the
    buffer the cycle after it arrives and in the instruction register the cycle after that;
    the bus delivers ``bus_bytes`` per cycle, so one instruction per ``16 / bus_bytes``
    cycles (narrow buses) or per cycle (wide ones).  The buffer holds
    ``2 * max_burst_beats`` beats.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        self._cfg = cfg
        self.depth = max(2 * cfg.max_burst_beats, INSTR_BYTES // cfg.bus_bytes)
        super().__init__(
            {
                "start": In(1),
                "prog_addr": In(32),
                "prog_len": In(32),
                "axi": Out(AxiReadSignature(cfg)),
                "instr": Out(stream.Signature(issue_layout())),
                "exhausted": Out(1),
                "error": Out(ErrorSignature()),
                "abort": In(1),
                "idle": Out(1),
                "rd_beat": Out(1),
            }
        )

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        bus = cfg.bus_bytes
        depth = self.depth
        narrow = bus <= INSTR_BYTES
        # beats per instruction (narrow bus) or instructions per beat (wide bus), as log2
        ratio = exact_log2(INSTR_BYTES // bus if narrow else bus // INSTR_BYTES)
        beats_bits = 32 + (ratio if narrow else 0)

        kill = Signal(name="kill")
        kill_now = Signal(name="kill_now")
        started = Signal(name="started")
        prog_len = Signal(32, name="prog_len_q")
        out_pc = Signal(32, name="out_pc")
        rx_beats = Signal(beats_bits, name="rx_beats")
        go = Signal(name="go")
        m.d.comb += kill_now.eq((kill & ~go) | self.abort)

        # ---------------------------------------------------------------- AR side
        m.submodules.bursts = bursts = BurstGenerator(cfg=cfg, rows_bits=1, beats_bits=beats_bits)
        ar = self.axi.ar
        r = self.axi.r
        reserved = Signal(range(depth + 1), name="reserved")  # buffer beats promised
        ar_fire = Signal(name="ar_fire")
        pop = Signal(name="pop")
        burst_beats = Signal(range(cfg.max_burst_beats + 1), name="burst_beats")
        m.d.comb += [
            burst_beats.eq(bursts.burst.payload.len + 1),
            bursts.allow.eq(reserved + burst_beats <= depth),
            bursts.stop.eq(kill_now),
            ar.valid.eq(bursts.burst.valid),
            bursts.burst.ready.eq(ar.ready),
            *address_fields(cfg, ar.payload, bursts.burst.payload, ID_FETCH),
            ar_fire.eq(ar.valid & ar.ready),
            r.ready.eq(1),
            bursts.complete.eq(r.valid & r.payload.last),
            self.rd_beat.eq(r.valid),
            self.idle.eq(~bursts.busy & (bursts.outstanding == 0)),
        ]
        m.d.sync += reserved.eq(reserved + Mux(ar_fire, burst_beats, 0) - pop)

        # ---------------------------------------------------------------- start / stop
        m.d.comb += [
            go.eq(self.start & self.idle & ~self.abort),
            bursts.cmd.valid.eq(go),
            bursts.cmd.payload.addr.eq(self.prog_addr),
            bursts.cmd.payload.rows.eq(1),
            bursts.cmd.payload.stride.eq(0),
        ]
        if narrow:
            m.d.comb += bursts.cmd.payload.beats.eq(self.prog_len << ratio)
        else:
            m.d.comb += bursts.cmd.payload.beats.eq((self.prog_len + (1 << ratio) - 1) >> ratio)
        with m.If(go):
            m.d.sync += [
                started.eq(1),
                kill.eq(0),
                prog_len.eq(self.prog_len),
                out_pc.eq(0),
                rx_beats.eq(0),
                reserved.eq(0),
            ]
        with m.If(self.abort):
            m.d.sync += kill.eq(1)
        flush = Signal(name="flush")
        m.d.comb += flush.eq(go | kill_now)

        # ---------------------------------------------------------------- R side, buffer
        m.submodules.buffer = buf = ResetInserter(flush)(SyncFIFO(width=8 * bus, depth=depth))
        bad = Signal(name="bad_resp")
        m.d.comb += [
            bad.eq(r.payload.resp != 0),
            buf.w_en.eq(r.valid & ~bad & ~kill_now),
            buf.w_data.eq(r.payload.data),
        ]
        with m.If(r.valid & ~kill_now):
            m.d.sync += rx_beats.eq(rx_beats + 1)
        m.d.sync += self.error.valid.eq(0)
        with m.If(r.valid & bad & ~kill_now):
            m.d.sync += [
                kill.eq(1),
                self.error.valid.eq(1),
                self.error.code.eq(ErrorCode.BUS_ERROR),
                self.error.pc.eq(rx_beats >> ratio if narrow else rx_beats << ratio),
            ]

        # ---------------------------------------------------------------- instructions
        have = Signal(name="have")
        fire = Signal(name="instr_fire")
        m.d.comb += [
            self.instr.valid.eq(have & ~kill_now),
            self.instr.payload.pc.eq(out_pc),
            fire.eq(self.instr.valid & self.instr.ready),
            self.exhausted.eq(started & (out_pc == prog_len)),
            buf.r_en.eq(pop),
        ]
        with m.If(fire):
            m.d.sync += out_pc.eq(out_pc + 1)
        if narrow:
            asm = Signal(INSTR_BITS, name="assembly")
            part = Signal(range(1 << ratio), name="part")
            m.d.comb += [
                pop.eq(buf.r_rdy & (~have | self.instr.ready)),
                self.instr.payload.bits.eq(asm),
            ]
            with m.If(pop):
                m.d.sync += [asm.word_select(part, 8 * bus).eq(buf.r_data), part.eq(part + 1)]
            with m.If(pop & (part == (1 << ratio) - 1)):
                m.d.sync += have.eq(1)
            with m.Elif(fire):
                m.d.sync += have.eq(0)
        else:
            beat = Signal(8 * bus, name="beat")
            slot = Signal(range(1 << ratio), name="slot")
            beat_done = Signal(name="beat_done")
            m.d.comb += [
                beat_done.eq(fire & ((slot == (1 << ratio) - 1) | (out_pc + 1 == prog_len))),
                pop.eq(buf.r_rdy & (~have | beat_done)),
                self.instr.payload.bits.eq(beat.word_select(slot, INSTR_BITS)),
            ]
            with m.If(fire):
                m.d.sync += slot.eq(slot + 1)
            with m.If(pop):
                m.d.sync += [beat.eq(buf.r_data), slot.eq(0), have.eq(1)]
            with m.Elif(beat_done):
                m.d.sync += have.eq(0)
        with m.If(flush):
            m.d.sync += have.eq(0)
            if narrow:
                m.d.sync += part.eq(0)
        return m
