"""Reproduce the sparsity table of docs/scenes.md: python docs/scripts/scene_table.py"""

from accss3d.rulebook import ConvSpec, build_kernel_map
from accss3d.scene import SIZES, RoomSpec, generate_scene
from accss3d.voxel import voxelize

print(
    "| scene | voxel size | points | voxels | active neighbours (3^3, excl. self) | ARF "
    "| occupancy (tight box) |"
)
print("|---|---|---|---|---|---|---|")
for size in ["tiny", "small", "medium", "large"]:
    for v in (0.02, 0.05):
        cloud = generate_scene(RoomSpec(seed=0, target_voxels=SIZES[size], voxel_size=v))
        x = voxelize(cloud, v)
        km, _ = build_kernel_map(x.coords, ConvSpec("submanifold", 3))
        print(
            f"| room:0:{size} | {v:g} m | {len(cloud)} | {len(x)} | {km.arf - 1:.2f} "
            f"| {km.arf:.2f} | {100 * x.occupancy():.2f}% |"
        )
