"""Owns the evaluation metrics: accuracy, calibration, the class-level KL metric and fidelity.

All functions take probabilities (rows summing to 1) as numpy arrays or tensors and return
floats or numpy arrays.  Notation: ``p_x`` a model's softmax on test image ``x``, ``r_x`` the
reference distribution for ``x`` (human soft labels, or the documented stand-in),
``y_x`` the true class.

* ``accuracy``: fraction of ``argmax p_x == y_x``.
* ``expected_calibration_error``: ``sum_b |B_b|/N * |acc(B_b) - conf(B_b)|`` over equal-width
  confidence bins (15 by default; a confidence of exactly 0 falls in the first bin).
* ``class_means``: ``m[c] = mean_{x: y_x = c} p_x`` (rows of a class that has no test image
  are NaN and left out of what follows).
* ``class_kl_matrix``: ``M[i, j] = KL(ref[i] || pred[j]) = sum_k ref[i,k] log(ref[i,k] /
  pred[j,k])`` of the per-class means of the reference and of the model (NaN where a class has
  no test image).
* ``class_kl``: the paper's metric, ``mean_i M[i, i]`` (lower: closer to the reference).
* ``per_sample_kl``: ``mean_x KL(r_x || p_x)``.
* ``fidelity``: teacher-student ``agreement`` (fraction of equal top-1) and
  ``kl = mean_x KL(p_teacher,x || p_student,x)`` (Stanton et al. 2021).

Probabilities are clipped at ``EPS`` inside logarithms so that a zero predicted probability
gives a large finite KL, and ``0 log 0 = 0``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "EPS",
    "accuracy",
    "expected_calibration_error",
    "class_means",
    "kl_rows",
    "class_kl_matrix",
    "class_kl",
    "per_sample_kl",
    "fidelity",
    "softmax",
]

#: Floor of probabilities inside logarithms.
EPS = 1e-12


def _np(a: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def softmax(logits: np.ndarray | torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64."""
    z = _np(logits) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(probs: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1]."""
    return float(np.mean(_np(probs).argmax(axis=1) == _np(labels).astype(np.int64)))


def expected_calibration_error(
    probs: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, n_bins: int = 15
) -> float:
    """Expected calibration error over ``n_bins`` equal-width confidence bins."""
    p = _np(probs)
    y = _np(labels).astype(np.int64)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def class_means(
    probs: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, num_classes: int
) -> np.ndarray:
    """Per-true-class mean distribution, shape (num_classes, K); NaN rows for absent classes."""
    p = _np(probs)
    y = _np(labels).astype(np.int64)
    out = np.full((num_classes, p.shape[1]), np.nan)
    for c in range(num_classes):
        if (y == c).any():
            out[c] = p[y == c].mean(axis=0)
    return out


def kl_rows(ref: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``KL(ref[n] || pred[n])`` for each row ``n``."""
    ref = _np(ref)
    pred = _np(pred)
    safe = np.where(ref > 0, ref, 1.0)
    return np.sum(np.where(ref > 0, ref * (np.log(safe) - np.log(np.maximum(pred, EPS))), 0.0), 1)


def class_kl_matrix(ref_means: np.ndarray, pred_means: np.ndarray) -> np.ndarray:
    """The matrix ``M[i, j] = KL(ref_means[i] || pred_means[j])``."""
    ref = _np(ref_means)
    pred = _np(pred_means)
    m = np.stack([kl_rows(np.broadcast_to(r, pred.shape), pred) for r in ref])
    m[np.isnan(ref).any(axis=1), :] = np.nan  # classes without test images
    m[:, np.isnan(pred).any(axis=1)] = np.nan
    return m


def class_kl(
    ref_probs: np.ndarray | torch.Tensor,
    probs: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    num_classes: int,
) -> float:
    """The paper's class-level KL metric: mean diagonal of :func:`class_kl_matrix`."""
    m = class_kl_matrix(
        class_means(ref_probs, labels, num_classes), class_means(probs, labels, num_classes)
    )
    return float(np.nanmean(np.diag(m)))


def per_sample_kl(ref_probs: np.ndarray | torch.Tensor, probs: np.ndarray | torch.Tensor) -> float:
    """Mean over samples of ``KL(ref_x || p_x)``."""
    return float(np.mean(kl_rows(_np(ref_probs), _np(probs))))


def fidelity(
    teacher_probs: np.ndarray | torch.Tensor, student_probs: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """Teacher-student top-1 ``agreement`` and mean ``kl`` = KL(teacher || student)."""
    t = _np(teacher_probs)
    s = _np(student_probs)
    return {
        "agreement": float(np.mean(t.argmax(axis=1) == s.argmax(axis=1))),
        "kl": per_sample_kl(t, s),
    }
