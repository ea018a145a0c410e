"""Owns the CPU baseline: each layer's sparse convolution timed on this machine's CPU, verified.

For every layer of a network bound to a scene (:class:`accss3d.network.LayerPlan`), the same
sparse convolution - the layer's own kernel map, float32 features and weights, the residual
add included - runs on the CPU along several paths, each checked against the golden float
model (:func:`accss3d.golden.sparse_conv`) in the same run and timed as the median of
several runs after a warm-up:

``spconv``
    spconv 2.3.8's native CPU gather-GEMM-scatter (``spconv.pytorch.ops.indice_conv``) fed
    with the layer's kernel map as spconv indice pairs (no coordinate hashing: the rulebook
    is built once, as the accelerator flow does).  **One thread only**: spconv's CPU path
    races with more threads (wrong outputs: docs/evaluation.md).
``torch``
    PyTorch gather (``index_select``) -> GEMM -> scatter (``index_add_``) per weight plane,
    at one thread and at every core (``torch.set_num_threads``): the all-cores path.
``numpy``
    The golden model itself (numpy, one BLAS thread).

The rulebook build (:meth:`accss3d.network.CoordinateManager.plan`: every stride level and
kernel map) is timed separately: both the CPU and the accelerator flow need it.

Times are wall-clock on a machine that may be shared; the report prints the load average.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

__all__ = ["PATHS", "CpuLayer", "measure_layers", "time_rulebooks", "machine_info", "median_time"]

#: CPU paths, in the order they are tried.
PATHS = ("spconv", "torch", "numpy")


def machine_info() -> dict:
    """CPU model, core count (``os.cpu_count()``), library versions, load average."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    info = {
        "cpu": model or "unknown",
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - dev dependency
        info["torch"] = None
    try:
        import spconv

        info["spconv"] = getattr(spconv, "__version__", "installed")
    except ImportError:  # pragma: no cover - dev dependency
        info["spconv"] = None
    return info


