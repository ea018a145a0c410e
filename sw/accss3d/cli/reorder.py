"""Owns ``accss3d reorder``: order a scene's voxels and measure the IFM traffic of the order."""

from __future__ import annotations

import time

from ..arch import get_config
from ..errors import ConfigError
from ..l1model import BUFFERING, ifm_capacity, replay
from ..reorder import METHODS, permute_kernel_map, reorder
from ..rulebook import ConvSpec, build_kernel_map, downsample_coords
from ..scene import load_scene
from ..voxel import voxelize
from ._common import add_scene_options, dump_json, positive_int

__all__ = ["register", "measure"]

_CHOICES = (*METHODS, "all")


def register(sub) -> None:
    p = sub.add_parser(
        "reorder",
        help="reorder a scene's voxels and measure the IFM (L1) traffic of the order",
        description="Order the voxels of one stride level, rewrite the 3x3x3 submanifold "
        "layer's rulebook accordingly, and replay it through the model of the IFM buffer "
        "(tiles of T outputs; LRU as a reference). Reports DRAM bytes, misses, the ratio to "
        "the compulsory minimum (every input read once), DMA runs and the reorder time.",
    )
    add_scene_options(p)
    p.add_argument(
        "--method",
        default="surface",
        metavar="M",
        help=f"{', '.join(METHODS)}, or all (a comparison table); default surface",
    )
    p.add_argument("--config", default="default", help="architecture config name or .json")
    p.add_argument(
        "--cin", type=positive_int, default=16, metavar="C", help="input channels (default 16)"
    )
    p.add_argument(
        "--tile", type=positive_int, default=64, metavar="T", help="outputs per tile (default 64)"
    )
    p.add_argument(
        "--ifm-bytes",
        type=positive_int,
        default=None,
        metavar="B",
        help="IFM buffer size in bytes (default: the config's IFM, see --buffering)",
    )
    p.add_argument(
        "--buffering",
        choices=BUFFERING,
        default="single",
        help="single: a tile may use all IFM banks; double: half of them (default single)",
    )
    p.add_argument(
        "--stride",
        type=positive_int,
        default=1,
        metavar="S",
        help="stride level to reorder: the voxels downsampled by S (default 1)",
    )
    p.add_argument("--chunk", type=positive_int, default=256, help="bfs: chunk size (voxels)")
    p.add_argument("--no-lru", action="store_true", help="skip the LRU reference (faster)")
    p.add_argument("--json", action="store_true", help="print figures as JSON")
    p.set_defaults(func=run)


def measure(
    coords,
    kmap,
    method: str,
    cfg,
    *,
    cin=16,
    tile=64,
    stride=1,
    chunk=256,
    capacity_bytes=None,
    buffering="single",
    lru=True,
) -> dict:
    """Reorder one level and replay its 3^3 layer: the figures ``accss3d reorder`` prints.

    The layer's rulebook is rewritten for the order (inputs stored in DRAM in the new order,
    outputs computed in it), so DMA runs reflect the reordered layout.  ``reorder_ms`` and
    ``reorder_cpu_ms`` are the wall and CPU time of :func:`accss3d.reorder.reorder` given the
    kernel map (CPU time is the steadier figure on a shared machine).
    """
    capacity, cap_bytes, _, _ = ifm_capacity(
        cfg, cin, buffering=buffering, capacity_bytes=capacity_bytes
    )
    info: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    order = reorder(
        coords,
        method,
        kmap=kmap,
        stride=stride,
        capacity=capacity,
        tile=tile,
        chunk=chunk,
        info=info,
    )
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    kmap = permute_kernel_map(kmap, order, order)
    tiled = replay(kmap, None, cfg, cin, tile, "tile", capacity_bytes=cap_bytes)
    row = {
        "method": method,
        "reorder_ms": 1e3 * seconds,
        "reorder_cpu_ms": 1e3 * cpu,
        "dram_bytes": tiled.dram_bytes,
        "compulsory_bytes": tiled.compulsory_bytes,
        "misses": tiled.misses,
        "compulsory": tiled.compulsory,
        "ratio": tiled.ratio,
        "runs": tiled.runs,
        "voxels_per_run": tiled.voxels_per_run,
        "max_tile_inputs": tiled.max_tile_inputs,
        "details": info,
    }
    if lru:
        ref = replay(kmap, None, cfg, cin, tile, "lru", capacity_bytes=cap_bytes)
        row["lru"] = {
            "dram_bytes": ref.dram_bytes,
            "misses": ref.misses,
            "ratio": ref.ratio,
            "runs": ref.runs,
        }
    return row


