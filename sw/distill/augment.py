"""Owns the batch augmentations of the teacher conditions and of consistent-mixup distillation.

Every augmentation maps ``(x, target, streams)`` to ``(x', target')`` where ``x`` is an
(N, C, H, W) image batch and ``target`` an (N, classes) probability matrix (one-hot for plain
labels); soft targets are how mixup, CutMix and label smoothing express themselves.  Random
draws come only from the :class:`Streams` passed in (a seeded ``torch.Generator`` and a seeded
``numpy.random.Generator``), never from global state, so a run is reproducible and each worker
owns its stream.  Any batch size works, odd or 1 (a one-image mixup mixes the image with itself).

Registered names (:data:`AUGMENTATIONS`):

* ``crop_flip(pad=0.125, flip=True)``: zero-pad by ``pad`` x side pixels (4 px at 32 px), take a
  random crop of the original size, mirror horizontally with probability 1/2;
* ``cutout(size=0.5, holes=1)``: zero ``holes`` squares of side ``size`` x side (16 px at 32 px)
  centred uniformly in the image and clipped at its border (DeVries and Taylor);
* ``mixup(alpha=1.0)``: ``lam ~ Beta(alpha, alpha)`` per batch, ``x' = lam x + (1-lam) x[perm]``
  and the same mix of targets;
* ``cutmix(beta=1.0)``: ``lam ~ Beta(beta, beta)``, a box of area ``(1-lam) H W`` pasted from
  ``x[perm]``, clipped at the border; targets are mixed by the pasted area ratio actually used;
* ``label_smoothing(epsilon=0.1)``: ``target' = (1-eps) target + eps / classes``.

No augmentation adds label smoothing unless asked to (unlike timm's ``Mixup``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .errors import DistillError
from .registry import Registry

__all__ = [
    "AUGMENTATIONS",
    "Streams",
    "Augmentation",
    "CropFlip",
    "Cutout",
    "Mixup",
    "CutMix",
    "LabelSmoothing",
    "Pipeline",
    "build_pipeline",
]

#: Registry of augmentation classes, keyed by config name.
AUGMENTATIONS = Registry("augmentation")


@dataclass
class Streams:
    """The seeded random streams of one run (or one worker)."""

    torch_gen: torch.Generator
    np_rng: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> Streams:
        """Return streams seeded from ``seed`` (torch and numpy get independent children)."""
        children = np.random.SeedSequence(seed).spawn(2)
        gen = torch.Generator().manual_seed(int(children[0].generate_state(1, np.uint64)[0] >> 1))
        return cls(gen, np.random.default_rng(children[1]))


class Augmentation:
    """Base class: ``mixes`` is true when the augmentation combines two images' labels."""

    name = "none"
    mixes = False

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, streams: Streams
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Return the options this augmentation was built with."""
        return dict(vars(self))


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise DistillError(message)


@AUGMENTATIONS.register("crop_flip")
class CropFlip(Augmentation):
    """Random crop after zero padding, then a random horizontal flip."""

    name = "crop_flip"

    def __init__(self, pad: float = 0.125, flip: bool = True) -> None:
        _check(0 <= pad <= 1, f"crop_flip.pad must be in [0, 1] (fraction of the side), got {pad}")
        self.pad = float(pad)
        self.flip = bool(flip)

    def __call__(self, x, target, streams):
        n, c, h, w = x.shape
        p = max(1, round(self.pad * w)) if self.pad > 0 else 0
        if p:
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n,), generator=streams.torch_gen)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=streams.torch_gen)
            rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
            batch = torch.arange(n)[:, None, None, None]
            chans = torch.arange(c)[None, :, None, None]
            x = padded[batch, chans, rows, cols]
        if self.flip:
            mirror = torch.rand(n, generator=streams.torch_gen) < 0.5
            x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
        return x, target


@AUGMENTATIONS.register("cutout")
class Cutout(Augmentation):
    """Zero one or more squares at uniform centres (clipped at the border)."""

    name = "cutout"

    def __init__(self, size: float = 0.5, holes: int = 1) -> None:
        _check(0 < size <= 1, f"cutout.size must be in (0, 1] (fraction of the side), got {size}")
        _check(int(holes) >= 1, f"cutout.holes must be >= 1, got {holes}")
        self.size = float(size)
        self.holes = int(holes)

    def __call__(self, x, target, streams):
        n, _, h, w = x.shape
        side = max(1, round(self.size * w))
        ys = torch.arange(h)[None, :, None]
        xs = torch.arange(w)[None, None, :]
        keep = torch.ones(n, h, w, dtype=torch.bool)
        for _ in range(self.holes):
            cy = torch.randint(0, h, (n,), generator=streams.torch_gen)[:, None, None]
            cx = torch.randint(0, w, (n,), generator=streams.torch_gen)[:, None, None]
            y0, x0 = cy - side // 2, cx - side // 2
            hole = (ys >= y0) & (ys < y0 + side) & (xs >= x0) & (xs < x0 + side)
            keep &= ~hole
        return x * keep[:, None].to(x.dtype), target


@AUGMENTATIONS.register("mixup")
class Mixup(Augmentation):
    """mixup (Zhang et al. 2018) with one ``lam ~ Beta(alpha, alpha)`` per batch."""

    name = "mixup"
    mixes = True

    def __init__(self, alpha: float = 1.0) -> None:
        _check(alpha > 0, f"mixup.alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def __call__(self, x, target, streams):
        lam = float(streams.np_rng.beta(self.alpha, self.alpha))
        perm = torch.randperm(x.shape[0], generator=streams.torch_gen)
        return lam * x + (1 - lam) * x[perm], lam * target + (1 - lam) * target[perm]


def cutmix_box(h: int, w: int, lam: float, streams: Streams) -> tuple[int, int, int, int]:
    """Return the clipped box ``(y0, y1, x0, x1)`` of CutMix for ``lam`` (area ~ (1-lam) h w)."""
    ratio = math.sqrt(1.0 - lam)
    ch, cw = int(h * ratio), int(w * ratio)
    cy = int(torch.randint(0, h, (1,), generator=streams.torch_gen))
    cx = int(torch.randint(0, w, (1,), generator=streams.torch_gen))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    return y0, y1, x0, x1


@AUGMENTATIONS.register("cutmix")
class CutMix(Augmentation):
    """CutMix (Yun et al. 2019); the label weight is the exact pasted area ratio."""

    name = "cutmix"
    mixes = True

    def __init__(self, beta: float = 1.0) -> None:
        _check(beta > 0, f"cutmix.beta must be > 0, got {beta}")
        self.beta = float(beta)
        self.last_lam: float | None = None

    def options(self) -> dict[str, Any]:
        return {"beta": self.beta}

    def __call__(self, x, target, streams):
        n, _, h, w = x.shape
        lam = float(streams.np_rng.beta(self.beta, self.beta))
        perm = torch.randperm(n, generator=streams.torch_gen)
        y0, y1, x0, x1 = cutmix_box(h, w, lam, streams)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
        self.last_lam = lam
        return x, lam * target + (1 - lam) * target[perm]


@AUGMENTATIONS.register("label_smoothing")
class LabelSmoothing(Augmentation):
    """Label smoothing (Szegedy et al. 2016): mix the target with the uniform distribution."""

    name = "label_smoothing"
    mixes = False

    def __init__(self, epsilon: float = 0.1) -> None:
        _check(0 <= epsilon <= 1, f"label_smoothing.epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)

    def __call__(self, x, target, streams):
        k = target.shape[1]
        return x, (1 - self.epsilon) * target + self.epsilon / k


@dataclass
class Pipeline:
    """Augmentations applied in order; an empty pipeline is the identity."""

    steps: list[Augmentation] = field(default_factory=list)

    @property
    def mixes(self) -> bool:
        """Whether any step mixes two samples (mixup, CutMix)."""
        return any(s.mixes for s in self.steps)

    @property
    def names(self) -> list[str]:
        """The step names, in order."""
        return [s.name for s in self.steps]

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, streams: Streams
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for step in self.steps:
            x, target = step(x, target, streams)
        return x, target


def build_pipeline(specs: Sequence[str | dict[str, Any]] | None) -> Pipeline:
    """Build a :class:`Pipeline` from config entries: names or ``{name: ..., option: ...}``."""
    steps = []
    for spec in specs or []:
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, dict) and "name" in spec:
            options = {k: v for k, v in spec.items() if k != "name"}
            name = spec["name"]
        else:
            raise DistillError(f"an augmentation is a name or a mapping with 'name', got {spec!r}")
        if str(name).lower() == "none":
            continue
        cls = AUGMENTATIONS.get(name)
        try:
            steps.append(cls(**options))
        except TypeError:
            raise DistillError(
                f"augmentation {name!r}: unknown option(s) {sorted(options)}"
            ) from None
    return Pipeline(steps)
