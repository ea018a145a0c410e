"""Owns the in-simulator helpers of the cocotb testbenches: clock and reset, bounded waits,
stream handshakes, instruction words, the axi_mem image files.

Every wait is bounded (a cycle limit): a hung DUT fails the test with a message instead of
hanging the run.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import NextTimeStep, ReadOnly, RisingEdge

__all__ = [
    "start_clock_and_reset",
    "drive_zero",
    "wait_for",
    "cycles",
    "handshake",
    "stream_put",
    "pause_generator",
    "axi_ram",
    "run_dir",
    "write_hex",
    "read_hex",
    "instr_word",
]


async def start_clock_and_reset(dut, *, period_ns=10, reset_cycles=4):
    """Start ``clk`` and hold the synchronous ``rst`` high for a few cycles."""
    cocotb.start_soon(Clock(dut.clk, period_ns, unit="ns").start())
    dut.rst.value = 1
    for _ in range(reset_cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def drive_zero(dut, *names):
    """Drive inputs to 0 before the bus models start (no X reaches a handshake sample)."""
    for name in names:
        getattr(dut, name).value = 0


async def cycles(dut, n):
    for _ in range(n):
        await RisingEdge(dut.clk)


async def wait_for(dut, cond, limit, what):
    """Wait (rising edges) until ``cond()`` holds when sampled; fail after ``limit`` cycles."""
    for _ in range(limit):
        await RisingEdge(dut.clk)
        await ReadOnly()
        if cond():
            await NextTimeStep()  # leave the read-only phase: the caller may drive signals
            return
    raise AssertionError(f"timed out after {limit} cycles waiting for {what}")


async def handshake(dut, valid, ready, limit=10_000, what="a handshake"):
    """Hold ``valid`` (a handle) high until a rising edge where ``ready`` was high; the
    transfer happened at that edge, after which ``valid`` is dropped."""
    valid.value = 1
    for _ in range(limit):
        await ReadOnly()
        taken = ready.value == 1
        await RisingEdge(dut.clk)
        if taken:
            valid.value = 0
            return
    raise AssertionError(f"no handshake in {limit} cycles: {what}")


async def stream_put(dut, prefix, payload, limit=10_000):
    """One transfer on the flat stream ``<prefix>__valid/ready/payload``."""
    getattr(dut, f"{prefix}__payload").value = payload
    await handshake(
        dut, getattr(dut, f"{prefix}__valid"), getattr(dut, f"{prefix}__ready"), limit, prefix
    )


def pause_generator(rng: random.Random, probability: float):
    """An endless pause pattern for cocotbext-axi channels (True = pause this cycle)."""
    while True:
        yield rng.random() < probability


def axi_ram(dut, image: bytes, *, write: bool, seed: int, pause: float = 0.3, prefix="m_axi"):
    """A cocotbext-axi AxiRamRead (or AxiRamWrite) on the flat ``<prefix>_*`` port of the DUT,
    holding ``image``, with seeded random pauses of probability ``pause`` on its channels."""
    from cocotbext.axi import AxiRamRead, AxiRamWrite, AxiReadBus, AxiWriteBus

    if write:
        ram = AxiRamWrite(AxiWriteBus.from_prefix(dut, prefix), dut.clk, dut.rst, size=len(image))
        channels = (ram.aw_channel, ram.w_channel, ram.b_channel)
    else:
        ram = AxiRamRead(AxiReadBus.from_prefix(dut, prefix), dut.clk, dut.rst, size=len(image))
        channels = (ram.ar_channel, ram.r_channel)
    ram.write(0, image)
    for i, channel in enumerate(channels):
        channel.set_pause_generator(pause_generator(random.Random(seed + i), pause))
    return ram


def run_dir() -> Path:
    """The run folder of this simulation (the runner starts the simulator in it)."""
    return Path(os.getcwd())


def write_hex(path: Path, data: bytes) -> None:
    """An ``axi_mem`` preload file: one byte per line, from address 0."""
    path.write_text("".join(f"{b:02x}\n" for b in data))


def read_hex(path: Path) -> bytes:
    """Bytes of an ``axi_mem`` dump (``$writememh``: one byte per line, ``//`` comments and
    ``@address`` lines skipped)."""
    out = bytearray()
    for line in path.read_text().splitlines():
        line = line.split("//")[0].strip()
        if line and not line.startswith("@"):
            out += bytes(int(tok, 16) for tok in line.split())
    return bytes(out)


def instr_word(instr) -> int:
    """The 128-bit value of an :class:`accss3d.isa.Instr`."""
    from accss3d.isa import encode

    return int.from_bytes(encode(instr), "little")
