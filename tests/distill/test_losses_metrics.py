"""Loss and metric formulas against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill import metrics
from distill.errors import DistillError
from distill.losses import LOSSES, KDLoss, kd_loss, soft_cross_entropy


def _dists(rng: np.random.Generator, n: int, k: int, sharp: float = 1.0) -> np.ndarray:
    z = rng.normal(size=(n, k)) * sharp
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("temperature,alpha", [(20.0, 0.5), (1.0, 0.0), (4.0, 1.0), (2.5, 0.3)])
def test_kd_loss_matches_the_paper_formula(temperature: float, alpha: float) -> None:
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(7, 10, generator=g), torch.randn(7, 10, generator=g) * 3
    y = torch.randint(0, 10, (7,), generator=g)
    kl = F.kl_div(
        F.log_softmax(s / temperature, 1), F.softmax(t / temperature, 1), reduction="batchmean"
    )
    want = kl * alpha * temperature**2 + F.cross_entropy(s, y) * (1 - alpha)
    got = kd_loss(s, t, F.one_hot(y, 10).float(), temperature, alpha)
    assert torch.allclose(got, want, atol=1e-6)
    # the hand-written sum gives the same KL
    pt, ps = F.softmax(t / temperature, 1), F.softmax(s / temperature, 1)
    manual = (pt * (pt.log() - ps.log())).sum(1).mean()
    assert torch.allclose(kl, manual, atol=1e-6)
    assert torch.allclose(KDLoss(temperature, alpha)(s, t, y), want, atol=1e-6)


def test_kd_loss_is_ce_when_student_equals_teacher() -> None:
    s = torch.randn(5, 4)
    y = torch.tensor([0, 1, 2, 3, 0])
    assert torch.allclose(kd_loss(s, s.clone(), y, 20.0, 0.5), 0.5 * F.cross_entropy(s, y))


def test_soft_cross_entropy_with_one_hot_is_cross_entropy() -> None:
    s = torch.randn(6, 3)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    assert torch.allclose(soft_cross_entropy(s, F.one_hot(y, 3).float()), F.cross_entropy(s, y))


@pytest.mark.parametrize(
    "temperature,alpha,message",
    [
        (-1.0, 0.5, "distill.temperature must be > 0, got -1.0"),
        (0.0, 0.5, "distill.temperature must be > 0, got 0.0"),
        (20.0, 1.5, "distill.alpha must be in [0, 1], got 1.5"),
        (20.0, -0.1, "distill.alpha must be in [0, 1], got -0.1"),
    ],
)
def test_kd_loss_rejects_bad_parameters(temperature: float, alpha: float, message: str) -> None:
    with pytest.raises(DistillError) as err:
        LOSSES.get("kd")(temperature, alpha)
    assert str(err.value) == message


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12), st.floats(0.1, 5.0))
def test_kl_is_nonnegative_and_zero_on_identical_rows(seed: int, k: int, sharp: float) -> None:
    rng = np.random.default_rng(seed)
    p, q = _dists(rng, 9, k, sharp), _dists(rng, 9, k, sharp)
    kl = metrics.kl_rows(p, q)
    assert (kl >= -1e-12).all()
    assert np.allclose(metrics.kl_rows(p, p), 0.0, atol=1e-12)
    torch_kl = F.kl_div(torch.tensor(q).log(), torch.tensor(p), reduction="none").sum(1)
    assert np.allclose(kl, torch_kl.numpy(), atol=1e-9)


def test_per_sample_kl_is_batchmean_kl_div() -> None:
    rng = np.random.default_rng(1)
    ref, pred = _dists(rng, 50, 10), _dists(rng, 50, 10, 2.0)
    want = F.kl_div(torch.tensor(pred).log(), torch.tensor(ref), reduction="batchmean")
    assert metrics.per_sample_kl(ref, pred) == pytest.approx(float(want), rel=1e-9)
    assert metrics.per_sample_kl(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_class_kl_matrix_and_diagonal_mean_against_loops() -> None:
    rng = np.random.default_rng(2)
    k, n = 4, 80
    labels = np.arange(n) % k
    ref, pred = _dists(rng, n, k), _dists(rng, n, k, 2.0)
    ref_m = np.stack([ref[labels == c].mean(0) for c in range(k)])
    pred_m = np.stack([pred[labels == c].mean(0) for c in range(k)])
    want = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            want[i, j] = float(
                F.kl_div(torch.tensor(pred_m[j]).log(), torch.tensor(ref_m[i]), reduction="sum")
            )
    got = metrics.class_kl_matrix(
        metrics.class_means(ref, labels, k), metrics.class_means(pred, labels, k)
    )
    assert np.allclose(got, want, atol=1e-10)
    assert metrics.class_kl(ref, pred, labels, k) == pytest.approx(np.mean(np.diag(want)))
    assert metrics.class_kl(ref, ref, labels, k) == pytest.approx(0.0, abs=1e-12)
    assert (got >= -1e-12).all()


def test_class_kl_handles_zero_probabilities_and_absent_classes() -> None:
    ref = np.eye(3)[[0, 1, 1]]
    pred = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.1, 0.9, 0.0]])
    labels = np.array([0, 1, 1])
    value = metrics.class_kl(ref, pred, labels, 3)  # class 2 has no image: left out
    assert np.isfinite(value)
    assert value == pytest.approx((np.log(2) + (-np.log(0.95))) / 2)
    assert np.isfinite(metrics.kl_rows(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))).all()


def test_accuracy_ece_and_fidelity_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    labels = np.array([0, 1, 1, 1])
    assert metrics.accuracy(probs, labels) == 0.75
    # 2 bins: [0, .5) empty, [.5, 1]: confidences .9 .6 .7 .8 (mean .75), accuracy .75 -> 0
    assert metrics.expected_calibration_error(probs, labels, 2) == pytest.approx(0.0, abs=1e-12)
    # 10 bins: |1-.9|, |0-.6|, |1-.7|, |1-.8| each with weight 1/4
    want = (0.1 + 0.6 + 0.3 + 0.2) / 4
    assert metrics.expected_calibration_error(probs, labels, 10) == pytest.approx(want)
    assert metrics.expected_calibration_error(np.eye(2)[labels], labels) == 0.0
    fid = metrics.fidelity(probs, probs[::-1])
    assert fid["agreement"] == 0.0  # argmax 0, 0, 1, 1 vs 1, 1, 0, 0
    assert fid["kl"] == pytest.approx(metrics.per_sample_kl(probs, probs[::-1]))
    assert metrics.fidelity(probs, probs) == {"agreement": 1.0, "kl": pytest.approx(0.0)}


def test_softmax_matches_torch() -> None:
    z = np.random.default_rng(3).normal(size=(5, 6)) * 10
    assert np.allclose(metrics.softmax(z, 2.0), F.softmax(torch.tensor(z) / 2.0, 1).numpy())
