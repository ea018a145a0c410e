"""Reproduce the per-layer table of docs/network.md: python docs/scripts/network_table.py"""

from accss3d.network import CoordinateManager, get_network
from accss3d.scene import load_scene
from accss3d.voxel import voxelize

cloud, v = load_scene("room:0:small", 0.05)
x = voxelize(cloud, v)
plans = CoordinateManager(x.coords).plan(get_network("minkunet18"))
print(f"room:0:small at {v:g} m: {len(x)} voxels, {len({id(p.kmap) for p in plans})} kernel maps")
print()
print("| layer | conv | Cin | Cout | stride | voxels | outputs | pairs | ARF | MMACs |")
print("|---|---|---|---|---|---|---|---|---|---|")
for p in plans:
    r = p.row()
    print(
        f"| {r['layer']} | {r['conv']} | {r['cin']} | {r['cout']} | "
        f"{r['in_stride']}->{r['out_stride']} | {r['voxels']} | {r['outputs']} | {r['pairs']} | "
        f"{r['arf']:.2f} | {r['macs'] / 1e6:.1f} |"
    )
print(
    f"| total | | | | | | | {sum(p.kmap.n_pairs for p in plans)} | | "
    f"{sum(p.macs for p in plans) / 1e6:.1f} |"
)
