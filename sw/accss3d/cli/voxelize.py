"""Owns ``accss3d voxelize``: quantize a point cloud and report or save the voxels."""

from __future__ import annotations

import numpy as np

from ..scene import load_scene
from ..voxel import DUPLICATE_POLICIES, voxelize
from ._common import add_scene_options, dump_json

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "voxelize",
        help="voxelize a point cloud",
        description="Quantize a point cloud to voxels (raster order, int32).",
    )
    add_scene_options(p)
    p.add_argument(
        "--policy",
        choices=DUPLICATE_POLICIES,
        default="first",
        help="features of several points in one voxel (default first)",
    )
    p.add_argument("-o", "--output", help="write coords/feats/labels to this .npz")
    p.add_argument("--json", action="store_true", help="print figures as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    cloud, v = load_scene(args.scene, args.voxel_size)
    x = voxelize(cloud, v, policy=args.policy)
    info = {
        "points": len(cloud),
        "voxels": len(x),
        "voxel_size": v,
        "channels": x.channels,
        "occupancy": x.occupancy(),
        "points_per_voxel": len(cloud) / len(x),
    }
    if args.output:
        arrays = {"coords": x.coords, "feats": x.feats, "voxel_size": np.float64(v)}
        if x.labels is not None:
            arrays["labels"] = x.labels
        np.savez(args.output, **arrays)
        info["output"] = args.output
    if args.json:
        dump_json(info)
    else:
        print(
            f"{info['points']} points -> {info['voxels']} voxels at {v:g} "
            f"(occupancy {100 * info['occupancy']:.3f}%)"
        )
    return 0
