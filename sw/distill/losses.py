"""Owns the training losses: soft-target cross-entropy and the Hinton knowledge-distillation loss.

The distillation loss of the paper (and of Hinton et al. 2015) is::

    L = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y)

with the KL divergence averaged over the batch (``F.kl_div(..., reduction="batchmean")``),
student logits ``s``, teacher logits ``t``, temperature ``T`` (20 in the paper) and weight
``alpha`` (0.5).  ``y`` may be a soft target (mixup during distillation mixes it too).
:data:`LOSSES` is the registry a config's ``distill.loss`` names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import DistillError
from .registry import Registry

__all__ = ["LOSSES", "soft_cross_entropy", "kd_loss", "KDLoss", "CrossEntropyLoss"]

#: Registry of distillation losses, keyed by config name.
LOSSES = Registry("loss")


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-sum_k target[k] log softmax(logits)[k]``.

    ``target`` is an (N, K) probability matrix or (N,) integer labels.
    """
    if target.dim() == 1:
        return F.cross_entropy(logits, target)
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def kd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    temperature: float = 20.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Hinton's distillation loss (see the module docstring)."""
    kl = F.kl_div(
        F.log_softmax(student / temperature, dim=1),
        F.softmax(teacher / temperature, dim=1),
        reduction="batchmean",
    )
    return alpha * temperature**2 * kl + (1.0 - alpha) * soft_cross_entropy(student, target)


def _validate(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise DistillError(f"distill.temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise DistillError(f"distill.alpha must be in [0, 1], got {alpha}")


@LOSSES.register("kd")
class KDLoss:
    """Callable ``(student, teacher, target) -> loss`` with fixed ``temperature`` and ``alpha``."""

    def __init__(self, temperature: float = 20.0, alpha: float = 0.5) -> None:
        _validate(temperature, alpha)
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def __call__(self, student, teacher, target):
        return kd_loss(student, teacher, target, self.temperature, self.alpha)


@LOSSES.register("ce")
class CrossEntropyLoss:
    """No distillation: the student learns from the labels only (a control)."""

    def __init__(self, temperature: float = 20.0, alpha: float = 0.0) -> None:
        _validate(temperature, alpha)

    def __call__(self, student, teacher, target):
        return soft_cross_entropy(student, target)
