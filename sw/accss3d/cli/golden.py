"""Owns ``accss3d golden``: run the golden sparse convolution and save every operand."""

from __future__ import annotations

import os

import numpy as np

from ..errors import ConfigError
from ..golden import accumulate_int, calibrate_requant, random_operands, sparse_conv
from ..scene import load_scene
from ..voxel import voxelize
from ._common import add_scene_options, dump_json
from .rulebook import add_layer_options, layer_maps, spec_from_args

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "golden",
        help="run the golden sparse convolution and save its operands (.npz)",
        description="Run one sparse convolution of the golden model on a scene and write "
        "in_coords, out_coords, in_feats, weights, offsets, out_feats (and bias, requant) to an "
        ".npz so that another engine can re-check it. Weights are (K, Cin, Cout), indexed "
        "like offsets.",
    )
    add_scene_options(p)
    add_layer_options(p)
    p.add_argument("--cin", type=int, required=True, metavar="C", help="input channels")
    p.add_argument("--cout", type=int, required=True, metavar="D", help="output channels")
    p.add_argument("--dtype", choices=("float32", "int8"), default="float32")
    p.add_argument("--relu", action="store_true", help="apply ReLU (int8 path)")
    p.add_argument("--seed", type=int, default=0, help="operand seed (default 0)")
    p.add_argument("-o", "--output", required=True, help="output .npz file")
    p.add_argument("--json", action="store_true", help="print figures as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    for name in ("cin", "cout"):
        if getattr(args, name) <= 0:
            raise ConfigError(
                f"--{name} must be a positive channel count, not {getattr(args, name)}"
            )
    if args.seed < 0:
        raise ConfigError(f"--seed must be non-negative, not {args.seed}")
    if not args.output.endswith(".npz"):
        raise ConfigError(f"--output must be a .npz file, not {args.output}")
    spec = spec_from_args(args)
    cloud, v = load_scene(args.scene, args.voxel_size)
    x = voxelize(cloud, v)
    kmap, in_coords, in_stride, out_coords = layer_maps(x.coords, spec)
    feats, weights, bias = random_operands(
        len(in_coords), args.cin, args.cout, kmap.volume, dtype=args.dtype, seed=args.seed
    )
    arrays = {
        "in_coords": in_coords,
        "out_coords": out_coords,
        "in_feats": feats,
        "weights": weights,
        "bias": bias,
        "offsets": kmap.offsets,
        "in_stride": np.int32(in_stride),
        "out_stride": np.int32(kmap.out_stride),
        "kind": np.array(spec.kind),
        "kernel_size": np.int32(spec.kernel_size),
        "stride": np.int32(spec.stride),
        "dilation": np.int32(spec.dilation),
    }
    if args.dtype == "float32":
        out = sparse_conv(feats, kmap, weights, bias)
    else:
        acc = accumulate_int(feats, kmap, weights, bias)
        rq = calibrate_requant(acc, relu=args.relu)
        out = rq.apply(acc).astype(np.int8)
        arrays.update(
            acc=acc.astype(np.int32),
            requant_multiplier=np.int64(rq.multiplier),
            requant_shift=np.int32(rq.shift),
            relu=np.bool_(rq.relu),
        )
    arrays["out_feats"] = out
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    np.savez(args.output, **arrays)
    info = {
        "layer": spec.describe(),
        "dtype": args.dtype,
        "inputs": len(in_coords),
        "outputs": len(out_coords),
        "pairs": kmap.n_pairs,
        "cin": args.cin,
        "cout": args.cout,
        "output": args.output,
    }
    if args.json:
        dump_json(info)
    else:
        print(
            f"{spec.describe()} {args.dtype} {args.cin}->{args.cout}: {info['inputs']} -> "
            f"{info['outputs']} voxels, {info['pairs']} pairs -> {args.output}"
        )
    return 0
