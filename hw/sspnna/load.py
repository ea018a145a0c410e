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
from amaranth.lib import data, stream, wiring
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

    Latency and throughput: an instruction is accepted when the engine has room (one
    instruction being issued, two whose beats are awaited); its first AR is valid 3 cycles
    later (plus the token wait); bursts follow back to back (gapless rows are merged into
    long bursts), up to ``MAX_OUTSTANDING`` in flight, and the bursts of the next instruction
    follow those of the current one without waiting for their data (consecutive LOADs
    overlap their memory latency); each R beat is written to L1 one cycle after it is
    accepted, one beat per cycle when the bus delivers (R ``ready`` is always high); ``sn`` is
    given 2 cycles after the instruction's last beat is accepted.
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
        # Per-kind constants of the instruction being accepted.
        in_lanes_m1 = Signal(range(max_lanes), name="in_lanes_m1")
        in_shift = Signal(range(max(max_shift + 1, 2)), name="in_shift")
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
        # What the R consumer needs of an instruction (the issue side holds one, the receive
        # side a queue of two: the instruction whose beats arrive and the next, whose bursts
        # may already be in flight - AXI returns them in order).
        rec_layout = data.StructLayout(
            {
                "kind": 3,
                "pc": 32,
                "sn": 1,
                "rows": 16,
                "row_beats": row_bytes_bits,
                "last_be": bus,
                "l1_stride": 12,
                "lanes_m1": range(max_lanes),
                "shift": range(max(max_shift + 1, 2)),
                "l1_addr": 16,
            }
        )

        # ---------------------------------------------------------------- status
        kill = Signal(name="kill")  # every instruction in progress is being abandoned
        halted = Signal(name="halted")  # after an error: wait for abort
        kill_now = Signal(name="kill_now")
        m.d.comb += kill_now.eq(kill | self.abort)

        # ---------------------------------------------------------------- issue side
        iss = Signal(rec_layout, name="iss")
        iss_wn = Signal(name="iss_wn")
        iss_valid = Signal(name="iss_valid")  # accepted, its command not yet taken
        ext_addr = Signal(cfg.addr_bits, name="ext_addr")
        ext_stride = Signal(16, name="ext_stride")
        m.d.comb += [
            bursts.cmd.payload.addr.eq(ext_addr),
            bursts.cmd.payload.rows.eq(iss.rows),
            bursts.cmd.payload.beats.eq(iss.row_beats),
            bursts.cmd.payload.stride.eq(ext_stride),
        ]
        # Receive queue: q[0] is the instruction whose beats arrive.
        q = [Signal(rec_layout, name=f"rxq{i}") for i in range(2)]
        q_count = Signal(range(3), name="rxq_count")

        accept = Signal(name="accept")
        room = Signal(name="room")
        m.d.comb += room.eq(~iss_valid & (q_count < 2) & ~halted & ~kill)
        m.d.comb += [
            self.instr.ready.eq(self.abort | room),
            accept.eq(self.instr.valid & room & ~self.abort),
        ]
        with m.If(accept):
            m.d.sync += [
                iss_valid.eq(1),
                iss.kind.eq(fields.sub),
                iss.pc.eq(self.instr.payload.pc),
                iss_wn.eq(fields.wn),
                iss.sn.eq(fields.sn),
                iss.rows.eq(fields.rows),
                iss.row_beats.eq((fields.row_bytes + (bus - 1)) >> log2b),
                iss.last_be.eq(Mux(in_rem == 0, all_be, in_mask)),
                iss.l1_stride.eq(fields.l1_stride),
                iss.lanes_m1.eq(in_lanes_m1),
                iss.shift.eq(in_shift),
                iss.l1_addr.eq(fields.l1_addr),
                ext_addr.eq(fields.ext_addr),
                ext_stride.eq(fields.ext_stride),
            ]
        # The command goes to the burst generator once the token is there (and the generator
        # has taken every burst of the previous command).
        go = Signal(name="go")
        m.d.comb += go.eq(iss_valid & ~kill_now & (~iss_wn | self.next.avail))
        m.d.comb += [bursts.cmd.valid.eq(go), self.next.take.eq(go & bursts.cmd.ready & iss_wn)]
        issued = Signal(name="issued")
        m.d.comb += issued.eq(go & bursts.cmd.ready)
        with m.If(issued):
            m.d.sync += iss_valid.eq(0)

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
        m.d.comb += [
            r.ready.eq(1),
            r_fire.eq(r.valid),
            self.rd_beat.eq(r_fire),
            bursts.complete.eq(r.valid & r.payload.last),
        ]
        head = q[0]
        rx_rows_left = Signal(16, name="rx_rows_left")
        rx_beats_left = Signal(row_bytes_bits, name="rx_beats_left")
        rx_lane = Signal(range(max_lanes), name="rx_lane")
        rx_row = Signal(16, name="rx_row")  # physical row of the next beat
        rx_word = Signal(16, name="rx_word")  # first L1 word of the current row
        rx_word_next = Signal(16, name="rx_word_next")
        m.d.comb += rx_word_next.eq(rx_word + head.l1_stride)
        row_end = Signal(name="rx_row_end")
        m.d.comb += row_end.eq(rx_beats_left == 1)
        bad_resp = Signal(name="bad_resp")
        m.d.comb += bad_resp.eq(r.payload.resp != 0)

        def start_receiving(rec):
            """RX counters for a record becoming the head (effective next cycle)."""
            return [
                rx_rows_left.eq(rec.rows),
                rx_beats_left.eq(rec.row_beats),
                rx_word.eq(rec.l1_addr),
                rx_row.eq(rec.l1_addr >> rec.shift),
                rx_lane.eq(0),
            ]

        finished = Signal(name="rx_finished")  # the head's last beat this cycle
        m.d.sync += [self.l1w.en.eq(0), self.error.valid.eq(0)]
        with m.If(r_fire & (q_count != 0) & ~kill_now):
            with m.If(bad_resp):
                m.d.sync += [
                    kill.eq(1),
                    halted.eq(1),
                    self.error.valid.eq(1),
                    self.error.code.eq(ErrorCode.BUS_ERROR),
                    self.error.pc.eq(head.pc),
                ]
            with m.Else():
                m.d.sync += [
                    self.l1w.en.eq(1),
                    self.l1w.kind.eq(head.kind),
                    self.l1w.row.eq(rx_row),
                    self.l1w.lane.eq(rx_lane),
                    self.l1w.data.eq(r.payload.data),
                    self.l1w.be.eq(Mux(row_end, head.last_be, all_be)),
                ]
                with m.If(row_end):
                    m.d.comb += finished.eq(rx_rows_left == 1)
                    m.d.sync += [
                        rx_rows_left.eq(rx_rows_left - 1),
                        rx_beats_left.eq(head.row_beats),
                        rx_word.eq(rx_word_next),
                        rx_row.eq(rx_word_next >> head.shift),
                        rx_lane.eq(0),
                    ]
                with m.Else():
                    m.d.sync += rx_beats_left.eq(rx_beats_left - 1)
                    with m.If(rx_lane == head.lanes_m1):
                        m.d.sync += [rx_lane.eq(0), rx_row.eq(rx_row + 1)]
                    with m.Else():
                        m.d.sync += rx_lane.eq(rx_lane + 1)

        # Queue bookkeeping: push the issued record, pop the finished head.
        with m.If(finished & issued):
            with m.If(q_count == 1):  # the new record becomes the head at once
                m.d.sync += [q[0].eq(iss), *start_receiving(iss)]
            with m.Else():  # q_count == 2: the second moves up, the new one behind it
                m.d.sync += [q[0].eq(q[1]), q[1].eq(iss), *start_receiving(q[1])]
        with m.Elif(finished):
            m.d.sync += q_count.eq(q_count - 1)
            with m.If(q_count == 2):
                m.d.sync += [q[0].eq(q[1]), *start_receiving(q[1])]
        with m.Elif(issued):
            m.d.sync += q_count.eq(q_count + 1)
            with m.If(q_count == 0):
                m.d.sync += [q[0].eq(iss), *start_receiving(iss)]
            with m.Else():
                m.d.sync += q[1].eq(iss)

        # Tokens: ``sn`` of an instruction two cycles after its last beat (its L1 write has
        # landed by then); instructions complete in order.
        give1 = Signal(name="give_d1")
        give2 = Signal(name="give_d2")
        m.d.sync += [give1.eq(finished & head.sn & ~bad_resp), give2.eq(give1 & ~kill_now)]
        m.d.comb += self.next.give.eq(give2 & ~kill_now)

        # ---------------------------------------------------------------- abort / drain
        drained = Signal(name="drained")
        m.d.comb += drained.eq((bursts.outstanding == 0) & ~bursts.busy)
        with m.If(self.abort):
            m.d.sync += [halted.eq(0), kill.eq(1)]
        with m.If(kill_now):
            m.d.sync += [iss_valid.eq(0), q_count.eq(0)]
            with m.If(drained & ~self.abort & ~halted):
                m.d.sync += kill.eq(0)
        m.d.comb += self.idle.eq(
            ~iss_valid & (q_count == 0) & drained & ~give1 & ~give2 & ~self.l1w.en
        )
        return m
