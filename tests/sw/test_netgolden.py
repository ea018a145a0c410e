"""accss3d.netgolden: deterministic parameters, .npz state dicts, residual and concatenation."""

import numpy as np
import pytest

from accss3d.arch import CONFIGS
from accss3d.errors import InputError
from accss3d.golden import accumulate_int
from accss3d.netgolden import (
    forward,
    load_params,
    random_input,
    random_params,
    save_params,
    tensor_sha256,
)
from accss3d.network import CoordinateManager, get_network
from accss3d.quant import wrap

CFG = CONFIGS["default"]


@pytest.fixture(scope="module")
def plans(tiny_room):
    return CoordinateManager(tiny_room.coords[:700]).plan(get_network("unet-small"))


def test_deterministic_parameters(plans):
    a, b = random_params(plans, 5, CFG), random_params(plans, 5, CFG)
    for name in a:
        assert np.array_equal(a[name].weight, b[name].weight)
    assert not np.array_equal(random_params(plans, 6, CFG)["stem"].weight, a["stem"].weight)
    res = {p.layer.name: a[p.layer.name].residual_weight for p in plans if p.layer.residual}
    assert res and all(w is not None for w in res.values())
    square = [p for p in plans if p.layer.residual and p.residual_channels == p.layer.cout]
    assert np.array_equal(res[square[0].layer.name], np.eye(square[0].layer.cout))


def test_forward_is_the_golden_model_layer_by_layer(plans):
    params = random_params(plans, 1, CFG)
    x = random_input(plans[0].kmap.n_in, 3, 1, CFG)
    out = forward(plans, x, params, CFG)
    for plan in plans:
        layer = plan.layer
        xin = np.concatenate([out.tensors[n] for n in layer.inputs], axis=1)
        acc = accumulate_int(xin, plan.kmap, params[layer.name].weight, params[layer.name].bias)
        if layer.residual:
            r = np.concatenate([out.tensors[n] for n in layer.residual], axis=1)
            acc = wrap(acc + r.astype(np.int64) @ params[layer.name].residual_weight, 32)
        expect = out.requant[layer.name].apply(acc).astype(np.int8)
        assert np.array_equal(out.tensors[layer.name], expect), layer.name
        assert out.requant[layer.name].relu == layer.relu


def test_npz_round_trip(plans, tmp_path):
    params = random_params(plans, 2, CFG)
    x = random_input(plans[0].kmap.n_in, 3, 2, CFG)
    ref = forward(plans, x, params, CFG)
    path = tmp_path / "w.npz"
    save_params(path, params, ref.requant, x)
    loaded, feats = load_params(path, plans, CFG)
    again = forward(plans, feats, loaded, CFG)
    for name in ref.tensors:
        assert tensor_sha256(again.tensors[name]) == tensor_sha256(ref.tensors[name])
    assert all(loaded[n].requant == ref.requant[n] for n in loaded)


def test_npz_errors(plans, tmp_path):
    params = random_params(plans, 2, CFG)
    path = tmp_path / "w.npz"
    save_params(path, {k: v for k, v in params.items() if k != "stem"})
    with pytest.raises(InputError, match=r"no array 'stem.weight' \(layer stem\)$"):
        load_params(path, plans, CFG)
    arrays = dict(np.load(tmp_path / "w.npz"))
    arrays["stem.weight"] = np.zeros((27, 3, 5), np.int8)
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=r"^stem.weight: weights must have shape \(27, 3, 16\)"):
        load_params(path, plans, CFG)
    arrays["stem.weight"] = np.full((27, 3, 16), 200, np.int16)
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=r"exceed the signed 8-bit range"):
        load_params(path, plans, CFG)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(InputError, match=r"^cannot read weights"):
        load_params(tmp_path / "bad.npz", plans, CFG)
