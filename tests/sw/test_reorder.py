"""Voxel orders: permutations, curves checked by hand, rulebook rewriting bit-exact."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accss3d.errors import ConfigError, InputError
from accss3d.golden import accumulate_int, random_operands, sparse_conv
from accss3d.l1model import replay
from accss3d.reorder import (
    METHODS,
    bfs_order,
    hilbert_index,
    hilbert_order,
    inverse_permutation,
    morton_index,
    morton_order,
    permute_kernel_map,
    permute_tensor,
    reorder,
    surface_normals,
    surface_order,
)
from accss3d.rulebook import ConvSpec, build_kernel_map
from accss3d.scene import RoomSpec, generate_scene
from accss3d.voxel import SparseTensor, voxelize


@pytest.fixture(scope="module")
def room():
    return voxelize(generate_scene(RoomSpec(seed=1, target_voxels=2500)), 0.05)


def cube(side: int) -> np.ndarray:
    g = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return g


def with_batch(xyz, batch=0) -> np.ndarray:
    xyz = np.asarray(xyz)
    return np.column_stack([np.full(len(xyz), batch), xyz]).astype(np.int32)


def is_permutation(p, n) -> bool:
    return p.dtype == np.int64 and p.shape == (n,) and np.array_equal(np.sort(p), np.arange(n))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_a_deterministic_permutation(room, method):
    p = reorder(room, method)
    assert is_permutation(p, len(room))
    assert reorder(room, method).tobytes() == p.tobytes()


def test_hilbert_2x2x2_by_hand():
    order = cube(2)[np.argsort(hilbert_index(cube(2), 1))]
    expected = [
        [0, 0, 0],
        [0, 0, 1],
        [0, 1, 1],
        [0, 1, 0],
        [1, 1, 0],
        [1, 1, 1],
        [1, 0, 1],
        [1, 0, 0],
    ]
    assert order.tolist() == expected


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_hilbert_steps_between_face_neighbours(bits):
    g = cube(1 << bits)
    h = hilbert_index(g, bits)
    assert np.array_equal(np.sort(h), np.arange(len(g)))  # a bijection onto 0..side^3-1
    walk = g[np.argsort(h)]
    assert np.all(np.abs(np.diff(walk, axis=0)).sum(axis=1) == 1)
    assert walk[0].tolist() == [0, 0, 0]


def test_morton_by_hand():
    # 2x2x2: x, y, z bits interleaved, x most significant = raster order.
    assert np.argsort(morton_index(cube(2), 1)).tolist() == list(range(8))
    # (0,0,2) = 0b000_000_100 comes after (1,1,1) = 0b111.
    assert morton_index([[0, 0, 2], [1, 1, 1], [3, 3, 3]], 2).tolist() == [8, 7, 63]
    with pytest.raises(ConfigError, match=r"^morton_index takes 0\.\.21 bits per axis, not 22$"):
        morton_index([[0, 0, 0]], 22)


def test_curves_keep_batches_apart_and_respect_stride():
    xyz = cube(4)
    coords = np.concatenate([with_batch(xyz, 1), with_batch(xyz, 0)])
    for order in (morton_order(coords), hilbert_order(coords)):
        assert np.all(np.diff(coords[order, 0]) >= 0)
    # A stride-2 level orders like the same lattice at stride 1.
    assert np.array_equal(hilbert_order(with_batch(xyz * 2), 2), hilbert_order(with_batch(xyz)))
    # Wide coordinates (UTM-scale) use two key words per axis and keep the same order.
    far = with_batch(cube(4)).astype(np.int64)
    far[:, 1:] += 2_000_000_000
    big = far.copy()
    big[-1, 1:] = [2_000_000_000 + (1 << 24), 2_000_000_000, 2_000_000_000]
    assert np.array_equal(hilbert_order(far), hilbert_order(with_batch(cube(4))))
    assert is_permutation(hilbert_order(big), len(big))


def test_rulebook_rewriting_matches_rebuild(room):
    spec = ConvSpec("submanifold", 3)
    kmap, _ = build_kernel_map(room.coords, spec)
    for method in METHODS:
        p = reorder(room, method, kmap=kmap)
        moved = permute_kernel_map(kmap, p, p)
        rebuilt, _ = build_kernel_map(room.coords[p], spec)
        assert np.array_equal(moved.table, rebuilt.table)


@pytest.mark.parametrize("method", METHODS)
def test_reordered_convolution_is_bit_exact(room, method):
    # Submanifold layer at stride 1, then a strided layer into a reordered stride-2 level.
    fine = reorder(room, method)
    sub, _ = build_kernel_map(room.coords, ConvSpec("submanifold", 3))
    down, coarse = build_kernel_map(room.coords, ConvSpec("strided", 2, 2))
    coarse_order = reorder(coarse, method, stride=2)
    feats, w, b = random_operands(len(room), 4, 6, 27, dtype="int8", seed=3)
    x = permute_tensor(room.with_feats(feats), fine)
    ref = accumulate_int(feats, sub, w, b)
    out = accumulate_int(x.feats, permute_kernel_map(sub, fine, fine), w, b)
    assert np.array_equal(out[inverse_permutation(fine)], ref)
    w2 = random_operands(1, 4, 6, 8, dtype="int8", seed=4)[1]
    ref2 = accumulate_int(feats, down, w2)
    out2 = accumulate_int(x.feats, permute_kernel_map(down, fine, coarse_order), w2)
    assert np.array_equal(out2, ref2[coarse_order])
    # The float path agrees too (same sums per output, same order within each).
    f32 = feats.astype(np.float32)
    out3 = sparse_conv(f32[fine], permute_kernel_map(sub, fine, fine), w.astype(np.float32))
    assert np.array_equal(
        out3[inverse_permutation(fine)], sparse_conv(f32, sub, w.astype(np.float32))
    )


@pytest.mark.parametrize("method", METHODS)
def test_tiny_and_isolated_inputs(method):
    for coords in (
        np.zeros((0, 4), np.int32),
        with_batch([[5, 5, 5]]),
        with_batch([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10], [7, 7, 7]]),
        np.concatenate([with_batch(cube(2), 0), with_batch(cube(2), 3)]),
        with_batch(np.concatenate([cube(3), cube(3) + [9_000_000, 5, -7_000_000]])),
    ):
        p = reorder(coords, method)
        assert is_permutation(p, len(coords))
        assert np.all(np.diff(coords[p, 0]) >= 0)


def test_permute_tensor_keeps_rows_together(room):
    x = SparseTensor(room.coords, np.arange(len(room))[:, None], labels=np.arange(len(room)))
    p = reorder(x, "hilbert")
    y = permute_tensor(x, p)
    assert np.array_equal(y.coords, room.coords[p]) and np.array_equal(y.feats[:, 0], p)
    assert np.array_equal(y.labels, p)


def test_surface_normals_of_planes():
    grid = cube(6)[cube(6)[:, 2] == 0]  # 6 x 6 cells, z = 0
    for axis in range(3):
        xyz = np.roll(grid, axis + 1, axis=1)  # the plane normal to x, y or z
        kmap, _ = build_kernel_map(with_batch(xyz), ConvSpec("submanifold", 3))
        assert np.allclose(np.abs(surface_normals(kmap)), np.eye(3)[axis])


def test_surface_and_bfs_details(room):
    info = {}
    p = surface_order(room.coords, capacity=1024, info=info)
    assert info["axis"] in "xyz" and info["strip"] >= 4 and is_permutation(p, len(room))
    assert info["height"] is None or info["height"] >= 8
    assert 1.0 <= info["predicted_ratio"] < 2.0
    info = {}
    bfs_order(room.coords, chunk=64, info=info)
    assert info["chunks"] >= len(room) / 64 and info["components"] >= 1


def test_surface_beats_raster_on_a_room(room):
    kmap, _ = build_kernel_map(room.coords, ConvSpec("submanifold", 3))
    ratios = {
        m: replay(
            kmap,
            reorder(room, m, kmap=kmap, capacity=256),
            None,
            16,
            32,
            "tile",
            capacity_bytes=256 * 16,
        ).ratio
        for m in ("raster", "surface")
    }
    assert ratios["surface"] < ratios["raster"]


def test_errors_are_one_line(room):
    with pytest.raises(
        ConfigError,
        match=r"^unknown reordering method 'zigzag' \(choose from raster, morton, hilbert, "
        r"bfs, surface\)$",
    ):
        reorder(room, "zigzag")
    with pytest.raises(InputError, match=r"^reorder needs a SparseTensor or \(N, 4\) integer"):
        reorder(np.zeros((3, 3)), "raster")
    strided, _ = build_kernel_map(room.coords, ConvSpec("strided", 2, 2))
    with pytest.raises(ConfigError, match=r"needs the 3x3x3 submanifold kernel map.*conv2s2"):
        reorder(room, "surface", kmap=strided)
    other, _ = build_kernel_map(room.coords[:10], ConvSpec("submanifold", 3))
    with pytest.raises(InputError, match=r"^the kernel map has 10 voxels but there are \d+"):
        reorder(room, "bfs", kmap=other)
    with pytest.raises(ConfigError, match=r"^capacity \(voxels\) must be a positive integer"):
        reorder(room, "surface", capacity=0)
    with pytest.raises(ConfigError, match=r"^chunk size must be a positive integer"):
        reorder(room, "bfs", chunk=-1)
    with pytest.raises(InputError, match=r"^output permutation is not a permutation"):
        permute_kernel_map(strided, None, np.zeros(strided.n_out, np.int64))


def run_cli(capsys, *argv):
    from accss3d.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json(capsys):
    import json

    code, out, err = run_cli(capsys, "reorder", "room:1:tiny", "--method", "surface", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    for key in ("dram_bytes", "misses", "compulsory_bytes", "ratio", "runs", "reorder_ms", "lru"):
        assert key in data
    assert data["method"] == "surface" and data["ratio"] >= 1.0
    assert data["dram_bytes"] == data["misses"] * 16 and data["capacity_voxels"] == 1024
    code, out, _ = run_cli(
        capsys,
        "reorder",
        "room:1:tiny",
        "--method",
        "all",
        "--stride",
        "2",
        "--no-lru",
        "--config",
        "small",
        "--cin",
        "4",
        "--tile",
        "16",
        "--json",
    )
    data = json.loads(out)
    assert code == 0 and [r["method"] for r in data["results"]] == list(METHODS)
    assert data["capacity_voxels"] == 2048 // 4 and "lru" not in data["results"][0]
    code, out, _ = run_cli(capsys, "reorder", "room:1:tiny", "--method", "all", "--tile", "32")
    assert code == 0 and "hilbert" in out and "LRU ratio" in out


def test_cli_errors_are_one_line(capsys):
    code, out, err = run_cli(capsys, "reorder", "room:1:tiny", "--method", "zigzag")
    assert code == 2 and out == ""
    assert err == (
        "accss3d: error: unknown reordering method 'zigzag' (choose from raster, morton, "
        "hilbert, bfs, surface, all)\n"
    )
    code, _, err = run_cli(capsys, "reorder", "room:1:tiny", "--method", "raster", "--tile", "999")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("accss3d: error: tile ") and "use smaller tiles or a larger IFM" in err
    code, _, err = run_cli(capsys, "reorder", "room:1:tiny", "--ifm-bytes", "8")
    assert code == 2 and "cannot hold one input voxel of Cin=16" in err


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 60),
    kernel=st.sampled_from([("submanifold", 3, 1), ("strided", 2, 2), ("strided", 3, 2)]),
)
def test_any_permutation_keeps_convolution_bit_exact(seed, n, kernel):
    rng = np.random.default_rng(seed)
    cells = rng.choice(6**3, size=n, replace=False)
    coords = with_batch(np.stack(np.unravel_index(cells, (6, 6, 6)), axis=1))
    kmap, out = build_kernel_map(coords, ConvSpec(*kernel))
    p_in = rng.permutation(len(coords))
    p_out = p_in if kernel[0] == "submanifold" else rng.permutation(len(out))
    feats, w, b = random_operands(len(coords), 3, 2, kmap.volume, dtype="int8", seed=seed)
    ref = accumulate_int(feats, kmap, w, b)
    got = accumulate_int(feats[p_in], permute_kernel_map(kmap, p_in, p_out), w, b)
    assert np.array_equal(got, ref[p_out])
