"""Owns the load engine: LOAD instructions -> AXI4 read bursts -> L1 writes.

A LOAD copies ``rows`` rows of ``row_bytes`` bytes from ``ext_addr + r * ext_stride`` to L1
words ``l1_addr + r * l1_stride`` of the bank kind ``sub`` (docs/architecture.md,
"Semantics").  An address generator (rows -> :class:`~sspnna.burst.BurstSplitter` -> AR)
and an R consumer (beats -> physical L1 rows and lanes) run concurrently; up to
:data:`~sspnna.interfaces.MAX_OUTSTANDING` bursts are in flight.

# Ref: docs/architecture.md, "Instructions and engines", "DMA", "Legality".
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from accss3d.arch import ArchConfig
from accss3d.isa import ErrorCode, Kind, Op

from .burst import BurstGenerator, address_fields
from .fields import op_layout
from .interfaces import (
    ID_LOAD,
    AxiReadSignature,
    ErrorSignature,
    L1WriteSignature,
    TokenSignature,
    issue_layout,
    phys_bytes,
)

__all__ = ["LoadEngine", "KIND_NAMES", "kind_geometry"]

#: L1 geometry name (``ArchConfig.word_bytes`` / :func:`~sspnna.interfaces.phys_bytes`) of
#: each LOAD kind; PSUM rows are accumulator rows.
KIND_NAMES = {
    Kind.IFM: "ifm",
    Kind.WGT: "wgt",
    Kind.RBK: "rbk",
    Kind.PSUM: "ofm",
    Kind.BIAS: "bias",
}


def kind_geometry(cfg: ArchConfig, kind: Kind) -> tuple[int, int]:
    """``(lanes, shift)`` of a LOAD kind: beats per physical row, log2(words per row).

    A word at least as wide as the bus is ``lanes = word / bus`` beats (one physical row per
    word, ``shift = 0``); a narrower word (RBK on a bus wider than 4 B) packs
    ``2**shift = bus / word`` words into one physical row of one beat.

    Raises
    ------
    ValueError
        If the word is neither a multiple nor a divisor of the bus width.
    """
    name = KIND_NAMES[kind]
    word = phys_bytes(cfg, "bias") if name == "bias" else cfg.word_bytes(name)
    bus = cfg.bus_bytes
    if word >= bus:
        if word % bus:
            raise ValueError(
                f"L1 {name} word ({word} B) must be a multiple of the bus width ({bus} B)"
            )
        return word // bus, 0
    if bus % word:
        raise ValueError(f"L1 {name} word ({word} B) must divide the bus width ({bus} B)")
    return 1, exact_log2(bus // word)


class LoadEngine(wiring.Component):
    """The DMA engine that executes LOAD instructions.

    Parameters
    ----------
    cfg : ArchConfig
        The whole architecture configuration.

    Members
    -------
    instr : In(stream.Signature(issue_layout()))
        LOAD instructions (``bits`` decoded with :func:`~sspnna.fields.op_layout`, ``pc`` for
        error reports).  Fields are taken as legal (the decoder checks them).
    next : Out(TokenSignature())
        Token link with the compute engine: ``wn`` takes a token before the instruction
        starts, ``sn`` gives one after its last beat was written to L1.
    axi : Out(AxiReadSignature(cfg))
        AXI4 read initiator (ARID = ``ID_LOAD``, INCR bursts of the full bus width, at most
        ``max_burst_beats`` beats, never crossing 4 KB, up to ``MAX_OUTSTANDING`` in flight).
    l1w : Out(L1WriteSignature(cfg))
        L1 writes (registered, one beat per cycle, byte enables on the last beat of a row).
    error : Out(ErrorSignature())
        ``valid`` for one cycle with ``BUS_ERROR`` and the instruction's ``pc`` when a beat
        answers RRESP != OKAY.  The engine then stops the instruction (no more L1 writes, no
        token), drains its outstanding bursts and stays idle, taking no instruction, until
        ``abort``.
    abort : In(1)
        Stop: no new bursts, outstanding beats are accepted and dropped, instructions offered
        while ``abort`` is high are consumed and dropped; no token is given.
    idle : Out(1)
        No instruction in progress and no burst outstanding.
    rd_beat : Out(1)
        One bus beat was accepted this cycle (``bus_bytes`` bytes read).

    Latency and throughput: an instruction is accepted in a cycle the engine is idle; its
    first AR is valid 3 cycles later (plus the token wait); bursts follow back to back (gapless
    rows are merged into long bursts), up to ``MAX_OUTSTANDING`` in flight; each R beat is
    written to L1 one cycle after it is accepted, one beat per cycle when the bus delivers
    (R ``ready`` is always high); ``sn`` is given 2 cycles after the last beat is accepted,
    and the next instruction is accepted the cycle after.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        self._cfg = cfg
        self._geometry = {kind: kind_geometry(cfg, kind) for kind in KIND_NAMES}
        super().__init__(
            {
                "instr": In(stream.Signature(issue_layout())),
                "next": Out(TokenSignature()),
                "axi": Out(AxiReadSignature(cfg)),
                "l1w": Out(L1WriteSignature(cfg)),
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
        log2b = exact_log2(bus)
        layout = op_layout(Op.LOAD)
        row_bytes_bits = Shape.cast(layout["row_bytes"].shape).width
        max_lanes = max(lanes for lanes, _ in self._geometry.values())
        max_shift = max(shift for _, shift in self._geometry.values())

        m.submodules.bursts = bursts = BurstGenerator(
            cfg=cfg, rows_bits=16, beats_bits=row_bytes_bits
        )

        # ---------------------------------------------------------------- instruction
        fields = Signal(layout, name="fields")
        m.d.comb += fields.eq(self.instr.payload.bits)
        kind = Signal(3, name="kind")
        pc = Signal(32, name="pc")
        wn = Signal(name="wn")
        sn = Signal(name="sn")
        rows = Signal(16, name="rows")
        row_beats = Signal(row_bytes_bits, name="row_beats")
        last_be = Signal(bus, name="last_be")
        ext_stride = Signal(16, name="ext_stride")
        l1_stride = Signal(12, name="l1_stride")
        lanes_m1 = Signal(range(max_lanes), name="lanes_m1")
        shift = Signal(range(max(max_shift + 1, 2)), name="word_shift")

        # Per-kind constants of the instruction being accepted.
        in_lanes_m1 = Signal.like(lanes_m1, name="in_lanes_m1")
        in_shift = Signal.like(shift, name="in_shift")
        with m.Switch(fields.sub):
            for kind_value, (lanes, kshift) in self._geometry.items():
                with m.Case(int(kind_value)):
                    m.d.comb += [in_lanes_m1.eq(lanes - 1), in_shift.eq(kshift)]
        all_be = Const((1 << bus) - 1, bus)
        in_rem = Signal(range(bus), name="in_rem")
        in_mask = Signal(bus, name="in_mask")
        m.d.comb += [
            in_rem.eq(fields.row_bytes & (bus - 1)),
            in_mask.eq((Const(1, bus + 1) << in_rem) - 1),
        ]

        # ---------------------------------------------------------------- status
        kill = Signal(name="kill")  # the instruction in progress is being abandoned
        halted = Signal(name="halted")  # after an error: wait for abort
        kill_now = Signal(name="kill_now")
        m.d.comb += kill_now.eq(kill | self.abort)
        running = Signal(name="running")

        rx_done = Signal(name="rx_done")

        # ---------------------------------------------------------------- addresses
        ext_addr = Signal(cfg.addr_bits, name="ext_addr")
        m.d.comb += [
            bursts.cmd.payload.addr.eq(ext_addr),
            bursts.cmd.payload.rows.eq(rows),
            bursts.cmd.payload.beats.eq(row_beats),
            bursts.cmd.payload.stride.eq(ext_stride),
        ]

        # ---------------------------------------------------------------- AR channel
        ar = self.axi.ar
        m.d.comb += [
            ar.valid.eq(bursts.burst.valid),
            bursts.burst.ready.eq(ar.ready),
            *address_fields(cfg, ar.payload, bursts.burst.payload, ID_LOAD),
            bursts.stop.eq(kill_now),
        ]

        # ---------------------------------------------------------------- R consumer
        r = self.axi.r
        r_fire = Signal(name="r_fire")
        r_last_fire = Signal(name="r_last_fire")
        m.d.comb += [
            r.ready.eq(1),
            r_fire.eq(r.valid),
            r_last_fire.eq(r.valid & r.payload.last),
            self.rd_beat.eq(r_fire),
            bursts.complete.eq(r_last_fire),
        ]

        rx_rows_left = Signal(16, name="rx_rows_left")
        rx_beats_left = Signal(row_bytes_bits, name="rx_beats_left")
        rx_lane = Signal.like(lanes_m1, name="rx_lane")
        rx_row = Signal(16, name="rx_row")  # physical row of the next beat
        rx_word = Signal(16, name="rx_word")  # first L1 word of the current row
        rx_word_next = Signal(16, name="rx_word_next")
        m.d.comb += rx_word_next.eq(rx_word + l1_stride)
        row_end = Signal(name="rx_row_end")
        m.d.comb += row_end.eq(rx_beats_left == 1)

        bad_resp = Signal(name="bad_resp")
        m.d.comb += bad_resp.eq(r.payload.resp != 0)

        m.d.sync += [self.l1w.en.eq(0), self.error.valid.eq(0)]
        with m.If(r_fire & running & ~kill_now & ~rx_done):
            with m.If(bad_resp):
                m.d.sync += [
                    kill.eq(1),
                    halted.eq(1),
                    self.error.valid.eq(1),
                    self.error.code.eq(ErrorCode.BUS_ERROR),
                    self.error.pc.eq(pc),
                ]
            with m.Else():
                m.d.sync += [
                    self.l1w.en.eq(1),
                    self.l1w.kind.eq(kind),
                    self.l1w.row.eq(rx_row),
                    self.l1w.lane.eq(rx_lane),
                    self.l1w.data.eq(r.payload.data),
                    self.l1w.be.eq(Mux(row_end, last_be, all_be)),
                ]
                with m.If(row_end):
                    with m.If(rx_rows_left == 1):
                        m.d.sync += rx_done.eq(1)
                    m.d.sync += [
                        rx_rows_left.eq(rx_rows_left - 1),
                        rx_beats_left.eq(row_beats),
                        rx_word.eq(rx_word_next),
                        rx_row.eq(rx_word_next >> shift),
                        rx_lane.eq(0),
                    ]
                with m.Else():
                    m.d.sync += rx_beats_left.eq(rx_beats_left - 1)
                    with m.If(rx_lane == lanes_m1):
                        m.d.sync += [rx_lane.eq(0), rx_row.eq(rx_row + 1)]
                    with m.Else():
                        m.d.sync += rx_lane.eq(rx_lane + 1)

        # ---------------------------------------------------------------- control
        with m.If(self.abort):
            m.d.sync += [halted.eq(0), kill.eq(1)]

        drained = Signal(name="drained")
        m.d.comb += drained.eq((bursts.outstanding == 0) & ~bursts.busy & (rx_done | kill_now))

        with m.FSM(name="load_fsm"):
            with m.State("IDLE"):
                m.d.comb += [
                    self.idle.eq(1),
                    self.instr.ready.eq(self.abort | ~halted),
                ]
                with m.If(self.instr.valid & self.instr.ready & ~self.abort):
                    m.d.sync += [
                        kind.eq(fields.sub),
                        pc.eq(self.instr.payload.pc),
                        wn.eq(fields.wn),
                        sn.eq(fields.sn),
                        rows.eq(fields.rows),
                        row_beats.eq((fields.row_bytes + (bus - 1)) >> log2b),
                        last_be.eq(Mux(in_rem == 0, all_be, in_mask)),
                        ext_stride.eq(fields.ext_stride),
                        l1_stride.eq(fields.l1_stride),
                        lanes_m1.eq(in_lanes_m1),
                        shift.eq(in_shift),
                        ext_addr.eq(fields.ext_addr),
                        rx_word.eq(fields.l1_addr),
                        rx_row.eq(fields.l1_addr >> in_shift),
                        rx_lane.eq(0),
                        kill.eq(0),
                        rx_done.eq(0),
                    ]
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(self.abort):
                    m.next = "IDLE"
                with m.Elif(~wn | self.next.avail):
                    m.d.comb += [self.next.take.eq(wn), bursts.cmd.valid.eq(1)]
                    empty = (rows == 0) | (row_beats == 0)  # illegal; finish at once
                    m.d.sync += [
                        rx_rows_left.eq(rows),
                        rx_beats_left.eq(row_beats),
                        rx_done.eq(empty),
                    ]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += running.eq(1)
                with m.If(drained):
                    with m.If(kill_now):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.next.give.eq(sn & ~self.abort)
                m.next = "IDLE"
        return m
