"""Owns the plain-Python AXI4 / AXI4-Lite models the hardware unit tests run against.

:class:`AxiMemModel` is an AXI4 slave memory for the Amaranth simulator (async testbenches):
random latency per burst and random stalls on every channel, bus errors (SLVERR) for chosen
address ranges, and a checker of the initiator's side of the protocol (INCR, full-width
size, at most ``max_burst_beats`` beats, no 4 KB crossing, bus-aligned addresses, WLAST
where the burst ends, at most ``MAX_OUTSTANDING`` bursts in flight).  Every wait is bounded.
"""

from __future__ import annotations

import os
import random
import re
from collections import deque
from dataclasses import dataclass, field

from amaranth.sim import Simulator

from sspnna.interfaces import MAX_OUTSTANDING

__all__ = [
    "AxiMemModel",
    "Burst",
    "TokenModel",
    "stream_put",
    "stream_get",
    "bounded",
    "simulate",
]

OKAY, SLVERR = 0, 2


@dataclass
class Burst:
    """One AXI burst as seen by the slave."""

    id: int
    addr: int
    len: int  # beats - 1
    size: int
    burst: int
    due: int = 0  # cycle at which the response may start
    accepted: int = 0  # cycle of the address handshake
    beat: int = 0
    resp: int = 0
    beats_w: list = field(default_factory=list)  # (data, strb, last) of a write burst


class AxiMemModel:
    """A byte-addressed AXI4 slave memory for Amaranth testbenches.

    Parameters
    ----------
    size : int
        Memory bytes (addresses at or above ``size`` answer SLVERR).
    cfg : ArchConfig
        Bus width and burst limit to check against.
    seed : int
        Seed of the latency/stall generator.
    latency : (int, int)
        Inclusive range of cycles from the address handshake to the first response.
    stall : float
        Probability that a channel is not ready / not valid in a given cycle.
    error_ranges : list of (lo, hi)
        Byte ranges ``[lo, hi)`` that answer SLVERR (reads return 0, writes are dropped).
    """

    def __init__(self, size, cfg, *, seed=0, latency=(1, 6), stall=0.3, error_ranges=()):
        self.mem = bytearray(size)
        self.cfg = cfg
        self.bus = cfg.bus_bytes
        self.rng = random.Random(seed)
        self.latency = latency
        self.stall = stall
        self.error_ranges = [*error_ranges, (size, 1 << 64)]
        self.ar_log: list[Burst] = []
        self.aw_log: list[Burst] = []
        self.max_reads_in_flight = 0
        self.max_writes_in_flight = 0
        self.max_in_flight = MAX_OUTSTANDING  # the initiator's promise, checked
        self.r_cycles: list[int] = []  # cycles of accepted R beats
        self.w_cycles: list[int] = []  # cycles of accepted W beats
        self.b_cycles: list[int] = []  # cycles of accepted B responses

    # ------------------------------------------------------------------ helpers
    def _go(self) -> bool:
        return self.rng.random() >= self.stall

    def _bad(self, addr: int) -> bool:
        """Whether the beat at ``addr`` touches an error range."""
        return any(lo < addr + self.bus and addr < hi for lo, hi in self.error_ranges)

    def _check(self, b: Burst, what: str) -> None:
        cfg = self.cfg
        assert b.burst == 1, f"{what} burst type {b.burst} is not INCR"
        assert 1 << b.size == self.bus, f"{what} size {b.size} is not the bus width"
        assert b.addr % self.bus == 0, f"{what} address {b.addr:#x} is not bus-aligned"
        assert b.len + 1 <= cfg.max_burst_beats, f"{what} of {b.len + 1} beats is too long"
        last = b.addr + (b.len + 1) * self.bus - 1
        assert b.addr // 4096 == last // 4096, f"{what} {b.addr:#x}+{b.len + 1} crosses 4 KB"

    def _due(self, now: int) -> int:
        return now + self.rng.randint(*self.latency)

    # ------------------------------------------------------------------ read side
    def read_responder(self, port):
        """An async testbench serving AR/R of ``port`` (an ``AxiReadSignature`` initiator)."""

        async def responder(ctx):
            pending: deque[Burst] = deque()
            holding = False
            for now in range(1 << 62):
                ar_ready = len(pending) < 8 and self._go()
                ctx.set(port.ar.ready, ar_ready)
                r_valid = False
                if pending and (holding or (pending[0].due <= now and self._go())):
                    b = pending[0]
                    addr = b.addr + b.beat * self.bus
                    bad = self._bad(addr)
                    value = 0 if bad else int.from_bytes(self.mem[addr : addr + self.bus], "little")
                    ctx.set(
                        port.r.payload,
                        {
                            "id": b.id,
                            "data": value,
                            "resp": SLVERR if bad else OKAY,
                            "last": int(b.beat == b.len),
                        },
                    )
                    r_valid = True
                ctx.set(port.r.valid, r_valid)
                _, _, ar_valid, ar, r_ready = await ctx.tick().sample(
                    port.ar.valid, port.ar.payload, port.r.ready
                )
                if ar_valid and ar_ready:
                    b = Burst(ar.id, ar.addr, ar.len, ar.size, ar.burst, self._due(now), now)
                    self._check(b, "read")
                    self.ar_log.append(b)
                    pending.append(b)
                    self.max_reads_in_flight = max(self.max_reads_in_flight, len(pending))
                    assert len(pending) <= self.max_in_flight, "too many reads in flight"
                holding = r_valid and not r_ready
                if r_valid and r_ready:
                    self.r_cycles.append(now)
                    b = pending[0]
                    b.beat += 1
                    if b.beat > b.len:
                        pending.popleft()

        return responder

    # ------------------------------------------------------------------ write side
    def write_responder(self, port):
        """An async testbench serving AW/W/B of ``port`` (an ``AxiWriteSignature`` initiator)."""

        async def responder(ctx):
            aws: deque[Burst] = deque()  # address accepted, data incomplete
            wbeats: deque = deque()  # W beats not yet matched to an AW
            bs: deque[Burst] = deque()  # complete, response pending
            holding = False
            for now in range(1 << 62):
                aw_ready = len(aws) < 8 and self._go()
                w_ready = len(wbeats) < 16 and self._go()
                ctx.set(port.aw.ready, aw_ready)
                ctx.set(port.w.ready, w_ready)
                b_valid = False
                if bs and (holding or (bs[0].due <= now and self._go())):
                    b = bs[0]
                    ctx.set(port.b.payload, {"id": b.id, "resp": b.resp})
                    b_valid = True
                ctx.set(port.b.valid, b_valid)
                _, _, aw_valid, aw, w_valid, w, b_ready = await ctx.tick().sample(
                    port.aw.valid, port.aw.payload, port.w.valid, port.w.payload, port.b.ready
                )
                if aw_valid and aw_ready:
                    b = Burst(aw.id, aw.addr, aw.len, aw.size, aw.burst, accepted=now)
                    self._check(b, "write")
                    self.aw_log.append(b)
                    aws.append(b)
                if w_valid and w_ready:
                    self.w_cycles.append(now)
                    wbeats.append((w.data, w.strb, w.last))
                while aws and wbeats:
                    b = aws[0]
                    data, strb, last = wbeats.popleft()
                    i = len(b.beats_w)
                    b.beats_w.append((data, strb))
                    assert last == (i == b.len), f"WLAST {last} on beat {i} of {b.len + 1}"
                    if last:
                        aws.popleft()
                        b.resp = self._commit(b)
                        b.due = self._due(now)
                        bs.append(b)
                in_flight = len(aws) + len(bs)
                self.max_writes_in_flight = max(self.max_writes_in_flight, in_flight)
                assert in_flight <= self.max_in_flight, "too many writes in flight"
                holding = b_valid and not b_ready
                if b_valid and b_ready:
                    self.b_cycles.append(now)
                    bs.popleft()

        return responder

    def _commit(self, b: Burst) -> int:
        """Write a complete burst into memory; return its BRESP."""
        resp = OKAY
        for i, (data, strb) in enumerate(b.beats_w):
            addr = b.addr + i * self.bus
            if self._bad(addr):
                resp = SLVERR
                continue
            for j in range(self.bus):
                if strb >> j & 1:
                    self.mem[addr + j] = (data >> (8 * j)) & 0xFF
        return resp

    def add_to(self, sim, *, read=None, write=None):
        """Add the responders of the given ports to a simulator (as background testbenches)."""
        if read is not None:
            sim.add_testbench(self.read_responder(read), background=True)
        if write is not None:
            sim.add_testbench(self.write_responder(write), background=True)


