"""Owns design-space sweeps: a space file of ArchConfig values, one Ray task per point, a table.

A *space file* (YAML or JSON, :func:`load_space`) names a base configuration, lists of values
for :class:`~accss3d.arch.ArchConfig` fields (their cartesian product, plus explicit
``points``), and the workload - a scene with a network or one layer.  Every point compiles
the workload for its configuration, runs the cycle model and the energy model, and takes
its area from the analytic model (:mod:`accss3d.areamodel`) or, with ``area: true``, from
the Yosys synthesis (:mod:`accss3d.area`, cached).  Points run as Ray tasks - on a local
Ray instance by default, on an existing cluster with ``address`` - or in this process
(``executor="serial"``).

Results go to ``results.json`` (the source of truth: one row per point, keyed by the
configuration digest and the workload) and ``results.csv`` under the output directory,
written as points finish; a rerun skips the points already done (ok or invalid) and retries
failed ones.  An invalid point (a config that :class:`ArchConfig` rejects) and a failed
point (a workload that does not compile on it, a crash) are rows with their one-line error,
never the end of the sweep.  :func:`pareto_plot` draws area vs cycles vs energy with the
Pareto-optimal points marked.

Ray is optional: ``pip install 'accss3d[ray]'`` (``ray==2.60.0``).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field

from .arch import ArchConfig, get_config
from .errors import AccssError, ConfigError

__all__ = [
    "Space",
    "load_space",
    "space_from_dict",
    "evaluate_point",
    "run_sweep",
    "pareto_front",
    "pareto_plot",
    "EXECUTORS",
    "RAY_HINT",
]

log = logging.getLogger(__name__)

EXECUTORS = ("ray", "serial")
RAY_HINT = "accss3d sweep needs Ray: pip install 'accss3d[ray]' (ray==2.60.0), or use --serial"
_KEYS = {"name", "base", "scene", "voxel_size", "network", "layer", "seed", "area", "pdk",
         "timing", "space", "points", "description"}  # fmt: skip
_FIELDS = tuple(f.name for f in dataclasses.fields(ArchConfig) if f.name != "name")
_CSV_COLUMNS = ("key", "status", "values", "cycles", "seconds", "utilization", "energy_uj",
                "on_chip_uj", "area_mm2", "area_source", "dram_bytes", "instructions",
                "pareto", "wall_s", "error")  # fmt: skip


@dataclass(frozen=True)
class Space:
    """A parsed space file."""

    name: str
    base: str
    scene: str
    workload: dict
    axes: dict
    points: tuple = ()
    area: bool = False
    pdk: str = "sg13g2"
    description: str = ""
    source: str = "space"

    def values(self) -> list[dict]:
        """Every point's field values: the product of the axes, then the explicit points."""
        names = sorted(self.axes)
        out = [dict(zip(names, combo, strict=True)) for combo in itertools.product(
            *(self.axes[n] for n in names))] if names else []  # fmt: skip
        out += [dict(p) for p in self.points]
        seen, unique = set(), []
        for v in out:
            k = json.dumps(v, sort_keys=True)
            if k not in seen:
                seen.add(k)
                unique.append(v)
        return unique or [{}]

    def workload_key(self) -> str:
        """SHA-256 (16 hex) of what every point runs (scene, network or layer, seed, timing,
        area mode)."""
        data = {**self.workload, "scene": self.scene, "area": self.area,
                "pdk": self.pdk if self.area else None}  # fmt: skip
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def space_from_dict(data, source: str = "space") -> Space:
    """Validate a space description (what :func:`load_space` reads); one-line errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with base, scene, network or layer, space")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    if "scene" not in data:
        raise ConfigError(f"{source}: missing 'scene' (a point-cloud file or room[:SEED[:SIZE]])")
    if ("network" in data) == ("layer" in data):
        raise ConfigError(f"{source}: give exactly one of 'network' and 'layer'")
    base = str(data.get("base", "default"))
    try:
        get_config(base)
    except ConfigError as exc:
        raise ConfigError(f"{source}: base: {exc}") from None
    axes = data.get("space", {}) or {}
    if not isinstance(axes, dict):
        raise ConfigError(f"{source}: 'space' must map ArchConfig fields to lists of values")
    for name, values in axes.items():
        if name not in _FIELDS:
            raise ConfigError(
                f"{source}: unknown architecture parameter {name!r} in space "
                f"(known: {', '.join(_FIELDS)})"
            )
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: space.{name} must be a non-empty list, not {values!r}")
    points = data.get("points", []) or []
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ConfigError(f"{source}: 'points' must be a list of mappings")
    for p in points:
        for name in p:
            if name not in _FIELDS:
                raise ConfigError(f"{source}: unknown architecture parameter {name!r} in points")
    from .scene import parse_scene_name

    scene = str(data["scene"])
    try:
        is_room = parse_scene_name(scene) is not None
    except AccssError as exc:
        raise ConfigError(f"{source}: scene: {exc}") from None
    if not is_room and not os.path.exists(scene):
        raise ConfigError(f"{source}: no such scene: {scene}")
    voxel_size = data.get("voxel_size")
    if voxel_size is not None and not (isinstance(voxel_size, (int, float)) and voxel_size > 0):
        raise ConfigError(f"{source}: voxel_size must be a positive number, not {voxel_size!r}")
    if not is_room and voxel_size is None:
        raise ConfigError(f"{source}: voxel_size is required for the point-cloud file {scene}")
    workload = {"voxel_size": voxel_size, "seed": int(data.get("seed", 0))}
    if "network" in data:
        from .network import get_network

        try:
            get_network(str(data["network"]))
        except ConfigError as exc:
            raise ConfigError(f"{source}: network: {exc}") from None
        workload["network"] = str(data["network"])
    else:
        from .compiler import parse_layer_spec

        try:
            parse_layer_spec(str(data["layer"]))
        except ConfigError as exc:
            raise ConfigError(f"{source}: layer: {exc}") from None
        workload["layer"] = str(data["layer"])
    timing = data.get("timing", {}) or {}
    from .cyclemodel import Timing

    try:
        Timing.from_dict(timing)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{source}: timing: {exc}") from None
    workload["timing"] = dict(timing)
    area = data.get("area", False)
    if not isinstance(area, bool):
        raise ConfigError(f"{source}: area must be true or false, not {area!r}")
    return Space(
        name=str(data.get("name") or os.path.splitext(os.path.basename(source))[0] or "sweep"),
        base=base,
        scene=scene,
        workload=workload,
        axes={k: list(v) for k, v in axes.items()},
        points=tuple(points),
        area=area,
        pdk=str(data.get("pdk", "sg13g2")),
        description=str(data.get("description", "")),
        source=source,
    )


def load_space(path: str) -> Space:
    """Read a space file (``.yaml``/``.yml`` or ``.json``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"no such space file: {path}") from None
    where = f"space file {path}"
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    elif path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML is a dev dependency
            raise ConfigError(f"reading {path} needs PyYAML; write the space as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            at = f" (line {line + 1})" if line is not None else ""
            raise ConfigError(f"{where} is not valid YAML{at}") from None
    else:
        raise ConfigError(f"{where}: expected a .yaml, .yml or .json file")
    return space_from_dict(data, where)


# --------------------------------------------------------------------------- one point
@functools.lru_cache(maxsize=4)
def _coords(scene: str, voxel_size):
    from .scene import load_scene
    from .voxel import voxelize

    cloud, v = load_scene(scene, voxel_size)
    return voxelize(cloud, v).coords


def evaluate_point(base: dict, values: dict, scene: str, workload: dict, area: bool = False,
                   pdk: str = "sg13g2") -> dict:  # fmt: skip
    """Run one point; always returns a row (``status`` ok, invalid or failed)."""
    t0 = time.perf_counter()
    row = {"values": dict(values), "status": "failed", "error": ""}
    try:
        cfg = ArchConfig.from_dict({**base, **values})
    except (ConfigError, TypeError) as exc:
        row.update(status="invalid", error=str(exc), key=None)
        return row
    row["key"] = cfg.digest()
    try:
        from .areamodel import analytic_area
        from .compiler import compile_layer, compile_network
        from .cyclemodel import Timing, simulate
        from .energy import energy_report
        from .network import get_network

        coords = _coords(scene, workload.get("voxel_size"))
        timing = Timing.from_dict(workload.get("timing", {}))
        if "network" in workload:
            res = compile_network(get_network(workload["network"]), coords, cfg,
                                  seed=workload.get("seed", 0), timing=timing)  # fmt: skip
        else:
            res = compile_layer(coords, workload["layer"], cfg, seed=workload.get("seed", 0),
                                timing=timing)  # fmt: skip
        prog = res.program
        layers = prog.manifest["layers"]
        rep = simulate(prog.code, cfg, timing, layers=layers)
        if area:
            from .area import area_report, pdk_files

            liberty, sram, node = pdk_files(pdk) if pdk else ([], [], None)
            arep = area_report(cfg, liberty=liberty, sram_libs=sram, node_nm=node)
            from .report import save_area_report

            save_area_report(arep, cfg, pdk)  # later reports of this config reuse it
            area_mm2 = float(arep["scaled_16nm"]["area_mm2"])
            area_source = f"synthesis ({arep['mode']}, {pdk or 'generic'})"
        else:
            area_mm2 = float(analytic_area(cfg)["total_mm2"])
            area_source = "analytic"
        en = energy_report(prog.code, cfg, layers, {r["name"]: r["cycles"] for r in rep.layers},
                           area_mm2=area_mm2, area_source=area_source,
                           total_cycles=rep.cycles)  # fmt: skip
        row.update(
            status="ok",
            cycles=rep.cycles,
            seconds=rep.cycles / (cfg.clock_mhz * 1e6),
            utilization=rep.utilization,
            energy_uj=en["total_pj"]["total"] * 1e-6,
            on_chip_uj=en["total_pj"]["on_chip"] * 1e-6,
            area_mm2=area_mm2,
            area_source=area_source,
            dram_bytes=rep.counters["rd_bytes"] + rep.counters["wr_bytes"],
            instructions=prog.prog_len,
        )
    except AccssError as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a point's crash is its row, not the sweep's end
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["wall_s"] = time.perf_counter() - t0
    return row


# --------------------------------------------------------------------------- pareto
def pareto_front(rows: list[dict], objectives=("area_mm2", "cycles", "energy_uj")) -> list[bool]:
    """Whether each row is Pareto-optimal (minimizing ``objectives``; non-ok rows: False)."""
    pts = [tuple(r[o] for o in objectives) if r.get("status") == "ok" else None for r in rows]
    flags = []
    for i, p in enumerate(pts):
        if p is None:
            flags.append(False)
            continue
        dominated = any(
            q is not None and j != i and all(a <= b for a, b in zip(q, p, strict=True)) and q != p
            for j, q in enumerate(pts)
        )
        flags.append(not dominated)
    return flags


def _label(values: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items())) or "base"