def median_time(fn, repeats: int = 5, warmup: int = 1, budget_s: float = 2.0) -> float:
    """Median wall time of ``fn()`` over up to ``repeats`` runs after ``warmup`` runs.

    Stops early (at least one timed run) once the timed runs exceed ``budget_s`` seconds.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < max(1, repeats):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        times.append(dt)
        spent += dt
        if spent > budget_s:
            break
    return statistics.median(times)


@dataclass
class CpuLayer:
    """CPU measurements of one layer."""

    name: str
    conv: str
    cin: int
    cout: int
    cres: int
    pairs: int
    macs: int
    times: dict
    rel_err: dict
    ok: dict

    def best(self, threads: int | None = None) -> tuple[str, float]:
        """``(path, seconds)`` of the fastest verified path (at ``threads`` threads if given)."""
        cand = [
            (t, k)
            for k, t in self.times.items()
            if self.ok.get(k) and (threads is None or k.endswith(f"-{threads}t"))
        ]
        if not cand:
            return "", float("nan")
        t, k = min(cand)
        return k, t

    def to_dict(self) -> dict:
        """Plain-dict form (JSON)."""
        return {
            "name": self.name,
            "conv": self.conv,
            "cin": self.cin,
            "cout": self.cout,
            "cres": self.cres,
            "pairs": self.pairs,
            "macs": self.macs,
            "times_s": dict(self.times),
            "rel_err": dict(self.rel_err),
            "ok": dict(self.ok),
        }


def _spconv_pairs(kmap):
    import torch

    counts = kmap.pair_counts()
    width = max(1, int(counts.max()) if len(counts) else 1)
    ip = np.full((2, kmap.volume, width), -1, np.int32)
    for k in range(kmap.volume):
        i, o = kmap.pairs(k)
        ip[0, k, : len(i)] = i
        ip[1, k, : len(o)] = o
    return torch.from_numpy(ip), torch.from_numpy(counts.astype(np.int32))


def _torch_pairs(kmap):
    import torch

    out = []
    for k in range(kmap.volume):
        i, o = kmap.pairs(k)
        if len(i):
            out.append(
                (k, torch.from_numpy(i.astype(np.int64)), torch.from_numpy(o.astype(np.int64)))
            )
    return out


def _rel_err(y: np.ndarray, gold: np.ndarray) -> float:
    scale = float(np.abs(gold).max()) if gold.size else 0.0
    return float(np.abs(y - gold).max() / scale) if scale else float(np.abs(y).max(initial=0.0))


def measure_layers(
    plans,
    *,
    threads: tuple[int, ...] | None = None,
    paths: tuple[str, ...] = PATHS,
    repeats: int = 5,
    warmup: int = 1,
    budget_s: float = 2.0,
    seed: int = 0,
    tolerance: float = 1e-4,
    progress=None,
) -> list[CpuLayer]:
    """Time every layer along every path; verify each path against the golden float model.

    Parameters
    ----------
    plans : list of LayerPlan
    threads : tuple of int, optional
        Thread counts of the ``torch`` path (default: 1 and ``os.cpu_count()``); ``spconv``
        and ``numpy`` always run at one thread.
    paths : tuple of str
        A subset of :data:`PATHS`; a path whose library is missing is skipped.
    repeats, warmup, budget_s
        Median of up to ``repeats`` timed runs after ``warmup`` runs (the verification run is
        the first of them), stopping once the timed runs of one (layer, path) exceed
        ``budget_s`` seconds.
    tolerance : float
        A path is verified when ``max |y - golden| / max |golden|`` is at most this.
    progress : callable, optional
        Called with each layer's name before it is measured.
    """
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        raise ConfigError(f"unknown CPU path {unknown[0]!r} (known: {', '.join(PATHS)})")
    ncores = os.cpu_count() or 1
    threads = tuple(sorted(set(threads or (1, ncores))))
    try:
        import torch
    except ImportError:  # pragma: no cover - dev dependency
        torch = None
    have_spconv = False
    if torch is not None and "spconv" in paths:
        try:
            from spconv.pytorch import ops as spops

            have_spconv = True
        except ImportError:  # pragma: no cover
            have_spconv = False
    rng = np.random.default_rng(seed)
    cache: dict[int, dict] = {}
    saved_threads = torch.get_num_threads() if torch is not None else None
    results = []
    ctx = {"torch": torch, "spconv": spops if have_spconv else None, "paths": paths,
           "threads": threads, "repeats": repeats, "warmup": warmup, "budget_s": budget_s,
           "tolerance": tolerance}  # fmt: skip
    try:
        for plan in plans:
            if progress is not None:
                progress(plan.layer.name)
            entry = cache.setdefault(id(plan.kmap), {"kmap": plan.kmap})
            results.append(_measure_layer(plan, rng, entry, ctx))
    finally:
        if torch is not None and saved_threads is not None:
            torch.set_num_threads(saved_threads)
    return results


def _measure_layer(plan, rng, entry: dict, ctx: dict) -> CpuLayer:
    """One layer along every path of ``ctx`` (see :func:`measure_layers`)."""
    from .golden import sparse_conv
    from .layouts import to_spconv

    torch, spops = ctx["torch"], ctx["spconv"]
    layer, kmap = plan.layer, plan.kmap
    cin, cout, cres = plan.cin, layer.cout, plan.residual_channels
    f = rng.standard_normal((kmap.n_in, cin), dtype=np.float32)
    w = rng.standard_normal((kmap.volume, cin, cout), dtype=np.float32)
    res = rng.standard_normal((kmap.n_out, cres), dtype=np.float32) if cres else None
    wr = rng.standard_normal((cres, cout), dtype=np.float32) if cres and cres != cout else None
    gold = sparse_conv(f, kmap, w)
    if res is not None:
        gold += res if wr is None else res @ wr
    times, errs, oks = {}, {}, {}

    def record(key, fn, nthreads):
        if torch is not None:
            torch.set_num_threads(nthreads)
        errs[key] = _rel_err(np.asarray(fn()), gold)  # the check is the first warm-up run
        oks[key] = bool(errs[key] <= ctx["tolerance"])
        times[key] = median_time(fn, ctx["repeats"], max(0, ctx["warmup"] - 1), ctx["budget_s"])

    if torch is not None:
        ft = torch.from_numpy(f)
        rt = torch.from_numpy(res) if res is not None else None
        wrt = torch.from_numpy(wr) if wr is not None else None

        def add_residual(y):
            if rt is None:
                return y
            return y.add_(rt) if wrt is None else y.addmm_(rt, wrt)

        if spops is not None:
            if "spconv" not in entry:
                entry["spconv"] = _spconv_pairs(kmap)
            ip, ipn = entry["spconv"]
            # spconv's KRSC layout (Cout, Kx, Ky, Kz, Cin); a 1x1 kernel as (Cout, 1, 1, 1, Cin).
            if kmap.volume > 1:
                filt = to_spconv(w)
            else:
                filt = w.transpose(2, 0, 1).reshape(cout, 1, 1, 1, cin)
            filt = torch.from_numpy(np.ascontiguousarray(filt))
            subm = kmap.spec.kind == "submanifold"

            def run_spconv():
                with torch.no_grad():
                    y = spops.indice_conv(ft, filt, ip, ipn, kmap.n_out, False, subm)
                    return add_residual(y)

            record("spconv-1t", run_spconv, 1)
        if "torch" in ctx["paths"]:
            if "torch" not in entry:
                entry["torch"] = _torch_pairs(kmap)
            tp = entry["torch"]
            wt = torch.from_numpy(w)

            def run_torch():
                with torch.no_grad():
                    y = torch.zeros(kmap.n_out, cout)
                    for k, i, o in tp:
                        y.index_add_(0, o, ft.index_select(0, i) @ wt[k])
                    return add_residual(y)

            for n in ctx["threads"]:
                record(f"torch-{n}t", run_torch, n)
    if "numpy" in ctx["paths"]:

        def run_numpy():
            y = sparse_conv(f, kmap, w)
            if res is not None:
                y += res if wr is None else res @ wr
            return y

        record("numpy-1t", run_numpy, 1)
    return CpuLayer(layer.name, layer.conv.describe(), cin, cout, cres, kmap.n_pairs, plan.macs,
                    times, errs, oks)  # fmt: skip


def time_rulebooks(coords, network, repeats: int = 3) -> tuple[float, list]:
    """Median seconds of building every stride level and kernel map of ``network`` on
    ``coords`` (one thread), and the plans of the last build."""
    from .network import CoordinateManager

    times, plans = [], None
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        plans = CoordinateManager(coords).plan(network)
        times.append(time.perf_counter() - t)
    return statistics.median(times), plans
