"""Owns the execution of an experiment: the run plan, the checkpoint cache, Ray and metrics.

:func:`plan_runs` lists every run of a config: the reference ensemble's members, one teacher
per (condition that trains one, seed), one student per (condition, student model, seed).  A
run's id carries a hash of everything that determines its result (data, model, training,
augmentation, seed, and the teacher's id for a student), so a rerun of the same config reuses
``checkpoints/<run id>.pt`` and trains only what is missing or changed.

:func:`run_experiment` trains the missing runs, in this process (``parallel: none``, with
progress bars), in a pool of ``workers`` local processes (``parallel: processes``) or as Ray
tasks (``parallel: ray``, local or on a cluster).  Parallel tasks use one torch thread each and
run the reference members and teachers first, all at once, then the students; their weights and
logits come back to this process, which alone writes the checkpoints.  Then every metric is
computed from the stored logits and the results are written.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import Config, ModelConfig, config_hash
from .data import DataBundle
from .errors import DistillError
from .metrics import (
    accuracy,
    class_kl,
    class_kl_matrix,
    class_means,
    expected_calibration_error,
    fidelity,
    per_sample_kl,
    softmax,
)
from .reference import load_soft_labels, reference
from .train import RunSpec, bundle_for, execute_run

__all__ = ["Outcome", "plan_runs", "run_experiment", "evaluate_run", "default_out_dir"]

log = logging.getLogger(__name__)

EPOCHS = ("last", "best")


@dataclass
class Outcome:
    """What :func:`run_experiment` produced."""

    out_dir: Path
    records: list[dict[str, Any]]
    reference_info: dict[str, Any]
    trained: int
    cached: int
    wall_seconds: float
    files: dict[str, Path] = field(default_factory=dict)


def default_out_dir(cfg: Config) -> Path:
    """``build/distill/<config name>`` under the current directory."""
    return Path("build") / "distill" / cfg.name


def _model_key(mc: ModelConfig) -> list[Any]:
    """What of a model config determines its weights (not its display label)."""
    return [mc.model, mc.options, mc.train]


def plan_runs(cfg: Config) -> list[RunSpec]:
    """Every run of ``cfg``, in an order where each teacher precedes its students."""
    # The device is part of what determines a result (other kernels, other rounding); CPU
    # run ids stay those of configs written before it existed.
    data_key = config_hash(cfg.data) if cfg.device == "cpu" else config_hash(cfg.data, cfg.device)
    runs: list[RunSpec] = []
    if cfg.reference.kind == "ensemble":
        m = cfg.reference.member
        for i in range(cfg.reference.members):
            key = config_hash(data_key, _model_key(m), cfg.reference.seed, i)
            runs.append(RunSpec(f"reference-m{i}-{key}", "reference", i, m))
    teachers: dict[tuple[str, int], str] = {}
    for seed in cfg.seeds:
        for name, cond in cfg.conditions.items():
            if cond.teacher_from is None:
                key = config_hash(data_key, _model_key(cfg.teacher), cond.augment, seed)
                run_id = f"teacher-{name}-s{seed}-{key}"
                teachers[(name, seed)] = run_id
                runs.append(RunSpec(run_id, "teacher", seed, cfg.teacher, name, cond.augment))
    for seed in cfg.seeds:
        for name, cond in cfg.conditions.items():
            teacher_id = teachers[(cond.teacher_from or name, seed)]
            for sname, scfg in cfg.students.items():
                key = config_hash(
                    data_key, teacher_id, cfg.distill, _model_key(scfg), cond.distill_augment, seed
                )
                runs.append(
                    RunSpec(
                        f"student-{name}-{sname}-s{seed}-{key}",
                        "student",
                        seed,
                        scfg,
                        name,
                        cond.distill_augment,
                        student=sname,
                        teacher_id=teacher_id,
                    )
                )
    return runs


def _spec_dict(spec: RunSpec) -> dict[str, Any]:
    return {"run_id": spec.run_id, "kind": spec.kind, "condition": spec.condition}


class _Store:
    """Checkpoint cache under ``out/checkpoints``: one file per run (weights, logits, record)."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir / "checkpoints"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.loaded: dict[str, dict[str, Any]] = {}

    def path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.pt"

    def has(self, run_id: str) -> bool:
        return run_id in self.loaded or self.path(run_id).is_file()

    def get(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.loaded:
            self.loaded[run_id] = torch.load(self.path(run_id), weights_only=False)
        return self.loaded[run_id]

    def put(self, record: dict[str, Any], payload: dict[str, Any]) -> None:
        blob = {"record": record, **payload}
        tmp = self.path(record["run_id"]).with_suffix(".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, self.path(record["run_id"]))
        self.loaded[record["run_id"]] = blob


def _teacher_state(store: _Store, cfg: Config, spec: RunSpec) -> dict[str, Any] | None:
    if spec.kind != "student":
        return None
    return store.get(spec.teacher_id)[cfg.distill.teacher_epoch]


def _run_sequential(cfg: Config, todo: list[RunSpec], store: _Store, show_progress: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=not show_progress) as progress:
        overall = progress.add_task("runs", total=len(todo))
        for spec in todo:
            label = spec.run_id.rsplit("-", 1)[0]
            task = progress.add_task(f"  {label}", total=spec.model.train.epochs)

            def on_epoch(
                epoch: int, epochs: int, entry: dict[str, float], task: int = task
            ) -> None:
                progress.update(task, completed=epoch)

            log.info("training %s", spec.run_id)
            record, payload = execute_run(spec, cfg, _teacher_state(store, cfg, spec), on_epoch)
            store.put(record, payload)
            log.info("done %s in %.1f s", spec.run_id, record["train_seconds"])
            progress.remove_task(task)
            progress.advance(overall)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DistillError(
            "parallel runs need Ray: pip install 'accss3d[ray]' (or use parallel: processes)"
        ) from None
    return ray


def _run_parallel(
    cfg: Config,
    todo: list[RunSpec],
    store: _Store,
    show_progress: bool,
    submit: Callable[..., Any],
    wait_one: Callable[[list[Any]], tuple[Any, tuple[dict[str, Any], dict[str, Any]]]],
) -> None:
    """Run ``todo`` as tasks, one torch thread each: reference and teachers, then students."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="runs", disable=not show_progress, unit="run")
    try:
        for phase in (("reference", "teacher"), ("student",)):
            pending = {}
            for spec in (s for s in todo if s.kind in phase):
                pending[submit(spec, cfg, _teacher_state(store, cfg, spec), None, 1)] = spec
            while pending:
                handle, (record, payload) = wait_one(list(pending))
                spec = pending.pop(handle)
                store.put(record, payload)
                log.info("done %s in %.1f s", spec.run_id, record["train_seconds"])
                bar.update(1)
    finally:
        bar.close()


def _run_processes(cfg: Config, todo: list[RunSpec], store: _Store, show_progress: bool) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = cfg.workers or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:

        def wait_one(handles: list[Any]) -> tuple[Any, Any]:
            done, _ = wait(handles, return_when=FIRST_COMPLETED)
            handle = next(h for h in handles if h in done)  # first in submission order
            return handle, handle.result()

        _run_parallel(cfg, todo, store, show_progress, partial(pool.submit, execute_run), wait_one)


def _run_ray(
    cfg: Config, todo: list[RunSpec], store: _Store, show_progress: bool, address: str | None
) -> None:
    ray = _import_ray()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            cpus = cfg.workers or os.cpu_count() or 1
            ray.init(num_cpus=cpus, log_to_driver=False, include_dashboard=False)
    remote = ray.remote(num_cpus=1)(execute_run)

    def wait_one(handles: list[Any]) -> tuple[Any, Any]:
        done, _ = ray.wait(handles, num_returns=1)
        return done[0], ray.get(done[0])

    _run_parallel(cfg, todo, store, show_progress, remote.remote, wait_one)


def evaluate_run(
    record: dict[str, Any],
    logits: dict[str, dict[str, np.ndarray]],
    data: DataBundle,
    ref_probs: np.ndarray,
    ece_bins: int,
    teacher_probs: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of one run on the test split, for its last and best epoch."""
    y = data.test.y.numpy()
    k = data.num_classes
    out: dict[str, Any] = {}
    for which in EPOCHS:
        probs = softmax(logits[which]["test"])
        m = {
            "epoch": record["last_epoch"] if which == "last" else record["best_epoch"],
            "test_acc": accuracy(probs, y),
            "val_acc": accuracy(softmax(logits[which]["val"]), data.val.y.numpy())
            if len(data.val)
            else None,
            "ece": expected_calibration_error(probs, y, ece_bins),
            "class_kl": class_kl(ref_probs, probs, y, k),
            "per_sample_kl": per_sample_kl(ref_probs, probs),
        }
        if teacher_probs is not None:
            fid = fidelity(teacher_probs, probs)
            m["agreement"] = fid["agreement"]
            m["fidelity_kl"] = fid["kl"]
        if which == "last":
            m["class_kl_matrix"] = class_kl_matrix(
                class_means(ref_probs, y, k), class_means(probs, y, k)
            ).tolist()
        out[which] = m
    return out


def run_experiment(
    cfg: Config,
    out_dir: str | Path | None = None,
    *,
    show_progress: bool = True,
    address: str | None = None,
    write: Callable[..., dict[str, Path]] | None = None,
) -> Outcome:
    """Train what is missing, evaluate every run and write the results of ``cfg``.

    Parameters
    ----------
    cfg : Config
        The validated experiment.
    out_dir : path, optional
        Where everything goes (default :func:`default_out_dir`).
    show_progress : bool
        Progress bars on stderr.
    address : str, optional
        Ray cluster address (``parallel: ray`` only; default: a local Ray).
    write : callable, optional
        The results writer (default :func:`distill.report.write_results`).
    """
    start = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else default_out_dir(cfg)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "logs" / "distill.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    pkg_log = logging.getLogger("distill")
    pkg_log.addHandler(handler)
    old_level = pkg_log.level
    if pkg_log.getEffectiveLevel() > logging.INFO:
        pkg_log.setLevel(logging.INFO)
    try:
        data = bundle_for(cfg)  # fail early on a missing dataset...
        if cfg.reference.kind == "file":  # ... or soft-label file
            load_soft_labels(cfg.reference.path, data)
        (out / "config.resolved.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        (out / "seeds.json").write_text(json.dumps(cfg.seeds) + "\n")
        specs = plan_runs(cfg)
        store = _Store(out)
        todo = [s for s in specs if not store.has(s.run_id)]
        trained_ids = {s.run_id for s in todo}
        log.info(
            "%d runs planned, %d cached, %d to train", len(specs), len(specs) - len(todo), len(todo)
        )
        if todo:
            if cfg.parallel == "ray":
                _run_ray(cfg, todo, store, show_progress, address or cfg.ray_address)
            elif cfg.parallel == "processes":
                _run_processes(cfg, todo, store, show_progress)
            else:
                _run_sequential(cfg, todo, store, show_progress)

        members = [store.get(s.run_id)["logits"]["last"] for s in specs if s.kind == "reference"]
        ref_probs, ref_info = reference(cfg.reference, data, members)
        np.save(out / "reference_probs.npy", ref_probs)
        records = []
        for spec in specs:
            blob = store.get(spec.run_id)
            record = dict(blob["record"])
            teacher_probs = None
            if spec.kind == "student":
                teacher_logits = store.get(spec.teacher_id)["logits"][cfg.distill.teacher_epoch]
                teacher_probs = softmax(teacher_logits["test"])
            record["metrics"] = evaluate_run(
                record, blob["logits"], data, ref_probs, cfg.ece_bins, teacher_probs
            )
            record["student_label"] = cfg.students[spec.student].display if spec.student else None
            record["cached"] = spec.run_id not in trained_ids
            (out / "runs" / f"{spec.run_id}.json").write_text(json.dumps(record, indent=1) + "\n")
            records.append(record)
        if write is None:
            from .report import write_results

            write = write_results
        outcome = Outcome(
            out_dir=out,
            records=records,
            reference_info=ref_info,
            trained=len(todo),
            cached=len(specs) - len(todo),
            wall_seconds=time.perf_counter() - start,
        )
        outcome.files = write(cfg, outcome)
        return outcome
    finally:
        pkg_log.removeHandler(handler)
        pkg_log.setLevel(old_level)
        handler.close()