def pareto_plot(rows: list[dict], path: str, title: str = "") -> str | None:
    """Area vs cycles (colour: energy) and area vs energy, Pareto points marked; PNG."""
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flags = pareto_front(ok)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    area = [r["area_mm2"] for r in ok]
    cyc = [r["cycles"] for r in ok]
    en = [r["energy_uj"] for r in ok]
    sc = a1.scatter(area, cyc, c=en, cmap="viridis", s=30)
    fig.colorbar(sc, ax=a1, label="energy uJ")
    a2.scatter(area, en, c="#4c72b0", s=20)
    for r, f in zip(ok, flags, strict=True):
        if f:
            a1.scatter([r["area_mm2"]], [r["cycles"]], s=90, facecolors="none", edgecolors="r")
            a2.scatter([r["area_mm2"]], [r["energy_uj"]], s=90, facecolors="none", edgecolors="r")
            a1.annotate(_label(r["values"]), (r["area_mm2"], r["cycles"]), fontsize=6)
    a1.set_xlabel("area mm^2 (16 nm)")
    a1.set_ylabel("cycles")
    a2.set_xlabel("area mm^2 (16 nm)")
    a2.set_ylabel("energy uJ")
    fig.suptitle(title + " (red: Pareto-optimal in area, cycles, energy)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- driver
def _read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"sweep results {path} are not valid JSON: {exc.msg}") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ConfigError(f"sweep results {path} have no 'rows' list")
    return rows + list(data.get("other_rows") or [])


