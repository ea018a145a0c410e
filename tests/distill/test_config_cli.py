"""Config validation and the command line: bad configs give one-line errors with status 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from distill_helpers import tiny_config

from distill.cli import main
from distill.config import PROFILES, load_config, parse_config
from distill.errors import DistillError


def _write(tmp_path: Path, cfg: dict[str, Any], suffix: str = ".yaml") -> Path:
    path = tmp_path / f"bad{suffix}"
    path.write_text(yaml.safe_dump(cfg) if suffix == ".yaml" else json.dumps(cfg))
    return path


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    cfg = tiny_config()
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return cfg


BAD = [
    (
        ("teacher", "model"),
        "resnet1000",
        "unknown model 'resnet1000' (known: alexnet, lenet5, resnet18) in teacher.model",
    ),
    (
        ("students", "lenet5", "model"),
        "lenet",
        "unknown model 'lenet' (known: alexnet, lenet5, resnet18) in students.lenet5.model",
    ),
    (
        ("conditions", "mixup", "augment"),
        ["mixupp"],
        "unknown augmentation 'mixupp' (known: crop_flip, "
        "cutmix, cutout, label_smoothing, mixup) in conditions.mixup.augment",
    ),
    (("distill", "temperature"), -2, "distill.temperature must be > 0, got -2"),
    (("distill", "alpha"), 1.5, "distill.alpha must be in [0, 1], got 1.5"),
    (("distill", "alpha"), -0.5, "distill.alpha must be in [0, 1], got -0.5"),
    (("distill", "loss"), "hinton", "unknown loss 'hinton' (known: ce, kd) in distill.loss"),
    (("teacher", "train", "lr"), -1, "teacher.train.lr must be > 0, got -1"),
    (("teacher", "train", "epochs"), 0, "teacher.train.epochs must be >= 1, got 0"),
    (
        ("data", "name"),
        "mnist",
        "unknown dataset 'mnist' in data.name (known: fashion_mnist, cifar10, digits)",
    ),
    (("seeds",), [], "seeds must be a non-empty list of integers"),
    (("device",), "gpu", "device must be 'cpu' or 'cuda', got 'gpu'"),
    (
        ("teachr",),
        {},
        "unknown key 'teachr' at the top level (known: conditions, data, device, distill, "
        "ece_bins, name, parallel, ray_address, reference, seeds, students, teacher, threads, "
        "workers)",
    ),
    (
        ("conditions", "consistent", "teacher_from"),
        "nope",
        "conditions.consistent.teacher_from "
        "must name a condition that trains a teacher, got 'nope'",
    ),
    (("parallel",), "dask", "parallel must be 'none', 'processes' or 'ray', got 'dask'"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[".".join(b[0]) for b in BAD])
def test_bad_configs_give_one_line_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: tuple[str, ...],
    value: Any,
    message: str,
) -> None:
    cfg_path = _write(tmp_path, _with(path, value))
    with pytest.raises(DistillError) as err:
        load_config(cfg_path)
    assert str(err.value) == f"bad.yaml: {message}"
    assert main(["run", str(cfg_path), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"accss3d-distill: error: bad.yaml: {message}\n"
    assert not (tmp_path / "out").exists()


def test_missing_and_malformed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.startswith("accss3d-distill: error: no config file ")
    broken = tmp_path / "broken.yaml"
    broken.write_text("seeds: [0, 1\n")
    assert main(["check", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"accss3d-distill: error: {broken}: invalid YAML")
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    assert main(["check", str(lst)]) == 2
    assert "a config must be a mapping" in capsys.readouterr().err


def test_missing_dataset_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tiny_config(data={"name": "fashion_mnist", "train_size": 10, "reference_size": 10})
    path = _write(tmp_path, cfg, ".json")
    code = main(["run", str(path), "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("accss3d-distill: error: Fashion-MNIST not found: no train-images")


@pytest.mark.parametrize("profile", PROFILES)
def test_shipped_profiles_are_valid(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(profile)
    assert cfg.name == profile and cfg.distill.temperature == 20 and cfg.distill.alpha == 0.5
    assert {"baseline", "crop_flip", "cutout", "mixup", "cutmix"} <= set(cfg.conditions)
    assert main(["check", profile]) == 0
    assert f"{profile}: valid" in capsys.readouterr().out


def test_defaults_are_the_papers() -> None:
    cfg = parse_config(
        {
            "students": {"s": {"model": "lenet5"}},
            "conditions": {"b": {}},
            "data": {"reference_size": 10},
        }
    )
    assert (cfg.distill.temperature, cfg.distill.alpha, cfg.distill.loss) == (20.0, 0.5, "kd")
    t = cfg.teacher.train
    assert (t.lr, t.momentum, t.weight_decay, t.batch_size, t.milestones) == (
        0.1,
        0.9,
        1e-4,
        128,
        [60, 80, 120],
    )


def test_list_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "models: alexnet, lenet5, resnet18" in out and "losses: ce, kd" in out


def test_device_is_part_of_the_run_ids() -> None:
    """A CUDA run is another result: other ids (no CPU checkpoint reused); CPU ids unchanged
    by the field's existence."""
    import torch

    from distill.runner import plan_runs
    from distill.train import execute_run

    cpu = plan_runs(parse_config(tiny_config()))
    assert [r.run_id for r in plan_runs(parse_config(tiny_config(device="cpu")))] == [
        r.run_id for r in cpu
    ]
    cfg = parse_config(tiny_config(device="cuda"))
    gpu = plan_runs(cfg)
    assert len(gpu) == len(cpu)
    assert not {r.run_id for r in gpu} & {r.run_id for r in cpu}
    if not torch.cuda.is_available():
        with pytest.raises(DistillError, match="device cuda, but torch sees no CUDA GPU"):
            execute_run(gpu[0], cfg)
