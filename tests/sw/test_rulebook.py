"""accss3d.rulebook + coords: kernel maps against a brute-force neighbour search."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accss3d.coords import BrickIndex, neighbour_table
from accss3d.errors import ConfigError, InputError
from accss3d.rulebook import ConvSpec, build_kernel_map, downsample_coords, kernel_offsets


def brute_table(in_coords, out_coords, offsets, sign=1):
    """table[k, o] by a Python dict: the independent definition."""
    index = {tuple(c): i for i, c in enumerate(np.asarray(in_coords).tolist())}
    out = np.full((len(offsets), len(out_coords)), -1, np.int32)
    for o, (b, x, y, z) in enumerate(np.asarray(out_coords).tolist()):
        for k, (dx, dy, dz) in enumerate(np.asarray(offsets).tolist()):
            out[k, o] = index.get((b, x + sign * dx, y + sign * dy, z + sign * dz), -1)
    return out


coords_strategy = st.lists(
    st.tuples(st.integers(0, 2), st.integers(-12, 12), st.integers(-12, 12), st.integers(-12, 12)),
    min_size=1,
    max_size=150,
    unique=True,
).map(lambda rows: np.array(rows, dtype=np.int32))

spec_strategy = st.sampled_from(
    [
        ConvSpec("submanifold", 3),
        ConvSpec("submanifold", 5),
        ConvSpec("submanifold", 3, dilation=2),
        ConvSpec("submanifold", 1),
        ConvSpec("strided", 2, 2),
        ConvSpec("strided", 3, 2),
        ConvSpec("strided", 2, 4),
        ConvSpec("strided", 3, 3),
    ]
)


@given(coords=coords_strategy, spec=spec_strategy)
def test_kernel_map_matches_brute_force(coords, spec):
    kmap, out = build_kernel_map(coords, spec)
    np.testing.assert_array_equal(kmap.table, brute_table(coords, out, kmap.offsets))
    if spec.kind == "strided":
        expect = np.unique(
            np.concatenate([coords[:, :1], (coords[:, 1:] // spec.stride) * spec.stride], 1), axis=0
        )
        np.testing.assert_array_equal(out, expect)
        back, fine = build_kernel_map(
            out, ConvSpec("transposed", spec.kernel_size, spec.stride), spec.stride, coords
        )
        np.testing.assert_array_equal(back.table, brute_table(out, coords, back.offsets, -1))
        # The transposed map is the transpose of the strided one (same weight index k).
        k_t, o_t = np.nonzero(back.table >= 0)
        k_s, o_s = np.nonzero(kmap.table >= 0)
        transposed = set(
            zip(k_t.tolist(), o_t.tolist(), back.table[k_t, o_t].tolist(), strict=True)
        )
        strided = set(zip(k_s.tolist(), kmap.table[k_s, o_s].tolist(), o_s.tolist(), strict=True))
        assert transposed == strided


@given(coords=coords_strategy)
def test_second_level_submanifold(coords):
    coarse = downsample_coords(coords, 2)
    kmap, _ = build_kernel_map(coarse, ConvSpec("submanifold", 3), in_stride=2)
    np.testing.assert_array_equal(kmap.table, brute_table(coarse, coarse, kmap.offsets))
    assert (kmap.offsets % 2 == 0).all()


def test_offsets_order_and_even_kernels():
    off = kernel_offsets(3)
    assert off[0].tolist() == [-1, -1, -1] and off[1].tolist() == [-1, -1, 0]
    assert off[13].tolist() == [0, 0, 0] and off[26].tolist() == [1, 1, 1]
    assert kernel_offsets(2).tolist()[:2] == [[0, 0, 0], [0, 0, 1]]
    assert sorted(set(kernel_offsets(4)[:, 0].tolist())) == [-1, 0, 1, 2]
    assert sorted(set(kernel_offsets(3, 2)[:, 2].tolist())) == [-2, 0, 2]


def test_forms_agree(tiny_room):
    kmap, _ = build_kernel_map(tiny_room.coords, ConvSpec("submanifold", 3))
    ptr, inp, out = kmap.all_pairs()
    assert ptr[-1] == kmap.n_pairs == len(inp)
    np.testing.assert_array_equal(np.diff(ptr), kmap.pair_counts())
    optr, koff, inp2 = kmap.lines()
    assert optr[-1] == kmap.n_pairs
    o = 17
    ks = koff[optr[o] : optr[o + 1]]
    np.testing.assert_array_equal(inp2[optr[o] : optr[o + 1]], kmap.table[ks, o])
    assert (kmap.neighbours()[:, 13] == np.arange(kmap.n_out)).all()
    assert kmap.arf == pytest.approx(kmap.n_pairs / kmap.n_out)
    stats = kmap.stats()
    assert stats["pairs"] == sum(stats["pairs_per_offset"])


def test_hash_path_for_huge_extent():
    # Coordinates 2^22 apart: the dense brick grid would be too large -> sorted brick keys.
    rng = np.random.default_rng(0)
    base = rng.integers(-5, 5, (300, 3))
    far = base + np.array([1 << 22, -(1 << 21), 7])
    pts = np.unique(np.concatenate([base, far]), axis=0)
    index = BrickIndex(pts, 1)
    assert not index.dense
    off = kernel_offsets(3)
    got = neighbour_table(pts, None, off)
    coords = np.concatenate([np.zeros((len(pts), 1), int), pts], 1)
    np.testing.assert_array_equal(got, brute_table(coords, coords, off))


def test_duplicate_coordinates_rejected():
    c = np.array([[0, 1, 2, 3], [0, 1, 2, 3]], np.int32)
    with pytest.raises(InputError, match=r"coordinates contain duplicates"):
        build_kernel_map(c, ConvSpec("submanifold", 3))


@pytest.mark.parametrize(
    "args, message",
    [
        (("submanifold", 2), r"kernel size 2 is even: a stride-1 \(submanifold\) convolution"),
        (("submanifold", 3, 2), r"submanifold convolution has stride 1, not 2"),
        (("strided", 3, 1), r"a strided convolution needs stride >= 2, not 1"),
        (("pooling", 3), r"unknown convolution kind 'pooling'"),
        (("strided", 0, 2), r"kernel size must be an integer >= 1, not 0"),
        (("submanifold", 3, 1, 0), r"dilation must be an integer >= 1, not 0"),
    ],
)
def test_spec_errors(args, message):
    with pytest.raises(ConfigError, match=message):
        ConvSpec(*args)


def test_transposed_needs_targets_and_stride():
    c = np.zeros((1, 4), np.int32)
    with pytest.raises(ConfigError, match=r"needs the output coordinates"):
        build_kernel_map(c, ConvSpec("transposed", 2, 2), in_stride=2)
    with pytest.raises(ConfigError, match=r"input tensor stride divisible by 2, not 1"):
        build_kernel_map(c, ConvSpec("transposed", 2, 2), in_stride=1, out_coords=c)
    with pytest.raises(InputError, match=r"not multiples of their tensor stride 2"):
        build_kernel_map(np.array([[0, 1, 0, 0]]), ConvSpec("submanifold", 3), in_stride=2)


def test_single_and_isolated_voxels():
    one = np.array([[0, 5, 5, 5]], np.int32)
    kmap, _ = build_kernel_map(one, ConvSpec("submanifold", 3))
    assert kmap.n_pairs == 1 and kmap.arf == 1.0
    iso = np.array([[0, 0, 0, 0], [0, 10, 0, 0], [0, 0, 10, 0]], np.int32)
    assert build_kernel_map(iso, ConvSpec("submanifold", 5))[0].arf == 1.0
