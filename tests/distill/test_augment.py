"""Properties of the augmentations: soft labels, CutMix's area ratio, crops, holes, determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill.augment import (
    AUGMENTATIONS,
    CropFlip,
    CutMix,
    Cutout,
    LabelSmoothing,
    Mixup,
    Streams,
    build_pipeline,
)
from distill.errors import DistillError


def _batch(n: int, k: int = 10, size: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, size, size, generator=g)
    return x, F.one_hot(torch.arange(n) % k, k).float()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(0, 1000), st.floats(0.1, 4.0))
def test_mixup_soft_labels_sum_to_one_for_any_batch_size(n: int, seed: int, alpha: float) -> None:
    x, t = _batch(n)
    x2, t2 = Mixup(alpha)(x, t, Streams.from_seed(seed))
    assert x2.shape == x.shape
    assert torch.allclose(t2.sum(1), torch.ones(n))
    assert (t2 >= 0).all()


def test_mixup_mixes_images_and_labels_with_the_same_lambda() -> None:
    n = 5
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()
    t = F.one_hot(torch.arange(n), n).float()
    x2, t2 = Mixup(1.0)(x, t, Streams.from_seed(3))
    # each output image is lam * i + (1 - lam) * perm(i): recover it from the labels
    recovered = (t2 * torch.arange(n, dtype=torch.float32)).sum(1)
    assert torch.allclose(x2[:, 0, 0, 0], recovered, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 9), st.integers(0, 1000), st.sampled_from([5, 8, 28, 32]))
def test_cutmix_lambda_equals_the_pasted_area_ratio(n: int, seed: int, size: int) -> None:
    # image i is the constant i + 1, so the pixels that still hold i + 1 are what was kept
    x = (torch.arange(n, dtype=torch.float32) + 1).view(n, 1, 1, 1).expand(n, 1, size, size)
    t = F.one_hot(torch.arange(n), n).float()
    aug = CutMix(1.0)
    x2, t2 = aug(x.clone(), t, Streams.from_seed(seed))
    assert torch.allclose(t2.sum(1), torch.ones(n))
    lam = aug.last_lam
    for i in range(n):
        kept = float((x2[i] == i + 1).float().mean())
        partner = int(t2[i].argmin()) if t2[i, i] < 1 else i
        if partner != i:  # mixed with another image: the label weight is the kept area
            assert kept == pytest.approx(lam, abs=1e-6)
            assert float(t2[i, i]) == pytest.approx(lam, abs=1e-6)
    assert 0.0 <= lam <= 1.0


def test_cutmix_and_mixup_handle_a_batch_of_one() -> None:
    x, t = _batch(1)
    for aug in (Mixup(), CutMix()):
        x2, t2 = aug(x, t, Streams.from_seed(0))
        assert torch.allclose(x2, x) and torch.allclose(t2, t)


def test_label_smoothing_values() -> None:
    x, t = _batch(4, k=5)
    x2, t2 = LabelSmoothing(0.1)(x, t, Streams.from_seed(0))
    assert torch.equal(x2, x)
    assert torch.allclose(t2.sum(1), torch.ones(4))
    assert torch.allclose(t2.max(1).values, torch.full((4,), 0.9 + 0.02))
    assert torch.allclose(t2.min(1).values, torch.full((4,), 0.02))


def test_no_augmentation_adds_label_smoothing() -> None:
    x, t = _batch(6)
    for name in ("crop_flip", "cutout"):
        _, t2 = AUGMENTATIONS.get(name)()(x, t, Streams.from_seed(1))
        assert torch.equal(t2, t)


def test_crop_flip_is_a_shifted_and_or_mirrored_window_of_the_padded_image() -> None:
    n, size = 16, 8
    x = torch.randn(n, 2, size, size, generator=torch.Generator().manual_seed(0))
    out, _ = CropFlip(pad=0.25, flip=True)(x, torch.zeros(n, 3), Streams.from_seed(5))
    p = 2
    padded = F.pad(x, (p, p, p, p))
    for i in range(n):
        windows = [
            padded[i, :, dy : dy + size, dx : dx + size] for dy in range(5) for dx in range(5)
        ]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    assert not torch.equal(out, x)
    flip_only, _ = CropFlip(pad=0.0, flip=True)(x, torch.zeros(n, 3), Streams.from_seed(5))
    flipped = [torch.equal(flip_only[i], x[i].flip(-1)) for i in range(n)]
    assert all(f or torch.equal(flip_only[i], x[i]) for i, f in enumerate(flipped))
    assert 0 < sum(flipped) < n


def test_cutout_zeroes_one_clipped_square() -> None:
    n, size = 32, 32
    x = torch.ones(n, 3, size, size)
    out, _ = Cutout(size=0.5)(x, torch.zeros(n, 2), Streams.from_seed(2))
    zeros = (out[:, 0] == 0).sum((1, 2))
    assert (zeros <= 16 * 16).all() and (zeros > 0).all()
    assert (zeros == 256).any()  # a hole well inside the image is the full 16 x 16 square
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # the same hole in every channel


@pytest.mark.parametrize("name", ["crop_flip", "cutout", "mixup", "cutmix", "label_smoothing"])
def test_augmentations_are_deterministic_given_the_seed(name: str) -> None:
    x, t = _batch(7, size=12)
    a = AUGMENTATIONS.get(name)()(x, t, Streams.from_seed(11))
    b = AUGMENTATIONS.get(name)()(x, t, Streams.from_seed(11))
    c = AUGMENTATIONS.get(name)()(x, t, Streams.from_seed(12))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    if name != "label_smoothing":
        assert not (torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))


def test_build_pipeline_and_its_errors() -> None:
    pipe = build_pipeline(["crop_flip", {"name": "cutout", "size": 0.25}, "none"])
    assert pipe.names == ["crop_flip", "cutout"] and not pipe.mixes
    assert build_pipeline([{"name": "mixup", "alpha": 0.4}]).mixes
    assert not build_pipeline([])
    with pytest.raises(DistillError, match=r"^unknown augmentation 'mixupp' \(known: "):
        build_pipeline(["mixupp"])
    with pytest.raises(DistillError, match=r"augmentation 'mixup': unknown option\(s\) \['beta'\]"):
        build_pipeline([{"name": "mixup", "beta": 1.0}])
    with pytest.raises(DistillError, match="mixup.alpha must be > 0"):
        build_pipeline([{"name": "mixup", "alpha": 0}])
