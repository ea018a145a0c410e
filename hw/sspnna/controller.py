"""Owns the control of the core: dispatch, tokens, SYNC/HALT, errors, watchdog, counters.

The controller takes fetched instructions in order, checks them (:class:`Decoder`), and
pushes each into the queue of its engine (load, compute, store; ``queue_depth`` each);
SYNC and HALT wait until every queue is empty and every engine idle.  It holds the four
token semaphores between the engines (``load <-> compute <-> store``).

Errors: the first error - illegal instruction, an engine's runtime error, a bus error, the
program running past ``PROG_LEN``, or the watchdog (no progress for ``WATCHDOG`` cycles) -
is latched with its instruction index; the controller stops dispatching, asserts ``abort``
until every engine and the fetch unit are idle, then reports ``error``.  Nothing waits
forever: every engine drains in bounded time once aborted.

Counters (64-bit, cleared at start): cycles while running, array-busy cycles, memory-stall
cycles, MACs, instructions dispatched, bytes read and written on the bus.

Latency: one instruction dispatched per cycle when its queue has room.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig
from accss3d.isa import Engine, ErrorCode

from .decoder import Decoder
from .interfaces import ErrorSignature, TokenSignature, issue_layout

__all__ = ["Controller", "COUNTERS"]

#: Counter names, in the order of the CSR map (accss3d.isa.CSRS).
COUNTERS = ("cycles", "busy", "mem_stall", "macs", "instrs", "rd_bytes", "wr_bytes")


class Controller(wiring.Component):
    """Dispatch, synchronization and error handling.

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    start, clear : In(1)
        CTRL pulses.
    prog_len, mem_limit, watchdog : In(32)
    busy, done, failed : Out(1); error_code : Out(4); error_pc : Out(32)
        STATUS / ERROR_CODE / ERROR_PC.
    fetch_start, abort : Out(1)
        Start the fetch unit; stop every unit (held until all are idle).
    fetch : In(stream.Signature(issue_layout()))
    fetch_exhausted, fetch_idle : In(1); fetch_error : In(ErrorSignature())
    load_q, compute_q, store_q : Out(stream.Signature(issue_layout()))
    load_next, compute_prev, compute_next, store_prev : In(TokenSignature())
        The engines' token links (the counters live here).
    load_idle, compute_idle, store_idle : In(1)
    load_error, compute_error, store_error : In(ErrorSignature())
    issue, mem_stall, rd_beat, wr_beat, fetch_beat : In(1)
        Events for the counters (an array entry, a stalled cycle, bus beats).
    wr_count : In(range(bus_bytes + 1))
        Bytes written this cycle (strobes set).
    cycles, busy_cycles, mem_stall_cycles, macs, instrs, rd_bytes, wr_bytes : Out(64)
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        q = stream.Signature(issue_layout())
        super().__init__(
            {
                "start": In(1),
                "clear": In(1),
                "prog_len": In(32),
                "mem_limit": In(32),
                "watchdog": In(32),
                "busy": Out(1),
                "done": Out(1),
                "failed": Out(1),
                "error_code": Out(4),
                "error_pc": Out(32),
                "fetch_start": Out(1),
                "abort": Out(1),
                "fetch": In(q),
                "fetch_exhausted": In(1),
                "fetch_idle": In(1),
                "fetch_error": In(ErrorSignature()),
                "load_q": Out(q),
                "compute_q": Out(q),
                "store_q": Out(q),
                "load_next": In(TokenSignature()),
                "compute_prev": In(TokenSignature()),
                "compute_next": In(TokenSignature()),
                "store_prev": In(TokenSignature()),
                "load_idle": In(1),
                "compute_idle": In(1),
                "store_idle": In(1),
                "load_error": In(ErrorSignature()),
                "compute_error": In(ErrorSignature()),
                "store_error": In(ErrorSignature()),
                "issue": In(1),
                "mem_stall": In(1),
                "rd_beat": In(1),
                "wr_beat": In(1),
                "wr_count": In(range(cfg.bus_bytes + 1)),
                "fetch_beat": In(1),
                "cycles": Out(64),
                "busy_cycles": Out(64),
                "mem_stall_cycles": Out(64),
                "macs": Out(64),
                "instrs": Out(64),
                "rd_bytes": Out(64),
                "wr_bytes": Out(64),
            }
        )

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        m.submodules.decoder = dec = Decoder(cfg=cfg)
        width = len(self.fetch.payload.as_value())
        fifos = {}
        for name, port in (
            ("load", self.load_q),
            ("compute", self.compute_q),
            ("store", self.store_q),
        ):
            fifo = SyncFIFOBuffered(width=width, depth=cfg.queue_depth)
            m.submodules[f"{name}_queue"] = fifo
            m.d.comb += [
                port.payload.eq(fifo.r_data),
                port.valid.eq(fifo.r_rdy),
                fifo.r_en.eq(port.ready),
            ]
            fifos[name] = fifo

        running = Signal(name="running")
        stopping = Signal(name="stopping")  # an error is being drained
        m.d.comb += [self.busy.eq(running | stopping), self.abort.eq(stopping)]

        # ---------------------------------------------------------- tokens
        links = (
            ("l2c", self.load_next, self.compute_prev),
            ("c2s", self.compute_next, self.store_prev),
        )
        for name, near, far in links:
            fwd_name, bwd_name = name, name[2] + "2" + name[0]
            fwd = Signal(16, name=f"tok_{fwd_name}")
            bwd = Signal(16, name=f"tok_{bwd_name}")
            # near (the earlier engine) gives fwd and takes bwd; far gives bwd, takes fwd.
            m.d.comb += [near.avail.eq(bwd != 0), far.avail.eq(fwd != 0)]
            with m.If(self.start & ~self.busy):
                m.d.sync += [fwd.eq(0), bwd.eq(0)]
            with m.Else():
                m.d.sync += [fwd.eq(fwd + near.give - far.take), bwd.eq(bwd + far.give - near.take)]

        # ---------------------------------------------------------- dispatch
        head = self.fetch.payload
        m.d.comb += [dec.bits.eq(head.bits), dec.mem_limit.eq(self.mem_limit)]
        all_idle = Signal(name="all_idle")
        m.d.comb += all_idle.eq(
            self.load_idle
            & self.compute_idle
            & self.store_idle
            & (fifos["load"].level == 0)
            & (fifos["compute"].level == 0)
            & (fifos["store"].level == 0)
        )
        fail = Signal(name="fail")
        fail_code = Signal(4, name="fail_code")
        fail_pc = Signal(32, name="fail_pc")
        dispatched = Signal(name="dispatched")
        halt_now = Signal(name="halt_now")
        active = Signal(name="active")
        m.d.comb += active.eq(running & ~stopping)
        illegal = Signal(name="illegal")
        m.d.comb += illegal.eq(active & self.fetch.valid & (dec.error != 0))
        with m.If(active & self.fetch.valid & (dec.error == 0)):
            with m.If(dec.engine == Engine.GLOBAL):
                with m.If(all_idle):
                    m.d.comb += [self.fetch.ready.eq(1), dispatched.eq(1), halt_now.eq(dec.halt)]
            with m.Else():
                for engine, name in (
                    (Engine.LOAD, "load"),
                    (Engine.COMPUTE, "compute"),
                    (Engine.STORE, "store"),
                ):
                    with m.If(dec.engine == engine):
                        fifo = fifos[name]
                        m.d.comb += [
                            fifo.w_data.eq(head.as_value()),
                            fifo.w_en.eq(1),
                            self.fetch.ready.eq(fifo.w_rdy),
                            dispatched.eq(fifo.w_rdy),
                        ]

        # ---------------------------------------------------------- watchdog
        quiet = Signal(32, name="wd_quiet")
        progress = Signal(name="progress")
        m.d.comb += progress.eq(
            dispatched | self.issue | self.rd_beat | self.wr_beat | self.fetch_beat
        )
        with m.If(~running | progress):
            m.d.sync += quiet.eq(0)
        with m.Else():
            m.d.sync += quiet.eq(quiet + 1)

        # ---------------------------------------------------------- errors (first wins)
        sources = [
            (illegal, dec.error, head.pc),
            (
                ~self.fetch.valid & self.fetch_exhausted & self.fetch_idle,
                ErrorCode.PROGRAM_END,
                self.prog_len,
            ),
            (self.compute_error.valid, self.compute_error.code, self.compute_error.pc),
            (self.load_error.valid, self.load_error.code, self.load_error.pc),
            (self.store_error.valid, self.store_error.code, self.store_error.pc),
            (self.fetch_error.valid, self.fetch_error.code, self.fetch_error.pc),
            ((self.watchdog != 0) & (quiet >= self.watchdog), ErrorCode.WATCHDOG, head.pc),
        ]
        for i, (cond, code, pc) in enumerate(sources):
            with (m.If if i == 0 else m.Elif)(active & cond):
                m.d.comb += [fail.eq(1), fail_code.eq(code), fail_pc.eq(pc)]

        # ---------------------------------------------------------- state
        m.d.comb += self.fetch_start.eq(0)
        with m.If(self.start & ~self.busy):
            m.d.sync += [
                running.eq(1),
                self.done.eq(0),
                self.failed.eq(0),
                self.error_code.eq(0),
                self.error_pc.eq(0),
            ]
            m.d.comb += self.fetch_start.eq(1)
        with m.If(self.clear & ~self.busy):
            m.d.sync += [
                self.done.eq(0),
                self.failed.eq(0),
                self.error_code.eq(0),
                self.error_pc.eq(0),
            ]
        with m.If(halt_now):
            m.d.sync += [running.eq(0), self.done.eq(1)]
        with m.If(fail):
            m.d.sync += [
                stopping.eq(1),
                running.eq(0),
                self.error_code.eq(fail_code),
                self.error_pc.eq(fail_pc),
            ]
        with m.If(stopping):
            # Flush the queues; wait for every unit to drain.
            for fifo in fifos.values():
                m.d.comb += fifo.r_en.eq(1)
            m.d.comb += self.fetch.ready.eq(1)
            with m.If(self.load_idle & self.compute_idle & self.store_idle & self.fetch_idle):
                m.d.sync += [stopping.eq(0), self.failed.eq(1)]

        # ---------------------------------------------------------- counters
        counters = {
            "cycles": (self.cycles, running),
            "busy": (self.busy_cycles, self.issue),
            "mem_stall": (self.mem_stall_cycles, self.mem_stall),
            "macs": (self.macs, self.issue),
            "instrs": (self.instrs, dispatched),
            "rd_bytes": (self.rd_bytes, self.rd_beat),
            "wr_bytes": (self.wr_bytes, self.wr_beat),
        }
        step = {"macs": cfg.num_pes}
        for name, (reg, event) in counters.items():
            with m.If(self.start & ~self.busy):
                m.d.sync += reg.eq(0)
            with m.Elif(self.busy):
                if name == "rd_bytes":  # the load engine's and the fetch unit's beats
                    beats = self.rd_beat.as_unsigned() + self.fetch_beat.as_unsigned()
                    m.d.sync += reg.eq(reg + beats * cfg.bus_bytes)
                elif name == "wr_bytes":  # bytes with their strobe set
                    m.d.sync += reg.eq(reg + self.wr_count)
                else:
                    with m.If(event):
                        m.d.sync += reg.eq(reg + step.get(name, 1))
        return m
