"""Every condition's augmentation is applied (or not) where it is configured.

A probe model records the images it is given, and the loss the targets, while the real training
loops run one epoch on digits: a teacher sees exactly the augmentation of its condition;
students see clean images, except under consistent mixup, where the student and the teacher
see the very same mixed view and learn mixed labels.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import distill.train as train_mod
from distill.augment import Streams, build_pipeline
from distill.config import TrainConfig, load_config
from distill.data import load_data
from distill.losses import KDLoss


class Probe(nn.Module):
    """A linear model that records every input batch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not torch.is_grad_enabled():
            self.seen.append(x.detach().clone())
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def data():
    return load_data("digits", None, 120, 20, 40, 0, 0)


def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x}


TC = TrainConfig(epochs=1, batch_size=32, lr=0.01, milestones=[])
CONDITIONS = load_config("smoke").conditions


@pytest.mark.parametrize("name", [n for n, c in CONDITIONS.items() if c.teacher_from is None])
def test_teacher_sees_its_conditions_augmentation(name, data, monkeypatch) -> None:
    targets: list[torch.Tensor] = []
    real = train_mod.soft_cross_entropy

    def spy(logits, target):
        targets.append(target.detach().clone())
        return real(logits, target)

    monkeypatch.setattr(train_mod, "soft_cross_entropy", spy)
    model = Probe()
    pipeline = build_pipeline(CONDITIONS[name].augment)
    train_mod.train_teacher(model, data, TC, pipeline, Streams.from_seed(0))
    seen = torch.cat([x for x in model.seen if x.shape[0] != len(data.val)])
    target = torch.cat(targets)
    clean = _rows(data.train.x)
    unchanged = sum(r in clean for r in _rows(seen))
    one_hot = bool(((target == 0) | (target == 1)).all())
    names = pipeline.names
    assert len(seen) == len(data.train)
    if not names or names == ["label_smoothing"]:
        assert unchanged == len(seen)  # images untouched
    else:
        assert unchanged < len(seen) // 2
    if "cutout" in names:
        assert ((seen == 0).flatten(1).sum(1) >= 4).all()  # a 4 x 4 hole, clipped to >= 2 x 2
    if "mixup" in names or "cutmix" in names:
        assert not one_hot and torch.allclose(target.sum(1), torch.ones(len(target)))
    elif "label_smoothing" in names:
        assert torch.allclose(target.min(1).values, torch.full((len(target),), 0.01))
    else:
        assert one_hot


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_students_see_clean_images_unless_mixup_is_consistent(name, data, monkeypatch) -> None:
    targets: list[torch.Tensor] = []
    loss = KDLoss(20.0, 0.5)

    def spy(student, teacher, target):
        targets.append(target.detach().clone())
        return loss(student, teacher, target)

    teacher, student = Probe(), Probe()
    pipeline = build_pipeline(CONDITIONS[name].distill_augment)
    train_mod.train_student(student, teacher, data, TC, spy, Streams.from_seed(0), pipeline)
    seen = [x for x in student.seen if x.shape[0] != len(data.val)]
    target = torch.cat(targets)
    if pipeline:
        assert pipeline.names == ["mixup"]
        t_seen = teacher.seen  # the teacher scores exactly the student's mixed view
        assert len(t_seen) == len(seen) and all(
            torch.equal(a, b) for a, b in zip(t_seen, seen, strict=True)
        )
        assert not ((target == 0) | (target == 1)).all()
        assert sum(r in _rows(data.train.x) for r in _rows(torch.cat(seen))) < len(data.train) // 2
    else:
        assert _rows(torch.cat(seen)) == _rows(data.train.x)
        assert torch.equal(target, F.one_hot(target.argmax(1), 10).float())
        # teacher logits computed once, on the clean training set
        assert len(teacher.seen) == 1 and torch.equal(teacher.seen[0], data.train.x)