# ---------------------------------------------------------------------- tokens
class TokenModel:
    """The controller's side of a ``TokenSignature``: a semaphore with a log.

    ``tokens`` is the count (tests may change it); ``takes``/``gives`` list the cycles
    (counted from the start of the simulation) at which the engine took or gave one.
    """

    def __init__(self, port, tokens=0):
        self.port = port
        self.tokens = tokens
        self.takes: list[int] = []
        self.gives: list[int] = []

    async def process(self, ctx):
        for now in range(1 << 62):
            ctx.set(self.port.avail, self.tokens > 0)
            _, _, take, give = await ctx.tick().sample(self.port.take, self.port.give)
            if take:
                assert self.tokens > 0, "token taken while none available"
                self.tokens -= 1
                self.takes.append(now)
            if give:
                self.gives.append(now)


# ---------------------------------------------------------------------- streams
async def stream_put(ctx, stream, payload, *, limit=10_000):
    """Offer one payload on a stream input of the DUT; return after the handshake."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    for _ in range(limit):
        _, _, ready = await ctx.tick().sample(stream.ready)
        if ready:
            ctx.set(stream.valid, 0)
            return
    raise AssertionError(f"stream_put timed out after {limit} cycles")


async def stream_get(ctx, stream, *, limit=10_000):
    """Accept one payload from a stream output of the DUT."""
    ctx.set(stream.ready, 1)
    for _ in range(limit):
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        if valid:
            ctx.set(stream.ready, 0)
            return payload
    raise AssertionError(f"stream_get timed out after {limit} cycles")


async def bounded(ctx, cond, limit, what):
    """Tick until ``cond()`` (read with ``ctx.get``) holds; fail after ``limit`` cycles."""
    for _ in range(limit):
        if cond():
            return
        await ctx.tick()
    raise AssertionError(f"timed out after {limit} cycles waiting for {what}")


def simulate(dut, testbench, *, background=(), name="sim", period=1e-8):
    """Run ``testbench`` (critical) and ``background`` testbenches on ``dut``.

    Waveforms are opt-in: ``ACCSS3D_WAVES=1`` writes ``build/waves/<name>.vcd``.
    """
    sim = Simulator(dut)
    sim.add_clock(period)
    for tb in background:
        sim.add_testbench(tb, background=True)
    sim.add_testbench(testbench)
    if os.environ.get("ACCSS3D_WAVES", "") not in ("", "0"):
        root = os.path.join(os.path.dirname(__file__), "..", "..", "build", "waves")
        os.makedirs(root, exist_ok=True)
        path = os.path.join(root, re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".vcd")
        with sim.write_vcd(path):
            sim.run()
    else:
        sim.run()
