"""Owns the experiment config: its schema, loading (YAML or JSON), validation and defaults.

One experiment is one config file.  Every problem is reported as a one-line
:class:`~distill.errors.DistillError` naming the offending key (``teacher.train.lr must be > 0,
got -1``).  ``load_config`` also accepts the name of a shipped profile (``smoke``, ``quick``,
``full``) found in :data:`CONFIG_DIR`.  See ``docs/distill.md`` for the schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .augment import build_pipeline
from .data import DATASETS
from .errors import DistillError
from .losses import LOSSES
from .models import MODELS

__all__ = [
    "CONFIG_DIR",
    "PROFILES",
    "DataConfig",
    "TrainConfig",
    "ModelConfig",
    "DistillConfig",
    "ConditionConfig",
    "ReferenceConfig",
    "Config",
    "load_config",
    "parse_config",
    "config_hash",
]

#: Directory of the shipped configs.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
#: Names of the shipped profiles.
PROFILES = ("smoke", "quick", "full")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DistillError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _no_extra(value: dict[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(value) - known)
    if extra:
        scope = f"in {where}" if where else "at the top level"
        raise DistillError(f"unknown key {extra[0]!r} {scope} (known: {', '.join(sorted(known))})")


def _number(value: Any, where: str, *, integer: bool = False) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        kind = "an integer" if integer else "a number"
        raise DistillError(f"{where} must be {kind}, got {value!r}")
    return value


def _build(cls: type, value: Any, where: str, **nested: Any) -> Any:
    """Build dataclass ``cls`` from mapping ``value``; ``nested`` parses non-scalar fields."""
    value = _mapping(value, where)
    names = {f.name for f in dataclasses.fields(cls)}
    _no_extra(value, names, where)
    kwargs = {}
    for key, raw in value.items():
        sub = f"{where}.{key}" if where else key
        kwargs[key] = nested[key](raw, sub) if key in nested else raw
    obj = cls(**kwargs)
    obj.validate(where)
    return obj


@dataclass
class DataConfig:
    """Which dataset and how it is split (see :func:`distill.data.load_data`)."""

    name: str = "fashion_mnist"
    data_dir: str | None = None
    train_size: int | None = None
    val_size: int = 1000
    test_size: int | None = None
    reference_size: int = 0
    split_seed: int = 0

    def validate(self, where: str) -> None:
        if self.name not in DATASETS:
            raise DistillError(
                f"unknown dataset {self.name!r} in {where}.name (known: {', '.join(DATASETS)})"
            )
        for key in ("train_size", "test_size"):
            v = getattr(self, key)
            if v is not None and _number(v, f"{where}.{key}", integer=True) < 1:
                raise DistillError(f"{where}.{key} must be >= 1 or null, got {v}")
        for key in ("val_size", "reference_size", "split_seed"):
            if _number(getattr(self, key), f"{where}.{key}", integer=True) < 0:
                raise DistillError(f"{where}.{key} must be >= 0, got {getattr(self, key)}")


@dataclass
class TrainConfig:
    """SGD with momentum (or Adam) and a step schedule (lr x ``gamma`` at each milestone epoch)."""

    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: list[int] = field(default_factory=lambda: [60, 80, 120])
    gamma: float = 0.1
    nesterov: bool = False
    optimizer: str = "sgd"

    def validate(self, where: str) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise DistillError(f"{where}.optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        for key in ("epochs", "batch_size"):
            if _number(getattr(self, key), f"{where}.{key}", integer=True) < 1:
                raise DistillError(f"{where}.{key} must be >= 1, got {getattr(self, key)}")
        if not _number(self.lr, f"{where}.lr") > 0:
            raise DistillError(f"{where}.lr must be > 0, got {self.lr}")
        if not 0 <= _number(self.momentum, f"{where}.momentum") < 1:
            raise DistillError(f"{where}.momentum must be in [0, 1), got {self.momentum}")
        if _number(self.weight_decay, f"{where}.weight_decay") < 0:
            raise DistillError(f"{where}.weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 < _number(self.gamma, f"{where}.gamma") <= 1:
            raise DistillError(f"{where}.gamma must be in (0, 1], got {self.gamma}")
        if not isinstance(self.milestones, list) or any(
            not isinstance(m, int) or m < 1 for m in self.milestones
        ):
            raise DistillError(f"{where}.milestones must be a list of epochs >= 1")
        if self.milestones != sorted(self.milestones):
            raise DistillError(f"{where}.milestones must be increasing, got {self.milestones}")


@dataclass
class ModelConfig:
    """A registered model, its options and how it is trained."""

    model: str = "resnet18"
    options: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    label: str | None = None

    def validate(self, where: str) -> None:
        try:
            MODELS.get(self.model)
        except DistillError as exc:
            raise DistillError(f"{exc} in {where}.model") from None
        _mapping(self.options, f"{where}.options")

    @property
    def display(self) -> str:
        """The name shown in tables."""
        return self.label or self.model


def _model(value: Any, where: str) -> ModelConfig:
    return _build(ModelConfig, value, where, train=lambda v, w: _build(TrainConfig, v, w))


@dataclass
class DistillConfig:
    """The distillation loss: a registered loss, temperature, weight; which teacher epoch."""

    loss: str = "kd"
    temperature: float = 20.0
    alpha: float = 0.5
    teacher_epoch: str = "last"

    def validate(self, where: str) -> None:
        try:
            factory = LOSSES.get(self.loss)
        except DistillError as exc:
            raise DistillError(f"{exc} in {where}.loss") from None
        _number(self.temperature, f"{where}.temperature")
        _number(self.alpha, f"{where}.alpha")
        factory(self.temperature, self.alpha)
        if self.teacher_epoch not in ("last", "best"):
            raise DistillError(
                f"{where}.teacher_epoch must be 'last' or 'best', got {self.teacher_epoch!r}"
            )


@dataclass
class ConditionConfig:
    """One row of the table: the teacher's augmentations, or a teacher reused with KD-time aug."""

    augment: list[Any] = field(default_factory=list)
    teacher_from: str | None = None
    distill_augment: list[Any] = field(default_factory=list)
    label: str | None = None

    def validate(self, where: str) -> None:
        for key in ("augment", "distill_augment"):
            value = getattr(self, key)
            if not isinstance(value, list):
                raise DistillError(f"{where}.{key} must be a list of augmentations")
            try:
                build_pipeline(value)
            except DistillError as exc:
                raise DistillError(f"{exc} in {where}.{key}") from None
        if self.teacher_from is not None and self.augment:
            raise DistillError(f"{where}: 'augment' and 'teacher_from' exclude each other")


