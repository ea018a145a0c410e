"""Reproduce the tables of docs/reordering.md: python docs/scripts/reorder_table.py

Every reordering method on three generated rooms (seed 0, 5 cm voxels) and two IFM sizes
(the default config's 16 KB and 64 KB), Cin = 16, tiles of 64 outputs; the layer is the
3x3x3 submanifold convolution of the level, its rulebook rewritten for each order.
Options: ``--scenes room:0:small,...``, ``--voxel-size``, ``--ifm-kb 16,64``, ``--tile``,
``--cin``, ``--repeat`` (reorder CPU time: best of N runs).
"""

import argparse
import time

from accss3d.arch import ArchConfig
from accss3d.cli.reorder import measure
from accss3d.l1model import ifm_capacity
from accss3d.reorder import METHODS, reorder
from accss3d.rulebook import ConvSpec, build_kernel_map
from accss3d.scene import scene_from_name
from accss3d.voxel import voxelize


def cpu_ms(coords, kmap, method: str, capacity: int, tile: int) -> float:
    """CPU time of one reorder call (steadier than wall time on a shared machine)."""
    t0 = time.process_time()
    reorder(coords, method, kmap=kmap, capacity=capacity, tile=tile)
    return 1e3 * (time.process_time() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="room:0:small,room:0:medium,room:0:large")
    p.add_argument("--voxel-size", type=float, default=0.05)
    p.add_argument("--ifm-kb", default="16,64")
    p.add_argument("--tile", type=int, default=64)
    p.add_argument("--cin", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    sizes = [int(kb) for kb in args.ifm_kb.split(",")]
    # The default config (16 KB = 2 x 8 KB banks); other sizes change the bank size only.
    configs = [ArchConfig().replace(ifm_bank_bytes=kb * 1024 // 2) for kb in sizes]
    print(
        "| scene | voxels | method |"
        + "".join(f" {kb} KB ratio | LRU | vox/run | CPU ms |" for kb in sizes)
    )
    print("|" + "---|" * (3 + 4 * len(sizes)))
    for name in args.scenes.split(","):
        coords = voxelize(scene_from_name(name, args.voxel_size), args.voxel_size).coords
        kmap, _ = build_kernel_map(coords, ConvSpec("submanifold", 3))
        rows = {m: [] for m in METHODS}
        for cfg in configs:
            capacity = ifm_capacity(cfg, args.cin)[0]
            for m in METHODS:
                r = measure(coords, kmap, m, cfg, cin=args.cin, tile=args.tile)
                r["cpu_ms"] = min(
                    [r["reorder_cpu_ms"]]
                    + [cpu_ms(coords, kmap, m, capacity, args.tile) for _ in range(args.repeat - 1)]
                )
                rows[m].append(r)
        best = [min(rows[m][i]["ratio"] for m in METHODS) for i in range(len(configs))]
        for m in METHODS:
            cells = ""
            for r, low in zip(rows[m], best, strict=True):
                mark = "**" if r["ratio"] == low else ""
                cells += (
                    f" {mark}{r['ratio']:.3f}{mark} | {r['lru']['ratio']:.3f} "
                    f"| {r['voxels_per_run']:.1f} | {r['cpu_ms']:.0f} |"
                )
            print(f"| {name} | {len(coords)} | {m} |{cells}", flush=True)


if __name__ == "__main__":
    main()
