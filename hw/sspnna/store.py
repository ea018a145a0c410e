"""Owns the store engine: STORE/CONFIG instructions -> accumulator reads -> requantization ->
AXI4 write bursts.

A STORE writes ``rows`` accumulator rows from ``ofm_row`` to ``ext_addr + r * ext_stride``:
``channels`` requantized activations per row (REQUANT) or ``channels`` raw little-endian
accumulators (RAW); a CONFIG sets the multiplier, shift and ReLU of the STOREs after it
(docs/architecture.md, "Semantics"; docs/arithmetic.md).  The address side (rows ->
:class:`~sspnna.burst.BurstSplitter` -> AW, up to ``MAX_OUTSTANDING`` bursts) and the data
side (row reads -> per-beat lane select -> :class:`~sspnna.requant.Requantizer` -> W) run
independently; W never waits for AW.

# Ref: docs/architecture.md, "Instructions and engines", "DMA"; docs/arithmetic.md.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from accss3d.arch import ArchConfig
from accss3d.isa import ErrorCode, Op, StoreMode

from .burst import BurstGenerator, address_fields
from .fields import op_layout
from .interfaces import (
    ID_STORE,
    MAX_OUTSTANDING,
    AxiWriteSignature,
    ErrorSignature,
    TokenSignature,
    issue_layout,
)
from .requant import Requantizer

__all__ = ["StoreEngine"]

#: Beats that may be in the requantizer pipeline and the W buffer at once.
DATA_DEPTH = 8


class StoreEngine(wiring.Component):
    """The DMA engine that executes STORE and CONFIG instructions.

    Parameters
    ----------
    cfg : ArchConfig
        The whole architecture configuration.

    Members
    -------
    instr : In(stream.Signature(issue_layout()))
        STORE and CONFIG instructions in program order (others are consumed and ignored).
    prev : Out(TokenSignature())
        Token link with the compute engine: ``wp`` takes a token before the instruction
        starts, ``sp`` gives one when its last write response has arrived (CONFIG: once
        applied).
    ofm_req : Out(stream.Signature(16))
        Accumulator row reads (the row address); the row is on ``ofm_data`` exactly one cycle
        after the handshake.
    ofm_data : In(pe_cols * acc_bits)
        The accumulator row, lane ``c`` at bits ``c * acc_bits``.
    axi : Out(AxiWriteSignature(cfg))
        AXI4 write initiator (AWID = ``ID_STORE``, INCR bursts of the full bus width, at most
        ``max_burst_beats`` beats, never crossing 4 KB, up to ``MAX_OUTSTANDING`` without
        their response; WSTRB masks the bytes beyond ``channels`` in a row's last beat).
    error : Out(ErrorSignature())
        ``valid`` for one cycle with ``BUS_ERROR`` and the STORE's ``pc`` when BRESP != OKAY;
        the engine then stops the instruction like ``abort`` does and takes no instruction
        until ``abort``.
    abort : In(1)
        Stop: no new bursts or row reads; W beats still owed to issued bursts are sent with
        WSTRB = 0; all write responses are awaited; instructions offered while ``abort`` is
        high are consumed and dropped; no token is given.
    idle : Out(1)
        No instruction in progress, nothing in flight on the bus.
    wr_beat : Out(1)
        A W beat with data (WSTRB != 0) was accepted this cycle.
    wr_bytes : Out(range(bus_bytes + 1))
        Bytes written by that beat (the ones of WSTRB).

    The requantization in force before the first CONFIG is the identity (``M = 1``,
    ``shift = 0``, no ReLU; saturated).  The multiplier keeps the low ``requant_mult_bits``
    bits of its field.

    Latency and throughput: the first row read is requested 2 cycles after the instruction is
    accepted (plus the token wait) and the first AW is valid 4 cycles after it; the first W
    beat is valid 7 cycles after the row read is accepted (row capture, lane select, 3
    requantizer stages, W buffer, W register); then one W beat per cycle while WREADY is high:
    one accumulator row per ``ceil(channels * bytes / bus_bytes)`` cycles, requantizing
    ``bus_bytes / (act_bits/8)`` lanes per cycle; gapless rows are merged into long bursts,
    issued without waiting for responses.  ``sp`` is given 2 cycles after the last write
    response; a CONFIG takes 3 cycles (accept, token, apply + signal).
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        bus = cfg.bus_bytes
        act_bytes = cfg.act_bits // 8
        acc_bytes = cfg.acc_bits // 8
        if bus % act_bytes or (cfg.pe_cols * act_bytes) % bus:
            raise ValueError(
                f"a bus beat ({bus} B) must hold whole activations ({act_bytes} B) and an "
                f"accumulator row must requantize to whole beats ({cfg.pe_cols * act_bytes} B)"
            )
        if (cfg.pe_cols * acc_bytes) % bus:
            raise ValueError(
                f"an accumulator row ({cfg.pe_cols * acc_bytes} B) must be a whole number of "
                f"bus beats ({bus} B)"
            )
        self._cfg = cfg
        super().__init__(
            {
                "instr": In(stream.Signature(issue_layout())),
                "prev": Out(TokenSignature()),
                "ofm_req": Out(stream.Signature(16)),
                "ofm_data": In(cfg.pe_cols * cfg.acc_bits),
                "axi": Out(AxiWriteSignature(cfg)),
                "error": Out(ErrorSignature()),
                "abort": In(1),
                "idle": Out(1),
                "wr_beat": Out(1),
                "wr_bytes": Out(range(bus + 1)),
            }
        )

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        bus = cfg.bus_bytes
        log2b = exact_log2(bus)
        act_bytes = cfg.act_bits // 8
        acc_bytes = cfg.acc_bits // 8
        lanes = bus // act_bytes  # accumulators requantized per beat
        all_strb = Const((1 << bus) - 1, bus)
        beat_bits = 16  # row beats: channels (12 bits) x bytes / bus, generously

        s_layout = op_layout(Op.STORE)
        c_layout = op_layout(Op.CONFIG)
        sf = data.View(s_layout, self.instr.payload.bits)
        cf = data.View(c_layout, self.instr.payload.bits)

        # ---------------------------------------------------------------- instruction
        pc = Signal(32, name="pc")
        is_store = Signal(name="is_store")
        wp = Signal(name="wp")
        sp = Signal(name="sp")
        raw = Signal(name="raw")
        rows = Signal(16, name="rows")
        row_beats = Signal(beat_bits, name="row_beats")
        last_strb = Signal(bus, name="last_strb")
        ext_stride = Signal(16, name="ext_stride")
        # requantization in force, and the one a CONFIG waiting for its token will set
        mult = Signal(cfg.requant_mult_bits, name="mult", init=1)
        shift = Signal(range(cfg.acc_bits + cfg.requant_mult_bits), name="shift")
        relu = Signal(name="relu")
        new_mult = Signal.like(mult, name="new_mult")
        new_shift = Signal.like(shift, name="new_shift")
        new_relu = Signal(name="new_relu")

        in_raw = Signal(name="in_raw")
        in_row_bytes = Signal(beat_bits + log2b, name="in_row_bytes")
        in_rem = Signal(range(bus), name="in_rem")
        in_mask = Signal(bus, name="in_mask")
        m.d.comb += [
            in_raw.eq(sf.sub == StoreMode.RAW),
            in_row_bytes.eq(Mux(in_raw, sf.channels * acc_bytes, sf.channels * act_bytes)),
            in_rem.eq(in_row_bytes & (bus - 1)),
            in_mask.eq((Const(1, bus + 1) << in_rem) - 1),
        ]

        # ---------------------------------------------------------------- status
        kill = Signal(name="kill")
        halted = Signal(name="halted")
        kill_now = Signal(name="kill_now")
        running = Signal(name="running")
        flush = Signal(name="flush")
        m.d.comb += kill_now.eq(kill | self.abort)

        # ---------------------------------------------------------------- address side
        m.submodules.bursts = bursts = BurstGenerator(cfg=cfg, rows_bits=16, beats_bits=beat_bits)
        m.submodules.wlen = wlen = ResetInserter(flush)(SyncFIFO(width=8, depth=MAX_OUTSTANDING))
        ext_addr = Signal(cfg.addr_bits, name="ext_addr")
        m.d.comb += [
            bursts.cmd.payload.addr.eq(ext_addr),
            bursts.cmd.payload.rows.eq(rows),
            bursts.cmd.payload.beats.eq(row_beats),
            bursts.cmd.payload.stride.eq(ext_stride),
            bursts.stop.eq(kill_now),
        ]

        aw = self.axi.aw
        take_burst = Signal(name="take_burst")  # burst -> AW register + W length FIFO
        m.d.comb += [
            bursts.burst.ready.eq((~aw.valid | aw.ready) & wlen.w_rdy),
            take_burst.eq(bursts.burst.valid & bursts.burst.ready),
            wlen.w_en.eq(take_burst),
            wlen.w_data.eq(bursts.burst.payload.len),
        ]
        with m.If(take_burst):
            m.d.sync += [
                aw.valid.eq(1),
                *address_fields(cfg, aw.payload, bursts.burst.payload, ID_STORE),
            ]
        with m.Elif(aw.ready):
            m.d.sync += aw.valid.eq(0)

        b = self.axi.b
        b_fire = Signal(name="b_fire")
        m.d.comb += [b.ready.eq(1), b_fire.eq(b.valid), bursts.complete.eq(b_fire)]

        # ---------------------------------------------------------------- data side
        row_bits = cfg.pe_cols * cfg.acc_bits
        rd_left = Signal(16, name="rd_rows_left")
        rd_row = Signal(16, name="rd_row")
        arriving = Signal(name="arriving")  # a row is on ofm_data this cycle
        rowbuf = Signal(row_bits, name="rowbuf")
        rb_left = Signal(beat_bits, name="rb_beats_left")
        rb_k = Signal(beat_bits, name="rb_beat")
        occupancy = Signal(range(DATA_DEPTH + 1), name="occupancy")

        cur_valid = Signal(name="cur_valid")
        cur_left = Signal(beat_bits, name="cur_left")
        cur_k = Signal(beat_bits, name="cur_beat")
        cur_row = Signal(row_bits, name="cur_row")
        issue = Signal(name="issue")
        pop = Signal(name="pop")
        m.d.comb += [
            cur_valid.eq(arriving | (rb_left != 0)),
            cur_left.eq(Mux(arriving, row_beats, rb_left)),
            cur_k.eq(Mux(arriving, 0, rb_k)),
            cur_row.eq(Mux(arriving, self.ofm_data, rowbuf)),
            issue.eq(running & cur_valid & (occupancy < DATA_DEPTH) & ~kill_now),
            self.ofm_req.valid.eq(
                running & (rd_left != 0) & ~kill_now & (~cur_valid | (issue & (cur_left == 1)))
            ),
            self.ofm_req.payload.eq(rd_row),
        ]
        m.d.sync += arriving.eq(self.ofm_req.valid & self.ofm_req.ready)
        with m.If(self.ofm_req.valid & self.ofm_req.ready):
            m.d.sync += [rd_left.eq(rd_left - 1), rd_row.eq(rd_row + 1)]
        with m.If(arriving):
            m.d.sync += rowbuf.eq(self.ofm_data)
        with m.If(issue):
            m.d.sync += [rb_left.eq(cur_left - 1), rb_k.eq(cur_k + 1)]
        with m.Elif(arriving):
            m.d.sync += [rb_left.eq(row_beats), rb_k.eq(0)]
        with m.If(issue & ~pop):
            m.d.sync += occupancy.eq(occupancy + 1)
        with m.Elif(~issue & pop):
            m.d.sync += occupancy.eq(occupancy - 1)

        # lane select (registered), then the requantizer; side data in a delay line
        m.submodules.requant = rq = Requantizer(cfg=cfg, lanes=lanes)
        q_valid = Signal(name="q_valid")
        q_strb = Signal(bus, name="q_strb")
        q_raw = Signal(8 * bus, name="q_raw")
        m.d.sync += [
            q_valid.eq(issue),
            q_strb.eq(Mux(cur_left == 1, last_strb, all_strb)),
            q_raw.eq(cur_row.word_select(cur_k, 8 * bus)),
            rq.acc.as_value().eq(cur_row.word_select(cur_k, lanes * cfg.acc_bits)),
        ]
        m.d.comb += [rq.multiplier.eq(mult), rq.shift.eq(shift), rq.relu.eq(relu)]
        d_valid, d_strb, d_raw = q_valid, q_strb, q_raw
        for stage in range(Requantizer.LATENCY):
            v = Signal(name=f"d{stage}_valid")
            s = Signal(bus, name=f"d{stage}_strb")
            r = Signal(8 * bus, name=f"d{stage}_raw")
            m.d.sync += [v.eq(d_valid), s.eq(d_strb), r.eq(d_raw)]
            d_valid, d_strb, d_raw = v, s, r

        beat_layout = data.StructLayout({"data": 8 * bus, "strb": bus})
        dfifo = SyncFIFO(width=beat_layout.size, depth=DATA_DEPTH)
        m.submodules.dfifo = dfifo = ResetInserter(flush)(dfifo)
        din = data.View(beat_layout, dfifo.w_data)
        dout = data.View(beat_layout, dfifo.r_data)
        m.d.comb += [
            dfifo.w_en.eq(d_valid),
            din.data.eq(Mux(raw, d_raw, rq.out.as_value())),
            din.strb.eq(d_strb),
        ]

        # ---------------------------------------------------------------- W channel
        w = self.axi.w
        wb_active = Signal(name="wb_active")  # a burst's beats are being sent
        wb_left = Signal(9, name="wb_left")
        cur_wleft = Signal(9, name="cur_wleft")
        have_burst = Signal(name="have_burst")
        emit = Signal(name="emit")
        m.d.comb += [
            have_burst.eq(wb_active | wlen.r_rdy),
            cur_wleft.eq(Mux(wb_active, wb_left, wlen.r_data + 1)),
            emit.eq((~w.valid | w.ready) & have_burst & (dfifo.r_rdy | kill_now)),
            wlen.r_en.eq(emit & ~wb_active),
            pop.eq(dfifo.r_rdy & (emit | (kill_now & ~have_burst))),
            dfifo.r_en.eq(pop),
        ]
        with m.If(emit):
            m.d.sync += [
                w.valid.eq(1),
                w.payload.data.eq(dout.data),
                w.payload.strb.eq(Mux(kill_now, 0, dout.strb)),
                w.payload.last.eq(cur_wleft == 1),
                wb_left.eq(cur_wleft - 1),
                wb_active.eq(cur_wleft != 1),
            ]
        with m.Elif(w.ready):
            m.d.sync += w.valid.eq(0)
        w_fire = Signal(name="w_fire")
        m.d.comb += [
            w_fire.eq(w.valid & w.ready),
            self.wr_beat.eq(w_fire & (w.payload.strb != 0)),
            self.wr_bytes.eq(Mux(w_fire, sum(w.payload.strb), 0)),
        ]

        # ---------------------------------------------------------------- errors, control
        m.d.sync += self.error.valid.eq(0)
        with m.If(b_fire & (b.payload.resp != 0) & running & ~kill_now):
            m.d.sync += [
                kill.eq(1),
                halted.eq(1),
                self.error.valid.eq(1),
                self.error.code.eq(ErrorCode.BUS_ERROR),
                self.error.pc.eq(pc),
            ]
        with m.If(self.abort):
            m.d.sync += [halted.eq(0), kill.eq(1)]

        bus_quiet = Signal(name="bus_quiet")
        data_done = Signal(name="data_done")
        drained = Signal(name="drained")
        m.d.comb += [
            bus_quiet.eq(
                (bursts.outstanding == 0)
                & ~bursts.busy
                & ~aw.valid
                & ~w.valid
                & ~wb_active
                & ~wlen.r_rdy
            ),
            data_done.eq((rd_left == 0) & ~cur_valid & ~bursts.busy),
            # beats issued and not yet sent (kill: dropped) are counted by `occupancy`
            drained.eq(bus_quiet & (occupancy == 0) & (kill_now | data_done)),
        ]

        with m.FSM(name="store_fsm"):
            with m.State("IDLE"):
                m.d.comb += [self.idle.eq(1), self.instr.ready.eq(self.abort | ~halted)]
                with m.If(self.instr.valid & self.instr.ready & ~self.abort):
                    m.d.sync += [
                        pc.eq(self.instr.payload.pc),
                        wp.eq(sf.wp),
                        sp.eq(sf.sp),
                        kill.eq(0),
                    ]
                    with m.If(sf.op == Op.STORE):
                        m.d.sync += [
                            is_store.eq(1),
                            raw.eq(in_raw),
                            rows.eq(sf.rows),
                            row_beats.eq((in_row_bytes + (bus - 1)) >> log2b),
                            last_strb.eq(Mux(in_rem == 0, all_strb, in_mask)),
                            ext_stride.eq(sf.ext_stride),
                            ext_addr.eq(sf.ext_addr),
                            rd_row.eq(sf.ofm_row),
                        ]
                        m.next = "WAIT"
                    with m.Elif(sf.op == Op.CONFIG):
                        m.d.sync += [
                            is_store.eq(0),
                            new_mult.eq(cf.multiplier),
                            new_shift.eq(cf.shift),
                            new_relu.eq(cf.relu),
                        ]
                        m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(self.abort):
                    m.next = "IDLE"
                with m.Elif(~wp | self.prev.avail):
                    m.d.comb += self.prev.take.eq(wp)
                    with m.If(is_store):
                        m.d.comb += bursts.cmd.valid.eq(1)
                        empty = (rows == 0) | (row_beats == 0)  # illegal; finish at once
                        m.d.sync += rd_left.eq(Mux(empty, 0, rows))
                        m.next = "RUN"
                    with m.Else():
                        m.d.sync += [mult.eq(new_mult), shift.eq(new_shift), relu.eq(new_relu)]
                        m.next = "DONE"
            with m.State("RUN"):
                m.d.comb += running.eq(1)
                with m.If(drained):
                    m.d.comb += flush.eq(1)
                    m.d.sync += [rd_left.eq(0), rb_left.eq(0), occupancy.eq(0)]
                    with m.If(kill_now):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.prev.give.eq(sp & ~self.abort)
                m.next = "IDLE"
        return m
