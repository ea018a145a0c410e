# amaranth: UnusedElaboratable=no
"""Burst generator (sspnna.burst) against a plain-Python splitter of the same contract."""

from __future__ import annotations

import random

import pytest

from accss3d.arch import CONFIGS
from sspnna.burst import PAGE_BYTES, BurstGenerator
from sspnna.interfaces import MAX_OUTSTANDING

from .axi_model import simulate, stream_put

CFGS = [CONFIGS["small"], CONFIGS["default"]]


def gold_bursts(cfg, addr, rows, beats, stride):
    """(addr, beats) of every burst: gapless rows merged, max_burst_beats, 4 KB pages."""
    bus = cfg.bus_bytes
    if rows == 0 or beats == 0:
        return []
    runs = [(addr, rows * beats)] if rows == 1 or stride == beats * bus else [
        (addr + r * stride, beats) for r in range(rows)
    ]  # fmt: skip
    out = []
    for a, left in runs:
        while left:
            n = min(left, cfg.max_burst_beats, (PAGE_BYTES - a % PAGE_BYTES) // bus)
            out.append((a, n))
            a += n * bus
            left -= n
    return out


def test_rejects_bad_widths():
    with pytest.raises(TypeError, match=r"^beats_bits must be a positive integer, not 0$"):
        BurstGenerator(cfg=CONFIGS["small"], rows_bits=4, beats_bits=0)


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.name)
def test_random_commands(cfg):
    dut = BurstGenerator(cfg=cfg, rows_bits=8, beats_bits=12)
    bus = cfg.bus_bytes
    rng = random.Random(cfg.bus_bytes)
    cmds = []
    for _ in range(25):
        beats = rng.choice([0, 1, 2, 3, cfg.max_burst_beats, 40])
        stride = bus * rng.choice([beats, beats + 1, 0, 7])
        rows = rng.choice([0, 1, 2, 5])
        addr = rng.randrange(0, 1 << 16, bus) if rng.random() < 0.5 else 4096 - bus * 3
        cmds.append((addr, rows, beats, stride))
    got, want = [], []

    async def sink(ctx):
        in_flight = 0
        while True:
            ready = rng.random() < 0.7
            ctx.set(dut.burst.ready, ready)
            complete = in_flight > 0 and rng.random() < 0.3
            ctx.set(dut.complete, complete)
            _, _, valid, burst, count = await ctx.tick().sample(
                dut.burst.valid, dut.burst.payload, dut.outstanding
            )
            assert count == in_flight and count <= MAX_OUTSTANDING
            in_flight += (valid and ready) - complete
            if valid and ready:
                got.append((burst.addr, burst.len + 1))

    async def tb(ctx):
        for addr, rows, beats, stride in cmds:
            want.extend(gold_bursts(cfg, addr, rows, beats, stride))
            payload = {"addr": addr, "rows": rows, "beats": beats, "stride": stride}
            await stream_put(ctx, dut.cmd, payload)
        for _ in range(2000):
            if len(got) == len(want) and not ctx.get(dut.busy):
                break
            await ctx.tick()

    simulate(dut, tb, background=[sink], name=f"bursts_{cfg.name}")
    assert got == want


def test_stop_holds_an_offered_burst():
    cfg = CONFIGS["small"]
    dut = BurstGenerator(cfg=cfg, rows_bits=8, beats_bits=12)

    async def tb(ctx):
        await stream_put(ctx, dut.cmd, {"addr": 0, "rows": 4, "beats": 3, "stride": 64})
        for _ in range(3):
            await ctx.tick()
        assert ctx.get(dut.burst.valid)  # offered, not taken
        ctx.set(dut.stop, 1)
        for _ in range(3):  # stays offered with the same payload
            assert ctx.get(dut.burst.valid) and ctx.get(dut.burst.payload.addr) == 0
            await ctx.tick()
        ctx.set(dut.burst.ready, 1)
        await ctx.tick()
        assert not ctx.get(dut.burst.valid)  # nothing new while stopped; the rest dropped
        await ctx.tick()
        assert not ctx.get(dut.busy)
        assert ctx.get(dut.outstanding) == 1

    simulate(dut, tb, name="bursts_stop")
