"""Owns ``accss3d rulebook``: build a kernel map for a scene and print its statistics."""

from __future__ import annotations

from ..rulebook import ConvSpec, build_kernel_map
from ..scene import load_scene
from ..voxel import voxelize
from ._common import add_scene_options, dump_json, positive_int

__all__ = ["register", "add_layer_options", "spec_from_args", "layer_maps"]


def add_layer_options(p) -> None:
    """``--kernel/--stride/--dilation/--transposed`` (shared with ``golden``)."""
    p.add_argument(
        "--kernel", type=positive_int, default=3, metavar="K", help="kernel size (default 3)"
    )
    p.add_argument(
        "--stride",
        type=positive_int,
        default=1,
        metavar="S",
        help="stride (default 1: submanifold)",
    )
    p.add_argument(
        "--dilation", type=positive_int, default=1, metavar="D", help="dilation (default 1)"
    )
    p.add_argument(
        "--transposed",
        action="store_true",
        help="transposed convolution restoring the stride-S level's input",
    )


def spec_from_args(args) -> ConvSpec:
    """The :class:`ConvSpec` the options describe."""
    if args.transposed:
        kind = "transposed"
    else:
        kind = "submanifold" if args.stride == 1 else "strided"
    return ConvSpec(kind, args.kernel, args.stride, args.dilation)


def layer_maps(coords, spec: ConvSpec):
    """``(kernel map, in_coords, in_stride, out_coords)`` of a layer on a scene's voxels.

    A transposed layer maps the stride-``S`` level (made by the strided convolution of the
    same kernel) back onto the voxels.
    """
    if spec.kind != "transposed":
        kmap, out = build_kernel_map(coords, spec)
        return kmap, coords, 1, out
    down = ConvSpec("strided", spec.kernel_size, spec.stride, spec.dilation)
    _, coarse = build_kernel_map(coords, down)
    kmap, out = build_kernel_map(coarse, spec, in_stride=spec.stride, out_coords=coords)
    return kmap, coarse, spec.stride, out


def register(sub) -> None:
    p = sub.add_parser(
        "rulebook",
        help="build a kernel map (rulebook) and print statistics",
        description="Build the kernel map of one sparse convolution on a scene.",
    )
    add_scene_options(p)
    add_layer_options(p)
    p.add_argument("--json", action="store_true", help="print figures as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    spec = spec_from_args(args)
    cloud, v = load_scene(args.scene, args.voxel_size)
    x = voxelize(cloud, v)
    kmap, in_coords, in_stride, _ = layer_maps(x.coords, spec)
    stats = kmap.stats()
    stats.update(
        {
            "scene": args.scene,
            "voxel_size": v,
            "scene_voxels": len(x),
            "occupancy": x.occupancy(),
            "active_neighbours": kmap.arf - 1.0 if spec.kind == "submanifold" else None,
        }
    )
    if args.json:
        dump_json(stats)
    else:
        print(
            f"{spec.describe()} on {args.scene} at {v:g}: {stats['voxels']} inputs -> "
            f"{stats['outputs']} outputs, {stats['pairs']} pairs, ARF {stats['arf']:.2f}, "
            f"built in {stats['build_ms']:.1f} ms"
        )
    return 0
