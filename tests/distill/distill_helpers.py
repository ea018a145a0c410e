"""Shared helpers of the distill tests: a tiny digits experiment config."""

from __future__ import annotations

from typing import Any


def tiny_train(**changes: Any) -> dict[str, Any]:
    """One epoch of SGD; a fresh dict each call."""
    return {"epochs": 1, "batch_size": 50, "lr": 0.05, "milestones": [], **changes}


def tiny_config(**changes: Any) -> dict[str, Any]:
    """A digits experiment that trains in seconds (3 conditions, 2 students, 2 seeds).

    No two entries share a sub-dict: YAML would write them as aliases of one object.
    """
    cfg: dict[str, Any] = {
        "name": "tiny",
        "seeds": [0, 1],
        "threads": 1,
        "data": {
            "name": "digits",
            "train_size": 300,
            "val_size": 100,
            "test_size": 200,
            "reference_size": 200,
        },
        "teacher": {"model": "resnet18", "options": {"width": 2}, "train": tiny_train()},
        "students": {
            "lenet5": {"model": "lenet5", "label": "LeNet-5", "train": tiny_train()},
            "alexnet": {
                "model": "alexnet",
                "options": {"width": 0.0625},
                "train": tiny_train(optimizer="adam", lr=0.001),
            },
        },
        "distill": {"loss": "kd", "temperature": 20, "alpha": 0.5},
        "conditions": {
            "baseline": {"augment": []},
            "mixup": {"augment": [{"name": "mixup", "alpha": 1.0}]},
            "consistent": {"teacher_from": "baseline", "distill_augment": ["mixup"]},
        },
        "reference": {
            "kind": "ensemble",
            "members": 2,
            "member": {"model": "resnet18", "options": {"width": 2}, "train": tiny_train()},
        },
    }
    cfg.update(changes)
    return cfg
