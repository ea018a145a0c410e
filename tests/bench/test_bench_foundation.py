"""Foundation benchmarks: rulebook build and float sparse conv vs spconv, one thread.

Run with ``make bench``; ratios (ours / spconv) are printed and saved to
build/bench/results.json.  Targets: rulebook ratio <= 1.0, float conv ratio <= 2.0.
"""

import numpy as np
import pytest

from accss3d.golden import random_operands, sparse_conv
from accss3d.layouts import to_spconv
from accss3d.rulebook import ConvSpec, build_kernel_map
from accss3d.scene import RoomSpec, generate_scene
from accss3d.voxel import voxelize

pytestmark = pytest.mark.bench
torch = pytest.importorskip("torch")
spconv = pytest.importorskip("spconv.pytorch")


@pytest.fixture(scope="module")
def scene():
    torch.set_num_threads(1)
    cloud = generate_scene(RoomSpec(seed=0, target_voxels=125_000, voxel_size=0.03))
    return voxelize(cloud, 0.03)


def _spconv_input(coords, feats):
    shift = coords[:, 1:].min(0)
    idx = np.concatenate([coords[:, :1], coords[:, 1:] - shift], 1).astype(np.int32)
    shape = (idx[:, 1:].max(0) + 1).tolist()
    return torch.from_numpy(idx), shape, torch.from_numpy(feats)


def test_rulebook_build_vs_spconv(scene, record, timer):
    from spconv.pytorch import ops

    coords = scene.coords
    idx, shape, _ = _spconv_input(coords, np.zeros((len(coords), 1), np.float32))
    spec = ConvSpec("submanifold", 3)
    ours = timer(lambda: build_kernel_map(coords, spec))
    peer = timer(
        lambda: ops.get_indice_pairs(
            idx,
            1,
            shape,
            spconv.ConvAlgo.Native,
            [3, 3, 3],
            [1, 1, 1],
            [1, 1, 1],
            [1, 1, 1],
            [0, 0, 0],
            True,
            False,
        )
    )
    record(f"rulebook subm3 ({len(coords)} voxels)", ours, peer, "spconv 2.3.8 get_indice_pairs")
    assert ours > 0 and peer > 0


def test_float_conv_vs_spconv(scene, record, timer):
    coords = scene.coords
    kmap, _ = build_kernel_map(coords, ConvSpec("submanifold", 3))
    f, w, _ = random_operands(len(coords), 32, 32, 27, seed=0)
    idx, shape, feats = _spconv_input(coords, f)
    conv = spconv.SubMConv3d(32, 32, 3, bias=False, indice_key="b", algo=spconv.ConvAlgo.Native)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(to_spconv(w)))
    x = spconv.SparseConvTensor(feats, idx, shape, 1)
    with torch.no_grad():
        y = conv(x)  # builds and caches the indice pairs under key "b"

        def peer_conv():
            return conv(x)

        peer = timer(peer_conv)
    ours_out = sparse_conv(f, kmap, w)
    np.testing.assert_allclose(ours_out, y.features.numpy(), rtol=1e-3, atol=1e-3)
    ours = timer(lambda: sparse_conv(f, kmap, w))
    record(
        f"float conv subm3 32->32 ({len(coords)} voxels)",
        ours,
        peer,
        "spconv 2.3.8 SubMConv3d (cached pairs)",
        macs=kmap.n_pairs * 32 * 32,
    )