def run(args) -> int:
    if args.method not in _CHOICES:
        raise ConfigError(
            f"unknown reordering method {args.method!r} (choose from {', '.join(_CHOICES)})"
        )
    cfg = get_config(args.config)
    capacity, cap_bytes, slot, _ = ifm_capacity(
        cfg, args.cin, buffering=args.buffering, capacity_bytes=args.ifm_bytes
    )
    cloud, v = load_scene(args.scene, args.voxel_size)
    coords = voxelize(cloud, v).coords
    if args.stride > 1:
        coords = downsample_coords(coords, args.stride)
    kmap, _ = build_kernel_map(coords, ConvSpec("submanifold", 3), in_stride=args.stride)
    methods = METHODS if args.method == "all" else (args.method,)
    rows = [
        measure(
            coords,
            kmap,
            m,
            cfg,
            cin=args.cin,
            tile=args.tile,
            stride=args.stride,
            chunk=args.chunk,
            capacity_bytes=cap_bytes,
            lru=not args.no_lru,
        )
        for m in methods
    ]
    header = {
        "scene": args.scene,
        "voxel_size": v,
        "stride": args.stride,
        "voxels": len(coords),
        "pairs": kmap.n_pairs,
        "config": cfg.name,
        "cin": args.cin,
        "tile": args.tile,
        "capacity_voxels": capacity,
        "capacity_bytes": cap_bytes,
        "slot_bytes": slot,
    }
    if args.json:
        dump_json({**header, **rows[0]} if len(rows) == 1 else {**header, "results": rows})
    elif len(rows) == 1:
        r = rows[0]
        print(
            f"{r['method']} order of {header['voxels']} voxels ({args.scene} at {v:g}, stride "
            f"{args.stride}) in {r['reorder_ms']:.0f} ms: {r['dram_bytes']} B from DRAM, "
            f"{r['ratio']:.3f}x the compulsory {r['compulsory_bytes']} B, {r['runs']} DMA runs "
            f"(IFM {cap_bytes} B = {capacity} voxels of Cin={args.cin}, tiles of {args.tile})"
        )
    else:
        _print_table(header, rows)
    return 0


def _print_table(header: dict, rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{header['scene']} at {header['voxel_size']:g} (stride {header['stride']}): "
        f"{header['voxels']} voxels; IFM {header['capacity_bytes']} B = "
        f"{header['capacity_voxels']} voxels of Cin={header['cin']}, tiles of {header['tile']}"
    )
    for name in ("method", "ms", "DRAM B", "ratio", "runs", "vox/run"):
        table.add_column(name, justify="left" if name == "method" else "right")
    if "lru" in rows[0]:
        table.add_column("LRU ratio", justify="right")
    table.caption = "ratio: DRAM bytes / compulsory bytes; runs: DMA requests; ms: reorder time"
    for r in rows:
        cells = [
            r["method"],
            f"{r['reorder_ms']:.0f}",
            f"{r['dram_bytes']}",
            f"{r['ratio']:.3f}",
            f"{r['runs']}",
            f"{r['voxels_per_run']:.1f}",
        ]
        if "lru" in r:
            cells.append(f"{r['lru']['ratio']:.3f}")
        table.add_row(*cells)
    Console().print(table)