def _row_id(row: dict, workload: str) -> str:
    return json.dumps([row.get("key") or _label(row["values"]), workload])


def _write(out: str, space: Space, rows: list[dict], other: list[dict]) -> None:
    """``results.json`` (the space's rows, and ``other_rows`` of earlier spaces or workloads
    kept for later reruns) and ``results.csv`` (the space's rows)."""
    flags = pareto_front(rows)
    for r, f in zip(rows, flags, strict=True):
        r["pareto"] = f
    doc = {"format": "accss3d-sweep", "version": 1, "space": space.source, "name": space.name,
           "base": space.base, "scene": space.scene, "workload": space.workload,
           "area": space.area, "rows": rows, "other_rows": other}  # fmt: skip
    tmp = os.path.join(out, "results.json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, os.path.join(out, "results.json"))
    with open(os.path.join(out, "results.csv"), "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(_CSV_COLUMNS)
        for r in rows:
            cells = []
            for c in _CSV_COLUMNS:
                v = r.get(c, "")
                if c == "values":
                    v = _label(r["values"])
                elif c == "key":
                    v = (v or "")[:16]
                elif isinstance(v, float):
                    v = f"{v:.6g}"
                cells.append(v)
            w.writerow(cells)


def _check_address(address: str) -> None:
    """Fail fast, in one line, when a Ray cluster address cannot be reached."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"bad Ray address {address!r} (expected HOST:PORT, ray://HOST:PORT or auto)"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def _ray(address: str | None, num_cpus: int | None):
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_HINT) from None
    if address:
        _check_address(address)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        kwargs = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"at {address}" if address else "locally"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot start Ray {where}: {first}") from None
    return ray


@dataclass
class SweepResult:
    """What :func:`run_sweep` did."""

    rows: list = field(default_factory=list)
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    invalid: int = 0
    paths: dict = field(default_factory=dict)


def run_sweep(
    space: Space,
    out: str,
    *,
    executor: str = "ray",
    address: str | None = None,
    num_cpus: int | None = None,
    progress=None,
) -> SweepResult:
    """Run every point of ``space`` not yet done in ``out``; write the table and the plot.

    Parameters
    ----------
    space : Space
    out : str
        Output directory (``results.json``, ``results.csv``, ``pareto.png``).
    executor : {"ray", "serial"}
        Ray tasks (local Ray, or the cluster at ``address``), or this process.
    address : str, optional
        An existing Ray cluster (``HOST:PORT``, ``ray://HOST:PORT``, ``auto``).
    num_cpus : int, optional
        CPUs of a local Ray instance (default: all).
    progress : callable, optional
        ``progress(done, total, row)`` after each finished point.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    if executor == "serial" and address:
        raise ConfigError("--address needs Ray (not --serial)")
    os.makedirs(out, exist_ok=True)
    wkey = space.workload_key()
    old = _read_rows(os.path.join(out, "results.json"))
    base = get_config(space.base).to_dict()
    done = {}
    for r in old:
        if r.get("workload") == wkey and r.get("status") in ("ok", "invalid"):
            done[_row_id(r, wkey)] = r
    points = space.values()
    rows, todo, current = [], [], set()
    for values in points:
        probe = {"values": values}
        try:
            probe["key"] = ArchConfig.from_dict({**base, **values}).digest()
        except (ConfigError, TypeError):
            probe["key"] = None
        rid = _row_id(probe, wkey)
        current.add(rid)
        if rid in done:
            rows.append(done[rid])
        else:
            rows.append(None)
            todo.append((len(rows) - 1, values))
    result = SweepResult(skipped=len(points) - len(todo))
    # Keep rows of other workloads or points no longer in the space (not shown, not lost).
    kept = [r for r in old if _row_id(r, r.get("workload", "")) not in current]
    args = (space.scene, space.workload, space.area, space.pdk)

    def finish(i, row):
        row["workload"] = wkey
        rows[i] = row
        result.ran += 1
        if row["status"] == "failed":
            result.failed += 1
        elif row["status"] == "invalid":
            result.invalid += 1
        _write(out, space, [r for r in rows if r is not None], kept)
        if progress is not None:
            progress(result.ran + result.skipped, len(points), row)

    if todo and executor == "serial":
        for i, values in todo:
            finish(i, evaluate_point(base, values, *args))
    elif todo:
        ray = _ray(address, num_cpus)
        task = ray.remote(num_cpus=1, max_retries=0)(evaluate_point)
        pending = {task.remote(base, values, *args): (i, values) for i, values in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            i, values = pending.pop(ref)
            try:
                row = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its point only
                first = (
                    str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                )
                row = {"values": dict(values), "status": "failed", "key": None,
                       "error": f"Ray task failed: {first}"}  # fmt: skip
            finish(i, row)
    rows = [r for r in rows if r is not None]
    _write(out, space, rows, kept)
    result.rows = rows
    result.paths = {"json": os.path.join(out, "results.json"),
                    "csv": os.path.join(out, "results.csv")}  # fmt: skip
    plot = pareto_plot(rows, os.path.join(out, "pareto.png"), space.name)
    if plot:
        result.paths["plot"] = plot
    return result
