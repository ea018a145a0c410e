"""accss3d.golden against independent references: dense PyTorch conv and spconv."""

import numpy as np
import pytest

from accss3d.errors import ConfigError, InputError
from accss3d.golden import (
    accumulate_int,
    calibrate_requant,
    random_operands,
    sparse_conv,
    sparse_conv_int,
)
from accss3d.reference import dense_conv_reference
from accss3d.rulebook import ConvSpec, build_kernel_map

torch = pytest.importorskip("torch")

CASES = [
    ConvSpec("submanifold", 3),
    ConvSpec("submanifold", 5),
    ConvSpec("submanifold", 1),
    ConvSpec("submanifold", 3, dilation=2),
    ConvSpec("strided", 2, 2),
    ConvSpec("strided", 3, 2),
    ConvSpec("strided", 3, 2, dilation=2),
    ConvSpec("strided", 4, 2),
]


def layer(coords, spec):
    """(kmap, in_coords, in_stride, out_coords); transposed layers restore ``coords``."""
    if spec.kind != "transposed":
        kmap, out = build_kernel_map(coords, spec)
        return kmap, coords, 1, out
    down = ConvSpec("strided", spec.kernel_size, spec.stride, spec.dilation)
    coarse = build_kernel_map(coords, down)[1]
    kmap, out = build_kernel_map(coarse, spec, spec.stride, coords)
    return kmap, coarse, spec.stride, out


ALL = CASES + [
    ConvSpec("transposed", 2, 2),
    ConvSpec("transposed", 3, 2),
    ConvSpec("transposed", 3, 2, dilation=2),
]


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.describe())
@pytest.mark.parametrize("cin, cout", [(1, 1), (3, 5), (16, 7)])
def test_float_matches_dense_torch(two_batch_coords, spec, cin, cout):
    kmap, in_c, in_s, out_c = layer(two_batch_coords, spec)
    f, w, b = random_operands(len(in_c), cin, cout, kmap.volume, seed=cin * 7 + cout)
    got = sparse_conv(f, kmap, w, b)
    ref = dense_conv_reference(in_c, f, w, spec, out_c, in_stride=in_s, bias=b)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.describe())
def test_int_accumulators_exact_vs_dense_torch(two_batch_coords, spec):
    kmap, in_c, in_s, out_c = layer(two_batch_coords, spec)
    f, w, b = random_operands(len(in_c), 9, 4, kmap.volume, dtype="int8", seed=1)
    acc = accumulate_int(f, kmap, w, b)
    ref = dense_conv_reference(in_c, f, w, spec, out_c, in_stride=in_s, bias=b)
    np.testing.assert_array_equal(acc, ref.astype(np.int64))  # float64 is exact here
    rq = calibrate_requant(acc, relu=True)
    out = sparse_conv_int(f, kmap, w, b, rq)
    assert out.dtype == np.int8 and out.min() >= 0
    np.testing.assert_array_equal(out, rq.apply(ref.astype(np.int64)))


def test_accumulator_wraps_like_hardware(tiny_room):
    kmap, _ = build_kernel_map(tiny_room.coords, ConvSpec("submanifold", 3))
    f = np.full((kmap.n_in, 64), -128, np.int8)
    w = np.full((27, 64, 1), -128, np.int8)
    exact = kmap.neighbours().__ge__(0).sum(1) * 64 * 16384
    acc = accumulate_int(f, kmap, w, acc_bits=20)
    expect = ((exact + (1 << 19)) % (1 << 20)) - (1 << 19)
    np.testing.assert_array_equal(acc[:, 0], expect)


def test_operand_errors(tiny_room):
    kmap, _ = build_kernel_map(tiny_room.coords, ConvSpec("submanifold", 3))
    f, w, b = random_operands(kmap.n_in, 4, 4, 27)
    with pytest.raises(InputError, match=r"weights have 8 kernel planes but the kernel map has 27"):
        sparse_conv(f, kmap, w[:8])
    with pytest.raises(InputError, match=r"features have 4 channels but weights expect 3"):
        sparse_conv(f, kmap, w[:, :3])
    with pytest.raises(InputError, match=r"features have 3 rows but the kernel map has"):
        sparse_conv(f[:3], kmap, w)
    with pytest.raises(InputError, match=r"input features must be integers"):
        accumulate_int(f, kmap, w.astype(np.int8))
    with pytest.raises(InputError, match=r"weights exceed the signed 8-bit range"):
        accumulate_int(f.astype(np.int8), kmap, (w * 0 + 200).astype(np.int16))
    with pytest.raises(ConfigError, match=r"channel count Cin must be a positive integer, not 0"):
        random_operands(5, 0, 3, 27)


