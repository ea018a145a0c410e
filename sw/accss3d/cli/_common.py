"""Owns the helpers shared by the subcommands: JSON printing and common options."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

__all__ = ["dump_json", "to_jsonable", "add_scene_options", "positive_float", "positive_int"]


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into plain JSON types (recursively)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def dump_json(obj: Any, stream=None) -> None:
    """Print ``obj`` as deterministic JSON (sorted keys, two-space indent)."""
    stream = stream or sys.stdout
    json.dump(to_jsonable(obj), stream, indent=2, sort_keys=True)
    stream.write("\n")


def _number(kind, cast, check, what):
    def parse(text: str):
        import argparse

        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


positive_float = _number("a number", float, lambda v: v > 0 and np.isfinite(v), "> 0")
positive_int = _number("an integer", int, lambda v: v > 0, "a positive integer")


def add_scene_options(parser) -> None:
    """Add the SCENE argument and the voxelization options shared by many subcommands."""
    parser.add_argument(
        "scene",
        metavar="SCENE",
        help="point cloud file (.ply, .xyz, .txt, .npy, .npz) or a generated scene "
        "'room:SEED[:SIZE]' (SIZE: tiny, small, medium, large, huge or a voxel count)",
    )
    parser.add_argument(
        "--voxel-size",
        type=positive_float,
        default=None,
        metavar="V",
        help="voxel edge in the scene's units (default: 0.05 for generated rooms; "
        "required for files)",
    )
