"""Owns ``accss3d scene``: generate a synthetic indoor scene and write or describe it."""

from __future__ import annotations

import os

from ..errors import ConfigError
from ..pointcloud import save_ply
from ..scene import DEFAULT_VOXEL_SIZE, SIZES, RoomSpec, generate_scene
from ..voxel import voxelize
from ._common import dump_json, positive_float

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "scene",
        help="generate a synthetic indoor scene (PLY)",
        description="Generate a furnished floor plan sampled as noisy surfaces.",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--size",
        default="small",
        help=f"target voxel count: {', '.join(f'{k} ({v})' for k, v in SIZES.items())}"
        " or a number (default small)",
    )
    p.add_argument(
        "--voxel-size",
        type=positive_float,
        default=DEFAULT_VOXEL_SIZE,
        help="voxel edge the scene is sampled for, metres (default 0.05)",
    )
    p.add_argument(
        "--noise",
        type=float,
        default=RoomSpec.noise,
        help="surface noise standard deviation, metres (default 0.002)",
    )
    p.add_argument("-o", "--output", help="write the point cloud to this .ply file")
    p.add_argument("--ascii", action="store_true", help="write an ASCII PLY")
    p.add_argument("--json", action="store_true", help="print figures as JSON")
    p.set_defaults(func=run)


def _target(size: str) -> int:
    if size in SIZES:
        return SIZES[size]
    text = size.lower()
    try:
        return int(text[:-1]) * 1000 if text.endswith("k") else int(text)
    except ValueError:
        raise ConfigError(
            f"unknown scene size {size!r} (choose from {', '.join(SIZES)} or a voxel count)"
        ) from None


def run(args) -> int:
    if args.seed < 0:
        raise ConfigError(f"--seed must be non-negative, not {args.seed}")
    spec = RoomSpec(
        seed=args.seed,
        target_voxels=_target(args.size),
        voxel_size=args.voxel_size,
        noise=args.noise,
    )
    cloud = generate_scene(spec)
    vox = voxelize(cloud, spec.voxel_size)
    lo, hi = cloud.points.min(axis=0), cloud.points.max(axis=0)
    info = {
        "seed": spec.seed,
        "points": len(cloud),
        "voxel_size": spec.voxel_size,
        "voxels": len(vox),
        "extent_m": (hi - lo).round(3).tolist(),
        "occupancy": vox.occupancy(),
    }
    if args.output:
        if not args.output.lower().endswith(".ply"):
            raise ConfigError(f"--output must be a .ply file, not {args.output}")
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        save_ply(cloud, args.output, binary=not args.ascii)
        info["output"] = args.output
    if args.json:
        dump_json(info)
    else:
        print(
            f"scene seed {spec.seed}: {info['points']} points, {info['voxels']} voxels at "
            f"{spec.voxel_size:g} m, extent {' x '.join(f'{e:.2f}' for e in info['extent_m'])} m"
            + (f" -> {args.output}" if args.output else "")
        )
    return 0
