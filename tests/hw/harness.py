"""Shared helpers of the hardware unit tests: L1 images, stream pushes, bounded waits."""

from __future__ import annotations

import numpy as np

from accss3d.isa import Kind
from sspnna.interfaces import phys_bytes


def beats_for_rows(cfg, kind_name: str, rows_bytes: np.ndarray):
    """Yield (row, lane, data, be) beats writing whole physical rows of a kind."""
    B = cfg.bus_bytes
    phys = phys_bytes(cfg, kind_name)
    flat = np.asarray(rows_bytes, dtype=np.uint8).reshape(-1, phys)
    for row, raw in enumerate(flat):
        for lane in range(phys // B):
            chunk = raw[lane * B : (lane + 1) * B]
            yield row, lane, int.from_bytes(chunk.tobytes(), "little"), (1 << B) - 1


async def dma_fill(ctx, port, cfg, kind: Kind, kind_name: str, image: np.ndarray):
    """Write ``image`` (bytes of consecutive physical rows) through an L1 DMA port."""
    for row, lane, value, be in beats_for_rows(cfg, kind_name, image):
        ctx.set(port.en, 1)
        ctx.set(port.kind, int(kind))
        ctx.set(port.row, row)
        ctx.set(port.lane, lane)
        ctx.set(port.data, value)
        ctx.set(port.be, be)
        await ctx.tick()
    ctx.set(port.en, 0)


async def wait_until(ctx, cond, limit: int, what: str):
    """Tick until ``cond()`` holds; fail after ``limit`` cycles (nothing hangs)."""
    for _ in range(limit):
        if cond():
            return
        await ctx.tick()
    raise AssertionError(f"timed out after {limit} cycles waiting for {what}")


def signed_lanes(value: int, lanes: int, bits: int) -> list[int]:
    """Split an integer into ``lanes`` signed ``bits``-bit values (little-endian)."""
    out = []
    for i in range(lanes):
        v = (value >> (i * bits)) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if v >> (bits - 1) else v)
    return out
