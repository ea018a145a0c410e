"""accss3d.scene: determinism, size, and the surface sparsity of a real scan."""

import numpy as np
import pytest

from accss3d.errors import ConfigError, InputError
from accss3d.rulebook import ConvSpec, build_kernel_map
from accss3d.scene import LABELS, RoomSpec, generate_scene, load_scene, parse_scene_name
from accss3d.voxel import voxelize


def test_same_seed_same_bytes():
    a = generate_scene(RoomSpec(seed=4, target_voxels=3000))
    b = generate_scene(RoomSpec(seed=4, target_voxels=3000))
    assert a.points.tobytes() == b.points.tobytes() and a.colors.tobytes() == b.colors.tobytes()
    c = generate_scene(RoomSpec(seed=5, target_voxels=3000))
    assert len(c) != len(a) or c.points.tobytes() != a.points.tobytes()


@pytest.mark.parametrize(
    "target, voxel", [(3000, 0.05), (20000, 0.05), (20000, 0.02), (60000, 0.03)]
)
def test_size_and_surface_sparsity(target, voxel):
    cloud = generate_scene(RoomSpec(seed=1, target_voxels=target, voxel_size=voxel))
    x = voxelize(cloud, voxel)
    assert 0.75 * target <= len(x) <= 1.3 * target
    kmap, _ = build_kernel_map(x.coords, ConvSpec("submanifold", 3))
    neighbours = kmap.arf - 1.0  # active neighbours besides the voxel itself
    assert 4.0 <= neighbours <= 11.0, neighbours
    assert x.occupancy() < 0.15  # a surface, not a volume
    # Surfaces: most voxels have a near-planar neighbourhood (not isolated, not full).
    per_voxel = (kmap.table >= 0).sum(0)
    assert np.median(per_voxel) <= 12 and (per_voxel == 27).mean() < 0.01


def test_labels_and_normals():
    cloud = generate_scene(RoomSpec(seed=2, target_voxels=20000))
    labels = set(np.unique(cloud.labels).tolist())
    assert {1, 2} <= labels <= set(LABELS)
    assert len(labels) >= 4  # walls, floor and some furniture
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, atol=1e-5)
    floor = cloud.labels == 2
    assert np.abs(cloud.normals[floor, 2]).min() > 0.99


def test_not_uniform_random():
    # Uniform random points at the same voxel count would have ARF near 1.
    cloud = generate_scene(RoomSpec(seed=0, target_voxels=5000))
    x = voxelize(cloud, 0.05)
    rng = np.random.default_rng(0)
    lo, hi = x.coords[:, 1:].min(0), x.coords[:, 1:].max(0)
    rand = np.unique(
        np.concatenate([np.zeros((len(x), 1), int), rng.integers(lo, hi + 1, (len(x), 3))], 1),
        axis=0,
    )
    a = build_kernel_map(x.coords, ConvSpec("submanifold", 3))[0].arf
    b = build_kernel_map(rand.astype(np.int32), ConvSpec("submanifold", 3))[0].arf
    assert a > 3 * b


def test_names_and_errors():
    assert parse_scene_name("room") == (0, 20000)
    assert parse_scene_name("room:7:tiny") == (7, 3000)
    assert parse_scene_name("room:2:45k") == (2, 45000)
    assert parse_scene_name("scan.ply") is None
    with pytest.raises(InputError, match=r"bad scene name 'room:1:2:3'"):
        parse_scene_name("room:1:2:3")
    with pytest.raises(InputError, match=r"unknown scene size 'x'"):
        parse_scene_name("room:x")
    with pytest.raises(ConfigError, match=r"scene size must be between 100 and 20000000"):
        RoomSpec(target_voxels=10)
    with pytest.raises(ConfigError, match=r"--voxel-size is required for the point cloud file"):
        load_scene("scan.ply")
    with pytest.raises(ConfigError, match=r"voxel size must be a positive finite number"):
        load_scene("room", -1.0)
