"""A tiny end-to-end run on digits: every file written, cache reuse, determinism, Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from distill_helpers import tiny_config

from distill.cli import main


def _run(tmp_path: Path, cfg: dict, out: str, *extra: str) -> int:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return main(["run", str(path), "--out", str(tmp_path / out), "-q", *extra])


def _metrics(out: Path) -> dict:
    runs = json.loads((out / "results.json").read_text())["runs"]
    return {r["run_id"]: r["metrics"] for r in runs}


def test_tiny_run_writes_the_table_and_reuses_its_checkpoints(tmp_path: Path, capsys) -> None:
    cfg = tiny_config()
    assert _run(tmp_path, cfg, "a") == 0
    out = tmp_path / "a"
    stdout = capsys.readouterr().out
    assert "18 runs trained, 0 cached" in stdout
    table = (out / "table.md").read_text()
    assert "| Condition | Teacher acc (%) | LeNet-5 acc (%) | alexnet acc (%) |" in table
    for row in ("| baseline |", "| mixup |", "| consistent |"):
        assert row in table
    assert "± " in table and "(baseline)" in table
    for name in (
        "results.csv",
        "results.json",
        "config.resolved.json",
        "seeds.json",
        "reference_probs.npy",
        "logs/distill.log",
        "plots/accuracy.png",
        "plots/class_kl.png",
        "plots/teacher_vs_student.png",
    ):
        assert (out / name).is_file(), name
    assert len(list((out / "checkpoints").glob("*.pt"))) == 18
    assert json.loads((out / "seeds.json").read_text()) == [0, 1]
    run = json.loads(next((out / "runs").glob("student-mixup-lenet5-s1-*.json")).read_text())
    assert run["last_epoch"] == 1 and run["best_epoch"] == 1
    assert set(run["metrics"]) == {"last", "best"}
    assert {"test_acc", "ece", "class_kl", "per_sample_kl", "agreement", "fidelity_kl"} <= set(
        run["metrics"]["last"]
    )
    results = json.loads((out / "results.json").read_text())
    assert results["reference"]["kind"] == "ensemble" and results["reference"]["members"] == 2
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 19 and csv_lines[0].startswith("run_id,kind,condition")

    # a rerun trains nothing and gives the same numbers
    assert _run(tmp_path, cfg, "a") == 0
    assert "0 runs trained, 18 cached" in capsys.readouterr().out
    first = _metrics(out)
    # a fresh directory retrains everything, bit for bit the same (deterministic on CPU)
    assert _run(tmp_path, cfg, "b", "--seeds", "1") == 0
    again = _metrics(tmp_path / "b")
    shared = set(first) & set(again)
    assert len(shared) == 10  # reference members and the seed-1 runs
    assert all(first[k] == again[k] for k in shared)


@pytest.mark.slow
def test_ray_gives_the_sequential_numbers(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cfg = tiny_config(seeds=[0])
    cfg["threads"] = 1
    assert _run(tmp_path, cfg, "seq") == 0
    assert _run(tmp_path, cfg, "ray", "--ray") == 0
    assert _metrics(tmp_path / "seq") == _metrics(tmp_path / "ray")


def test_worker_processes_give_the_sequential_numbers(tmp_path: Path) -> None:
    cfg = tiny_config(seeds=[0], threads=1)
    cfg["students"].pop("alexnet")
    cfg["conditions"].pop("mixup")
    cfg["reference"]["members"] = 1
    assert _run(tmp_path, cfg, "seq") == 0
    assert _run(tmp_path, cfg, "proc", "--parallel", "processes", "--workers", "2") == 0
    seq, proc = _metrics(tmp_path / "seq"), _metrics(tmp_path / "proc")
    assert len(seq) == 4 and seq == proc
