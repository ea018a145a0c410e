"""Owns the training loops (teacher, Hinton KD student, consistent-mixup KD) and one run's work.

A *run* trains one network: a teacher of a condition, a student distilled from such a teacher,
or one member of the reference ensemble.  :func:`execute_run` does everything a run needs from
its :class:`RunSpec` alone (it loads the dataset itself), so that it can run in this process or
as a Ray task on another machine, and returns a JSON-able record plus a payload of weights and
logits.  Randomness: model initialisation is seeded with ``torch.manual_seed`` (dropout follows
it), data order and augmentation draws come from the run's own :class:`~distill.augment.Streams`;
the seeds are derived from the experiment seed and the run's role, never from the condition, so
the teachers of one seed start from the same weights (a paired design), and so do the students of
one model and seed.  Batch order and augmentation draws share the run's stream, so runs with
different augmentations part ways in batch order after the first epoch.

Both the last-epoch and the best-epoch (highest validation accuracy, earliest on ties) weights
are kept; students are distilled from the teacher's ``distill.teacher_epoch`` weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import Pipeline, Streams, build_pipeline
from .config import Config, ModelConfig, TrainConfig
from .data import DataBundle, Split, load_data
from .errors import DistillError
from .losses import LOSSES, soft_cross_entropy
from .models import build_model

__all__ = [
    "RunSpec",
    "derive_seed",
    "batch_indices",
    "predict",
    "fit",
    "train_teacher",
    "train_student",
    "execute_run",
    "bundle_for",
    "set_determinism",
]

log = logging.getLogger(__name__)

#: Signature of the per-epoch progress callback: (epoch, epochs, history entry).
EpochCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class RunSpec:
    """What one run trains.

    ``kind`` is ``"teacher"``, ``"student"`` or ``"reference"``; ``augment`` is the teacher's
    augmentation list (teachers) or the distillation-time one (students); ``teacher_id`` names
    the teacher run a student learns from; ``student`` the key of ``Config.students``.
    """

    run_id: str
    kind: str
    seed: int
    model: ModelConfig
    condition: str | None = None
    augment: list[Any] = field(default_factory=list)
    student: str | None = None
    teacher_id: str | None = None


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any JSON-able parts (stable across processes and machines)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def set_determinism(threads: int | None, device: str = "cpu") -> None:
    """Deterministic kernels and, when given, a fixed number of intra-op threads.

    On CUDA, cuBLAS gets the fixed workspace deterministic GEMMs need; kernels without a
    deterministic CUDA implementation (max-pool backward) warn instead of failing, so a GPU
    run is repeatable up to those.
    """
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(int(threads))


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights on the CPU (checkpoints load anywhere)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def batch_indices(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled index batches covering ``0..n-1``; a final batch of one joins the previous one.

    Batch normalisation cannot train on a single image, so a last batch of size 1 is merged;
    any other odd size is kept.
    """
    perm = torch.randperm(n, generator=gen)
    chunks = list(perm.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
    return chunks


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` in eval mode over ``x``, in batches, on the CPU (the model may
    live on another device)."""
    model.eval()
    dev = _device_of(model)
    return torch.cat(
        [model(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    )


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean()) if len(y) else float("nan")


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    tc: TrainConfig,
    loss_of_batch: Callable[[torch.Tensor], torch.Tensor],
    streams: Streams,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train ``model`` with SGD and a step schedule; ``loss_of_batch(indices)`` gives the loss.

    Returns
    -------
    dict
        ``history`` (per epoch: ``loss``, ``val_acc``, ``lr``), ``best_epoch`` (1-based),
        ``best_state`` and ``last_state`` (state dicts).
    """
    opt: torch.optim.Optimizer
    if tc.optimizer == "adam":  # weight decay as L2 in the gradient, like SGD's
        opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    else:
        opt = torch.optim.SGD(
            model.parameters(),
            lr=tc.lr,
            momentum=tc.momentum,
            weight_decay=tc.weight_decay,
            nesterov=tc.nesterov and tc.momentum > 0,
        )
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=tc.milestones, gamma=tc.gamma)
    history: list[dict[str, float]] = []
    best_acc, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, tc.epochs + 1):
        model.train()
        total, count = 0.0, 0
        lr = opt.param_groups[0]["lr"]
        for idx in batch_indices(len(train), tc.batch_size, streams.torch_gen):
            loss = loss_of_batch(idx)
            if not torch.isfinite(loss):
                raise DistillError(
                    f"training diverged (loss {float(loss.detach())}) at epoch {epoch}; "
                    f"lower train.lr (now {tc.lr})"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        sched.step()
        val_acc = _accuracy(predict(model, val.x), val.y) if len(val) else float("nan")
        entry = {"epoch": epoch, "loss": total / max(count, 1), "val_acc": val_acc, "lr": lr}
        history.append(entry)
        log.debug("epoch %d/%d %s", epoch, tc.epochs, entry)
        if not val_acc <= best_acc:  # also true on the first epoch and without a val split
            best_acc, best_epoch = val_acc, epoch
            best_state = _cpu_state(model)
        if on_epoch is not None:
            on_epoch(epoch, tc.epochs, entry)
    return {
        "history": history,
        "best_epoch": best_epoch,
        "best_state": best_state,
        "last_state": _cpu_state(model),
    }


def train_teacher(
    model: nn.Module,
    data: DataBundle,
    tc: TrainConfig,
    augment: Pipeline,
    streams: Streams,
    on_epoch: EpochCallback | None = None,
    train_split: Split | None = None,
) -> dict[str, Any]:
    """Train a teacher (or reference member) on soft-target cross-entropy after ``augment``."""
    train = train_split if train_split is not None else data.train
    dev = _device_of(model)

    def loss_of_batch(idx: torch.Tensor) -> torch.Tensor:
        x = train.x[idx]
        target = F.one_hot(train.y[idx], data.num_classes).float()
        x, target = augment(x, target, streams)  # on the CPU: the run's random streams
        return soft_cross_entropy(model(x.to(dev)), target.to(dev))

    return fit(model, train, data.val, tc, loss_of_batch, streams, on_epoch)


def train_student(
    model: nn.Module,
    teacher: nn.Module,
    data: DataBundle,
    tc: TrainConfig,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    streams: Streams,
    distill_augment: Pipeline | None = None,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Distil ``teacher`` into ``model`` on the training images.

    Without ``distill_augment`` the student sees un-augmented images (the paper's protocol)
    and the teacher's logits are computed once.  With it (consistent mixup, Beyer et al. 2022)
    each batch is augmented once and the teacher scores the very view the student sees.
    """
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    train = data.train
    dev = _device_of(model)
    fixed_logits = None if distill_augment else predict(teacher, train.x)

    def loss_of_batch(idx: torch.Tensor) -> torch.Tensor:
        x = train.x[idx]
        target = F.one_hot(train.y[idx], data.num_classes).float()
        if distill_augment:
            x, target = distill_augment(x, target, streams)
            x = x.to(dev)
            with torch.no_grad():
                t_logits = teacher(x)
        else:
            x, t_logits = x.to(dev), fixed_logits[idx].to(dev)
        return loss_fn(model(x), t_logits, target.to(dev))

    return fit(model, train, data.val, tc, loss_of_batch, streams, on_epoch)


def bundle_for(cfg: Config) -> DataBundle:
    """The (cached) data splits of ``cfg``."""
    d = cfg.data
    return load_data(
        d.name, d.data_dir, d.train_size, d.val_size, d.test_size, d.reference_size, d.split_seed
    )


def _new_model(mc: ModelConfig, data: DataBundle, init_seed: int) -> nn.Module:
    torch.manual_seed(init_seed)
    return build_model(mc.model, data.in_channels, data.num_classes, data.image_size, **mc.options)


def _logits(model: nn.Module, state: dict[str, Any], data: DataBundle) -> dict[str, np.ndarray]:
    model.load_state_dict(state)
    return {
        "val": predict(model, data.val.x).numpy(),
        "test": predict(model, data.test.x).numpy(),
    }


def _train(
    spec: RunSpec,
    cfg: Config,
    data: DataBundle,
    model: nn.Module,
    teacher_state: dict[str, Any] | None,
    streams: Streams,
    on_epoch: EpochCallback | None,
) -> dict[str, Any]:
    tc = spec.model.train
    if spec.kind in ("teacher", "reference"):
        split = data.reference if spec.kind == "reference" else data.train
        return train_teacher(
            model, data, tc, build_pipeline(spec.augment), streams, on_epoch, split
        )
    teacher = build_model(
        cfg.teacher.model,
        data.in_channels,
        data.num_classes,
        data.image_size,
        **cfg.teacher.options,
    )
    teacher.load_state_dict(teacher_state)
    teacher.to(_device_of(model))
    loss_fn = LOSSES.get(cfg.distill.loss)(cfg.distill.temperature, cfg.distill.alpha)
    distill_augment = build_pipeline(spec.augment)
    return train_student(model, teacher, data, tc, loss_fn, streams, distill_augment, on_epoch)


def execute_run(
    spec: RunSpec,
    cfg: Config,
    teacher_state: dict[str, Any] | None = None,
    on_epoch: EpochCallback | None = None,
    threads: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the run ``spec`` of experiment ``cfg``.

    Parameters
    ----------
    spec : RunSpec
        The run.
    cfg : Config
        The experiment.
    teacher_state : dict, optional
        The teacher's weights (students only).
    on_epoch : callable, optional
        Progress callback.
    threads : int, optional
        Torch intra-op threads (``cfg.threads`` when not given).

    Returns
    -------
    record : dict
        JSON-able: the spec, training history, best epoch, wall time, threads.
    payload : dict
        ``last``/``best`` state dicts and ``logits`` (``last``/``best`` x ``val``/``test``).
    """
    threads = threads or cfg.threads
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise DistillError(f"run {spec.run_id}: device cuda, but torch sees no CUDA GPU")
    set_determinism(threads, cfg.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    data = bundle_for(cfg)
    role = "reference" if spec.kind == "reference" else spec.kind
    base = [cfg.reference.seed, spec.seed] if spec.kind == "reference" else spec.seed
    init_seed = derive_seed(base, role, spec.model.model, spec.student, "init")
    streams = Streams.from_seed(derive_seed(base, role, spec.model.model, spec.student, "stream"))
    model = _new_model(spec.model, data, init_seed).to(cfg.device)
    tc = spec.model.train
    try:
        out = _train(spec, cfg, data, model, teacher_state, streams, on_epoch)
    except DistillError as exc:
        raise DistillError(f"run {spec.run_id}: {exc}") from None
    payload = {
        "last": out["last_state"],
        "best": out["best_state"],
        "logits": {"last": _logits(model, out["last_state"], data)},
    }
    same = out["best_epoch"] == tc.epochs
    payload["logits"]["best"] = (
        payload["logits"]["last"] if same else _logits(model, out["best_state"], data)
    )
    record = {
        "run_id": spec.run_id,
        "kind": spec.kind,
        "condition": spec.condition,
        "seed": spec.seed,
        "student": spec.student,
        "teacher_id": spec.teacher_id,
        "model": spec.model.model,
        "model_options": spec.model.options,
        "augment": spec.augment,
        "epochs": tc.epochs,
        "best_epoch": out["best_epoch"],
        "last_epoch": tc.epochs,
        "history": out["history"],
        "init_seed": init_seed,
        "threads": torch.get_num_threads(),
        "device": cfg.device if cfg.device == "cpu" else torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "train_seconds": round(time.perf_counter() - start, 3),
        "cpu_seconds": round(time.process_time() - cpu_start, 3),
    }
    return record, payload
