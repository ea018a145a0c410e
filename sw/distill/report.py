"""Owns the results files of an experiment: JSON, CSV, the Markdown table and the plots.

The table has the paper's form: one row per condition, the teacher's test accuracy, each
student's test accuracy and each student's class-level KL metric, as mean +- sample standard
deviation over seeds, at the **last** epoch (best-epoch numbers are in ``results.json`` and
``results.csv``).  A second table gives calibration (ECE) and teacher-student fidelity, and a
short summary compares the students of mixed-sample (mixup, CutMix) teachers with the others.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config

__all__ = ["aggregate", "mean_std", "markdown_table", "write_results", "MIXED"]

#: Augmentation names that make a teacher a mixed-sample one.
MIXED = ("mixup", "cutmix")


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _fmt(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    if not values:
        return "-"
    m, s = mean_std([v * scale for v in values])
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def _aug_names(augment: list[Any]) -> list[str]:
    return [str(a if isinstance(a, str) else a.get("name")).lower() for a in augment]


def aggregate(
    cfg: Config, records: list[dict[str, Any]], which: str = "last"
) -> dict[str, dict[str, Any]]:
    """Per condition: per-seed metric lists of the teacher and of each student."""
    teacher_of = {r["run_id"]: r for r in records if r["kind"] == "teacher"}
    out: dict[str, dict[str, Any]] = {}
    for name, cond in cfg.conditions.items():
        src = cond.teacher_from or name
        entry: dict[str, Any] = {
            "teacher_condition": src,
            "teacher_augment": _aug_names(cfg.conditions[src].augment),
            "distill_augment": _aug_names(cond.distill_augment),
            "mixed_sample_teacher": any(
                a in MIXED for a in _aug_names(cfg.conditions[src].augment)
            ),
            "teacher": defaultdict(list),
            "students": {s: defaultdict(list) for s in cfg.students},
        }
        for r in records:
            if r["kind"] == "student" and r["condition"] == name:
                for k, v in r["metrics"][which].items():
                    if k != "class_kl_matrix":
                        entry["students"][r["student"]][k].append(v)
                if r["student"] == next(iter(cfg.students)):
                    t = teacher_of[r["teacher_id"]]
                    for k, v in t["metrics"][which].items():
                        if k != "class_kl_matrix":
                            entry["teacher"][k].append(v)
        entry["teacher"] = dict(entry["teacher"])
        entry["students"] = {s: dict(v) for s, v in entry["students"].items()}
        out[name] = entry
    return out


def _summary(stats: dict[str, Any], label: str) -> dict[str, Any]:
    return {
        k: dict(zip(("mean", "std"), mean_std(v), strict=True))
        for k, v in stats.items()
        if v and all(isinstance(x, int | float) and x is not None for x in v)
    } | {"label": label}


def markdown_table(cfg: Config, agg: dict[str, dict[str, Any]], which: str = "last") -> str:
    """The Markdown tables (main and calibration/fidelity) of aggregated results."""
    students = list(cfg.students)
    labels = {s: cfg.students[s].display for s in students}
    head = ["Condition", "Teacher acc (%)"]
    head += [f"{labels[s]} acc (%)" for s in students]
    head += [f"{labels[s]} KL metric" for s in students]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, e in agg.items():
        label = cfg.conditions[name].label or name
        teacher = _fmt(e["teacher"].get("test_acc", []), 100)
        if e["teacher_condition"] != name:
            teacher += f" ({e['teacher_condition']})"
        row = [label, teacher]
        row += [_fmt(e["students"][s].get("test_acc", []), 100) for s in students]
        row += [_fmt(e["students"][s].get("class_kl", []), 1, 3) for s in students]
        lines.append("| " + " | ".join(row) + " |")
    head2 = ["Condition", "Teacher KL metric", "Teacher ECE"]
    for s in students:
        head2 += [
            f"{labels[s]} ECE",
            f"{labels[s]} agreement (%)",
            f"{labels[s]} KL(T‖S)",
            f"{labels[s]} per-sample KL",
        ]
    lines += ["", "| " + " | ".join(head2) + " |", "|" + "---|" * len(head2)]
    for name, e in agg.items():
        row = [
            cfg.conditions[name].label or name,
            _fmt(e["teacher"].get("class_kl", []), 1, 3),
            _fmt(e["teacher"].get("ece", []), 1, 3),
        ]
        for s in students:
            st = e["students"][s]
            row += [
                _fmt(st.get("ece", []), 1, 3),
                _fmt(st.get("agreement", []), 100),
                _fmt(st.get("fidelity_kl", []), 1, 3),
                _fmt(st.get("per_sample_kl", []), 1, 3),
            ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def ordering(cfg: Config, agg: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per student: mean accuracy and KL metric of mixed-sample vs other teacher conditions."""
    result: dict[str, Any] = {}
    own = [n for n, c in cfg.conditions.items() if c.teacher_from is None]
    for s in cfg.students:
        groups: dict[str, dict[str, list[float]]] = {
            "mixed": defaultdict(list),
            "other": defaultdict(list),
        }
        for n in own:
            g = "mixed" if agg[n]["mixed_sample_teacher"] else "other"
            for k in ("test_acc", "class_kl"):
                groups[g][k].append(float(np.mean(agg[n]["students"][s].get(k, [np.nan]))))
        ranked = sorted(own, key=lambda n: -np.mean(agg[n]["students"][s].get("test_acc", [0])))
        result[s] = {
            "mixed_conditions": [n for n in own if agg[n]["mixed_sample_teacher"]],
            "mixed_mean_acc": float(np.mean(groups["mixed"]["test_acc"]))
            if groups["mixed"]["test_acc"]
            else None,
            "other_mean_acc": float(np.mean(groups["other"]["test_acc"]))
            if groups["other"]["test_acc"]
            else None,
            "mixed_mean_class_kl": float(np.mean(groups["mixed"]["class_kl"]))
            if groups["mixed"]["class_kl"]
            else None,
            "other_mean_class_kl": float(np.mean(groups["other"]["class_kl"]))
            if groups["other"]["class_kl"]
            else None,
            "accuracy_ranking": ranked,
        }
    return result


