"""Owns the reference distribution of the class-level KL metric.

The paper compares models against human soft labels (CIFAR-10H: ~50 human guesses per CIFAR-10
test image).  Three kinds are offered (``reference.kind``):

* ``file``: per-test-image probabilities from a ``.npy`` (or whitespace/comma ``.csv``/``.txt``)
  file of shape (official test set size, classes) in the official order (CIFAR-10H's
  ``cifar10h-probs.npy``) or (used test subset size, classes); rows are renormalised.
* ``ensemble`` (default where no human labels exist, e.g. Fashion-MNIST): the mean softmax of
  ``members`` independently initialised, **un-augmented** networks trained on the ``reference``
  split, which is disjoint from the images the teachers and students learn from, with one
  temperature applied to every member's logits and chosen to minimise the ensemble's
  negative log-likelihood on the validation split.  Why: it is a calibrated estimate of
  ``p(class | image)`` made by models that never saw the study's training images nor any of its
  augmentations, so it favours no condition by construction of its data and labels; ensembling
  and temperature scaling make its uncertainty an honest estimate of the data's ambiguity (what
  human soft labels also express) rather than one network's over- or under-confidence.  Caveat:
  it is a machine proxy for perception and shares the inductive bias of its architecture (and of
  the un-augmented recipe, which is also the ``baseline`` teacher's).
* ``onehot``: the true labels; the per-sample KL then equals the cross-entropy (a lower bound of
  how far any prediction is from certainty), kept as a sanity reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .config import ReferenceConfig
from .data import DataBundle
from .errors import DistillError
from .metrics import accuracy, softmax

__all__ = ["TEMPERATURES", "load_soft_labels", "fit_temperature", "ensemble_probs", "reference"]

#: Temperatures searched by :func:`fit_temperature` (log-spaced, 1.0 included).
TEMPERATURES = np.round(np.geomspace(0.25, 8.0, 61), 6)


def load_soft_labels(path: str | Path, data: DataBundle) -> np.ndarray:
    """Read per-image soft labels and align them with ``data.test``."""
    path = Path(path)
    if not path.is_file():
        raise DistillError(f"no reference file {path} (e.g. CIFAR-10H's cifar10h-probs.npy)")
    try:
        probs = (
            np.load(path)
            if path.suffix == ".npy"
            else np.loadtxt(path, delimiter=None if path.suffix != ".csv" else ",")
        )
    except ValueError as exc:
        raise DistillError(f"{path}: unreadable soft labels: {exc}") from None
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != data.num_classes:
        raise DistillError(
            f"{path}: soft labels must be (images, {data.num_classes}), got {probs.shape}"
        )
    if probs.shape[0] == len(data.test):
        rows = probs
    elif probs.shape[0] > int(data.test_index.max()):
        rows = probs[data.test_index]
    else:
        raise DistillError(
            f"{path}: {probs.shape[0]} rows match neither the test subset ({len(data.test)}) "
            "nor the official test set"
        )
    if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(1) <= 0).any():
        raise DistillError(f"{path}: soft labels must be finite, >= 0, with positive row sums")
    return rows / rows.sum(axis=1, keepdims=True)


def ensemble_probs(member_logits: list[np.ndarray], temperature: float = 1.0) -> np.ndarray:
    """Mean over members of ``softmax(logits / temperature)``."""
    return np.mean([softmax(z, temperature) for z in member_logits], axis=0)


def fit_temperature(member_logits: list[np.ndarray], labels: np.ndarray) -> float:
    """The temperature of :data:`TEMPERATURES` minimising the ensemble's NLL on ``labels``."""
    labels = np.asarray(labels, dtype=np.int64)
    best, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        p = ensemble_probs(member_logits, float(t))[np.arange(len(labels)), labels]
        nll = float(-np.mean(np.log(np.maximum(p, 1e-12))))
        if nll < best_nll - 1e-12:
            best, best_nll = float(t), nll
    return best


def reference(
    rc: ReferenceConfig, data: DataBundle, member_logits: list[dict[str, np.ndarray]] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return the reference probabilities on ``data.test`` and a description of them.

    ``member_logits`` (ensemble only): each member's ``{"val": ..., "test": ...}`` logits.
    """
    y = data.test.y.numpy()
    if rc.kind == "file":
        probs = load_soft_labels(rc.path, data)
        info: dict[str, Any] = {"kind": "file", "path": str(rc.path)}
    elif rc.kind == "onehot":
        probs = np.eye(data.num_classes)[y]
        info = {"kind": "onehot"}
    else:
        if not member_logits:
            raise DistillError("an ensemble reference needs its members' logits")
        temperature = 1.0
        if rc.calibrate and len(data.val):
            temperature = fit_temperature([m["val"] for m in member_logits], data.val.y.numpy())
        probs = ensemble_probs([m["test"] for m in member_logits], temperature)
        info = {
            "kind": "ensemble",
            "members": len(member_logits),
            "model": rc.member.model,
            "model_options": rc.member.options,
            "temperature": temperature,
            "member_test_acc": [accuracy(softmax(m["test"]), y) for m in member_logits],
        }
    info["test_acc"] = accuracy(probs, y)
    info["mean_max_prob"] = float(probs.max(axis=1).mean())
    return probs, info
