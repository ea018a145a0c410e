"""Owns the cycle model of the SSpNNA core: the timing rules and a per-instruction simulator.

(The simulator follows in the next commit; this module first holds :class:`Timing`, the one
place every cost rule lives, so that the compiler's schedule estimates and the cycle model
share it and the lead can calibrate it against the RTL.)

# Ref: docs/architecture.md, "Timing".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .arch import ArchConfig
from .errors import ConfigError

__all__ = ["Timing"]


@dataclass(frozen=True)
class Timing:
    """Every timing constant of the cycle model (docs/architecture.md "Timing").

    Parameters
    ----------
    mem_latency : int
        Cycles from a read burst's request to its first data beat, and from a write burst's
        last beat to its response (the testbench memory model uses the same; default 8).
    outstanding : int
        Bursts a DMA engine keeps in flight (the RTL's ``MAX_OUTSTANDING``).
    front_end : int
        ``F``: entry read, IFM read, input register.
    accumulate : int
        Accumulator read + write after the de-skew.
    request : int
        Cycles to issue one burst request (AR/AW).
    store_setup : int
        Cycles from a STORE's start to its first write beat (row read, requantizer stages).
    config : int
        Cycles of a CONFIG on the store engine.
    fetch_buffer : int
        Instructions the fetch unit buffers ahead of dispatch.
    """

    mem_latency: int = 8
    outstanding: int = 4
    front_end: int = 3
    accumulate: int = 2
    request: int = 1
    store_setup: int = 7
    config: int = 3
    fetch_buffer: int = 16

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"timing {name} must be a non-negative integer, not {value!r}")
        if self.outstanding < 1:
            raise ConfigError(f"timing outstanding must be at least 1, not {self.outstanding}")

    # ------------------------------------------------------------------ compute
    def run_min(self, cfg: ArchConfig) -> int:
        """Shortest back-to-back run: ``F + G + R + 1`` cycles."""
        return self.front_end + cfg.groups + cfg.pe_rows + 1

    def preload(self, cfg: ArchConfig) -> int:
        """Weight preload of a run: ``R + 1`` cycles."""
        return cfg.pe_rows + 1

    def depth(self, cfg: ArchConfig) -> int:
        """``D = F + R + G + accumulate``: last issue to last accumulator write."""
        return self.front_end + cfg.pe_rows + cfg.groups + self.accumulate

    def compute_cycles(self, pairs, cfg: ArchConfig):
        """Issue cycles of runs back to back: ``max(pairs, run_min)``."""
        return np.maximum(pairs, self.run_min(cfg))

    # ------------------------------------------------------------------ DMA
    def row_beats(self, nbytes, cfg: ArchConfig):
        """Bus beats of DMA rows of ``nbytes``."""
        return -(-np.asarray(nbytes, dtype=np.int64) // cfg.bus_bytes)

    def dma_estimate(self, rows, row_bytes, cfg: ArchConfig):
        """Approximate cycles of DMA transfers (vectorized): the compiler's estimate.

        Each row is ``ceil(row_bytes / B)`` beats in bursts of at most ``max_burst_beats``;
        with ``outstanding`` bursts in flight a burst costs ``max(beats + request,
        (latency + beats + request) / outstanding)``; one latency to fill the pipe.
        """
        rows = np.asarray(rows, dtype=np.int64)
        beats = self.row_beats(row_bytes, cfg)
        bursts = -(-beats // cfg.max_burst_beats)
        per_burst = np.maximum(
            beats / np.maximum(bursts, 1) + self.request,
            (self.mem_latency + beats / np.maximum(bursts, 1) + self.request) / self.outstanding,
        )
        return rows * bursts * per_burst + self.mem_latency