@dataclass
class ReferenceConfig:
    """The reference distribution of the KL metric (see :mod:`distill.reference`)."""

    kind: str = "ensemble"
    path: str | None = None
    members: int = 3
    member: ModelConfig = field(default_factory=ModelConfig)
    calibrate: bool = True
    seed: int = 1000

    def validate(self, where: str) -> None:
        if self.kind not in ("ensemble", "file", "onehot"):
            raise DistillError(
                f"{where}.kind must be 'ensemble', 'file' or 'onehot', got {self.kind!r}"
            )
        if self.kind == "file" and not self.path:
            raise DistillError(f"{where}.path is required when kind is 'file'")
        if _number(self.members, f"{where}.members", integer=True) < 1:
            raise DistillError(f"{where}.members must be >= 1, got {self.members}")


@dataclass
class Config:
    """A whole experiment."""

    name: str = "experiment"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    threads: int | None = None
    parallel: str = "none"
    workers: int | None = None
    ray_address: str | None = None
    device: str = "cpu"
    data: DataConfig = field(default_factory=DataConfig)
    teacher: ModelConfig = field(default_factory=ModelConfig)
    students: dict[str, ModelConfig] = field(default_factory=dict)
    distill: DistillConfig = field(default_factory=DistillConfig)
    conditions: dict[str, ConditionConfig] = field(default_factory=dict)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    ece_bins: int = 15

    def validate(self, where: str) -> None:
        if not isinstance(self.seeds, list) or not self.seeds:
            raise DistillError("seeds must be a non-empty list of integers")
        for s in self.seeds:
            if _number(s, "seeds", integer=True) < 0:
                raise DistillError(f"seeds must be >= 0, got {s}")
        if len(set(self.seeds)) != len(self.seeds):
            raise DistillError(f"seeds must be distinct, got {self.seeds}")
        if self.threads is not None and _number(self.threads, "threads", integer=True) < 1:
            raise DistillError(f"threads must be >= 1 or null, got {self.threads}")
        if self.parallel not in ("none", "processes", "ray"):
            raise DistillError(
                f"parallel must be 'none', 'processes' or 'ray', got {self.parallel!r}"
            )
        if self.workers is not None and _number(self.workers, "workers", integer=True) < 1:
            raise DistillError(f"workers must be >= 1 or null, got {self.workers}")
        if self.device not in ("cpu", "cuda"):
            raise DistillError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if not self.students:
            raise DistillError("students must name at least one student model")
        if not self.conditions:
            raise DistillError("conditions must name at least one condition")
        for name, cond in self.conditions.items():
            src = cond.teacher_from
            if src is not None and (
                src not in self.conditions or self.conditions[src].teacher_from is not None
            ):
                raise DistillError(
                    f"conditions.{name}.teacher_from must name a condition that trains a "
                    f"teacher, got {src!r}"
                )
        if _number(self.ece_bins, "ece_bins", integer=True) < 1:
            raise DistillError(f"ece_bins must be >= 1, got {self.ece_bins}")
        if self.reference.kind == "ensemble" and self.data.reference_size < 1:
            raise DistillError("data.reference_size must be >= 1 for an ensemble reference")

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-able data."""
        return dataclasses.asdict(self)


def _named(parse: Any) -> Any:
    def parse_all(value: Any, where: str) -> dict[str, Any]:
        return {str(k): parse(v, f"{where}.{k}") for k, v in _mapping(value, where).items()}

    return parse_all


def parse_config(raw: Any, name: str = "experiment") -> Config:
    """Validate raw config data (a mapping) into a :class:`Config`."""
    raw = dict(_mapping(raw, "the config"))
    raw.setdefault("name", name)
    return _build(
        Config,
        raw,
        "",
        data=lambda v, w: _build(DataConfig, v, w),
        teacher=_model,
        students=_named(_model),
        distill=lambda v, w: _build(DistillConfig, v, w),
        conditions=_named(lambda v, w: _build(ConditionConfig, v, w)),
        reference=lambda v, w: _build(ReferenceConfig, v, w, member=_model),
    )


def _read(path: Path) -> Any:
    text = path.read_text()
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DistillError(f"{path}: invalid JSON: {exc.msg} at line {exc.lineno}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise DistillError(f"{path}: invalid YAML{at}") from None


def load_config(source: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Load, override and validate a config file, or a shipped profile by name.

    Parameters
    ----------
    source : str or Path
        A ``.yaml``/``.yml``/``.json`` file, or one of :data:`PROFILES`.
    overrides : dict, optional
        Top-level keys to replace (``seeds``, ``parallel``...) and ``data_dir``, applied before
        validation.
    """
    path = Path(source)
    if not path.exists() and str(source) in PROFILES:
        path = CONFIG_DIR / f"{source}.yaml"
    if not path.is_file():
        raise DistillError(
            f"no config file {str(source)!r} (give a YAML/JSON file or one of: "
            f"{', '.join(PROFILES)})"
        )
    raw = _read(path)
    if not isinstance(raw, dict):
        raise DistillError(f"{path}: a config must be a mapping at the top level")
    raw = dict(raw)
    for key, value in (overrides or {}).items():
        if key == "data_dir":
            raw["data"] = {**_mapping(raw.get("data"), "data"), "data_dir": value}
        else:
            raw[key] = value
    try:
        return parse_config(raw, path.stem)
    except DistillError as exc:
        raise DistillError(f"{path.name}: {exc}") from None


def config_hash(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (dataclasses allowed), for checkpoint keys."""

    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        return obj

    blob = json.dumps([plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]