def _ordering_text(cfg: Config, order: dict[str, Any]) -> str:
    lines = []
    for s, o in order.items():
        if o["mixed_mean_acc"] is None or o["other_mean_acc"] is None:
            continue
        diff = 100 * (o["mixed_mean_acc"] - o["other_mean_acc"])
        lines.append(
            f"- {cfg.students[s].display}: students of mixed-sample teachers "
            f"({', '.join(o['mixed_conditions'])}) average {100 * o['mixed_mean_acc']:.2f} % vs "
            f"{100 * o['other_mean_acc']:.2f} % for the other teachers ({diff:+.2f} points); "
            f"KL metric {o['mixed_mean_class_kl']:.3f} vs {o['other_mean_class_kl']:.3f}; "
            f"ranking by accuracy: {' > '.join(o['accuracy_ranking'])}"
        )
    return "\n".join(lines) + ("\n" if lines else "")


def _plots(cfg: Config, agg: dict[str, dict[str, Any]], out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(agg)
    labels = [cfg.conditions[n].label or n for n in names]
    students = list(cfg.students)
    width = 0.8 / (len(students) + 1)
    x = np.arange(len(names))
    files = {}
    for key, ylabel, scale, fname in (
        ("test_acc", "test accuracy (%)", 100.0, "accuracy.png"),
        ("class_kl", "class-level KL metric (lower = closer)", 1.0, "class_kl.png"),
    ):
        fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4))
        series = [("teacher", [agg[n]["teacher"].get(key, []) for n in names])]
        series += [
            (cfg.students[s].display, [agg[n]["students"][s].get(key, []) for n in names])
            for s in students
        ]
        for i, (label, vals) in enumerate(series):
            ms = [mean_std([v * scale for v in vs]) if vs else (math.nan, 0.0) for vs in vals]
            ax.bar(
                x + (i - len(students) / 2) * width,
                [m for m, _ in ms],
                width,
                yerr=[s for _, s in ms],
                capsize=3,
                label=label,
            )
        ax.set_xticks(x, labels, rotation=20, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{cfg.name}: mean ± std over {len(cfg.seeds)} seed(s), last epoch")
        ax.legend(fontsize=8)
        if key == "test_acc":
            lo = np.nanmin([np.min(v) * scale for _, vals in series for v in vals if v] or [0])
            ax.set_ylim(max(0.0, lo - 5), 100)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=120)
        plt.close(fig)
        files[fname] = out / fname
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for s in students:
        tx = [100 * np.mean(agg[n]["teacher"].get("test_acc", [np.nan])) for n in names]
        sy = [100 * np.mean(agg[n]["students"][s].get("test_acc", [np.nan])) for n in names]
        ax.scatter(tx, sy, label=cfg.students[s].display)
        for xi, yi, lab in zip(tx, sy, labels, strict=True):
            ax.annotate(lab, (xi, yi), fontsize=7)
    ax.set_xlabel("teacher test accuracy (%)")
    ax.set_ylabel("student test accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "teacher_vs_student.png", dpi=120)
    plt.close(fig)
    files["teacher_vs_student.png"] = out / "teacher_vs_student.png"
    return files


_CSV_KEYS = (
    "test_acc",
    "val_acc",
    "ece",
    "class_kl",
    "per_sample_kl",
    "agreement",
    "fidelity_kl",
    "epoch",
)


def write_results(cfg: Config, outcome: Any) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv``, ``table.md`` and ``plots/`` under the out dir."""
    out = Path(outcome.out_dir)
    records = outcome.records
    agg = {w: aggregate(cfg, records, w) for w in ("last", "best")}
    files: dict[str, Path] = {}

    with open(out / "results.csv", "w", newline="") as f:
        head = ["run_id", "kind", "condition", "student", "seed", "model", "teacher_id"]
        head += [f"{k}_{w}" for w in ("last", "best") for k in _CSV_KEYS]
        head += ["train_seconds", "cpu_seconds", "cached"]
        writer = csv.writer(f)
        writer.writerow(head)
        for r in records:
            row = [
                r["run_id"],
                r["kind"],
                r["condition"],
                r["student"],
                r["seed"],
                r["model"],
                r["teacher_id"],
            ]
            row += [r["metrics"][w].get(k) for w in ("last", "best") for k in _CSV_KEYS]
            row += [r["train_seconds"], r.get("cpu_seconds"), r["cached"]]
            writer.writerow(row)
    files["results.csv"] = out / "results.csv"

    order = ordering(cfg, agg["last"])
    summary = {
        w: {
            name: {
                "teacher_condition": e["teacher_condition"],
                "mixed_sample_teacher": e["mixed_sample_teacher"],
                "teacher": _summary(e["teacher"], "teacher"),
                "students": {
                    s: _summary(v, cfg.students[s].display) for s, v in e["students"].items()
                },
            }
            for name, e in agg[w].items()
        }
        for w in ("last", "best")
    }
    results = {
        "name": cfg.name,
        "seeds": cfg.seeds,
        "epoch_reported": "last (best-epoch = highest validation accuracy, also given)",
        "reference": outcome.reference_info,
        "wall_seconds": outcome.wall_seconds,
        "runs_trained": outcome.trained,
        "runs_cached": outcome.cached,
        "summary": summary,
        "ordering": order,
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in records],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    files["results.json"] = out / "results.json"

    ref = outcome.reference_info
    ref_text = f"reference: {ref['kind']}"
    if ref["kind"] == "ensemble":
        ref_text += (
            f" of {ref['members']} x {ref['model']} (temperature "
            f"{ref['temperature']:g}, test accuracy {100 * ref['test_acc']:.2f} %)"
        )
    text = (
        f"# {cfg.name}: data augmentation vs knowledge distillation\n\n"
        f"Dataset {cfg.data.name}; teacher {cfg.teacher.display}; seeds {cfg.seeds}; "
        f"test accuracy and class-level KL metric at the last epoch, mean ± std over seeds; "
        f"KD T = {cfg.distill.temperature:g}, alpha = {cfg.distill.alpha:g}; {ref_text}.\n\n"
        + markdown_table(cfg, agg["last"])
        + "\n"
        + _ordering_text(cfg, order)
    )
    (out / "table.md").write_text(text)
    files["table.md"] = out / "table.md"
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    files.update(_plots(cfg, agg["last"], plots))
    return files