def test_operands_deterministic():
    a = random_operands(100, 3, 4, 27, dtype="int8", seed=5)
    b = random_operands(100, 3, 4, 27, dtype="int8", seed=5)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------ spconv (one thread)
@pytest.fixture(scope="module")
def spconv_mod():
    spconv = pytest.importorskip("spconv.pytorch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # spconv's CPU path races with more threads
    yield spconv
    torch.set_num_threads(threads)


def _spconv_tensor(spconv, coords, feats, shift, stride):
    rel = (coords[:, 1:].astype(np.int64) - shift) // stride
    idx = np.concatenate([coords[:, :1], rel], 1).astype(np.int32)
    shape = (rel.max(0) + 8).tolist()
    return spconv.SparseConvTensor(
        torch.from_numpy(np.asarray(feats, np.float32)),
        torch.from_numpy(idx),
        shape,
        int(coords[:, 0].max()) + 1,
    )


def _by_coords(indices, feats, coords_ref, shift, stride):
    idx = indices.numpy().astype(np.int64)
    world = np.concatenate([idx[:, :1], idx[:, 1:] * stride + shift], 1)
    lookup = {tuple(r): i for i, r in enumerate(world.tolist())}
    return feats.detach().numpy()[[lookup[tuple(r)] for r in coords_ref.tolist()]]


@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec("submanifold", 3),
        ConvSpec("submanifold", 5),
        ConvSpec("submanifold", 3, dilation=2),
        ConvSpec("strided", 2, 2),
    ],
    ids=lambda s: s.describe(),
)
def test_matches_spconv(spconv_mod, two_batch_coords, spec):
    from accss3d.layouts import to_spconv

    sp = spconv_mod
    coords = two_batch_coords
    kmap, out = build_kernel_map(coords, spec)
    f, w, _ = random_operands(len(coords), 8, 6, kmap.volume, seed=2)
    shift = (coords[:, 1:].min(0) // 2) * 2
    x = _spconv_tensor(sp, coords, f, shift, 1)
    if spec.kind == "submanifold":
        conv = sp.SubMConv3d(
            8, 6, spec.kernel_size, dilation=spec.dilation, bias=False, indice_key="k"
        )
    else:
        conv = sp.SparseConv3d(8, 6, spec.kernel_size, stride=spec.stride, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(to_spconv(w)))
        y = conv(x)
    got = _by_coords(y.indices, y.features, out, shift, spec.stride)
    assert len(y.indices) == len(out)
    np.testing.assert_allclose(sparse_conv(f, kmap, w), got, rtol=1e-4, atol=1e-4)


def test_transposed_matches_spconv_inverse(spconv_mod, two_batch_coords):
    from accss3d.layouts import to_spconv

    sp = spconv_mod
    coords = two_batch_coords
    down = ConvSpec("strided", 2, 2)
    kd, coarse = build_kernel_map(coords, down)
    kt, _ = build_kernel_map(coarse, ConvSpec("transposed", 2, 2), 2, coords)
    f, w, _ = random_operands(len(coords), 4, 5, 8, seed=3)
    g, wt, _ = random_operands(len(coarse), 5, 3, 8, seed=4)
    shift = (coords[:, 1:].min(0) // 2) * 2
    x = _spconv_tensor(sp, coords, f, shift, 1)
    conv = sp.SparseConv3d(4, 5, 2, stride=2, bias=False, indice_key="d")
    inv = sp.SparseInverseConv3d(5, 3, 2, indice_key="d", bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(to_spconv(w)))
        inv.weight.copy_(torch.from_numpy(to_spconv(wt)))
        y = conv(x)
        # Feed our coarse features in spconv's output order, then invert.
        order = [
            {tuple(r): i for i, r in enumerate(coarse.tolist())}[tuple(r)]
            for r in np.concatenate(
                [y.indices.numpy()[:, :1], y.indices.numpy()[:, 1:] * 2 + shift], 1
            ).tolist()
        ]
        y = y.replace_feature(torch.from_numpy(g[order]))
        z = inv(y)
    got = _by_coords(z.indices, z.features, coords, shift, 1)
    np.testing.assert_allclose(sparse_conv(g, kt, wt), got, rtol=1e-4, atol=1e-4)
