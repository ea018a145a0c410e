"""Benchmark helpers: median timing and a table of ratios printed at the end."""

from __future__ import annotations

import json
import os
import statistics
import time

import pytest

RESULTS: list[dict] = []


def median_seconds(fn, repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@pytest.fixture
def timer():
    """The :func:`median_seconds` function."""
    return median_seconds


@pytest.fixture
def record():
    """Record one comparison: ``record(name, ours_s, peer_s, peer_name, **extra)``."""

    def add(name, ours, peer, peer_name, **extra):
        row = {
            "benchmark": name,
            "ours_ms": 1e3 * ours,
            "peer": peer_name,
            "peer_ms": 1e3 * peer,
            "ratio": ours / peer,
            **extra,
        }
        RESULTS.append(row)
        print(
            f"\n{name}: ours {1e3 * ours:.1f} ms, {peer_name} {1e3 * peer:.1f} ms, "
            f"ratio {ours / peer:.2f}"
        )

    return add


def pytest_sessionfinish(session):
    if not RESULTS:
        return
    os.makedirs("build/bench", exist_ok=True)
    with open("build/bench/results.json", "w", encoding="utf-8") as fh:
        json.dump(RESULTS, fh, indent=2, sort_keys=True)
    lines = ["", "benchmark                                 ours ms    peer ms  ratio  peer"]
    for r in RESULTS:
        lines.append(
            f"{r['benchmark']:<40} {r['ours_ms']:9.1f} {r['peer_ms']:9.1f} "
            f"{r['ratio']:6.2f}  {r['peer']}"
        )
    print("\n".join(lines))
