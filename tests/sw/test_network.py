"""accss3d.network: networks as data, user-defined networks, plans against independent counts."""

import json

import numpy as np
import pytest

from accss3d.cli import main
from accss3d.errors import ConfigError
from accss3d.network import (
    NETWORKS,
    CoordinateManager,
    get_network,
    load_network,
    network_from_dict,
    network_names,
    parse_conv,
)
from accss3d.rulebook import ConvSpec, kernel_offsets


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _tiny_net(**changes):
    layers = [
        {"name": "a", "conv": "subm3", "inputs": "input", "cout": 8},
        {"name": "b", "conv": "conv2s2", "inputs": "a", "cout": 8},
        {"name": "c", "conv": "deconv2s2", "inputs": "b", "cout": 8},
        {"name": "d", "conv": "subm3", "inputs": ["c", "a"], "cout": 8, "residual": "a"},
    ]
    data = {"name": "mine", "in_channels": 3, "layers": layers}
    data.update(changes)
    return data


# --------------------------------------------------------------------------- networks
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_builtin_networks_are_consistent(name):
    net = get_network(name)
    assert net.layers[0].inputs == ("input",) and net.output == "classifier"
    for layer in net.layers:
        assert net.cin(layer) == sum(net.channels[t] for t in layer.inputs)
        if layer.residual:
            assert net.out_stride(layer) == net.in_stride(layer)  # blocks keep the stride
    assert net.strides[net.output] == 1


def test_minkunet18_shape():
    net = get_network("minkunet18")
    assert len(net.layers) == 42
    assert max(net.strides.values()) == 16
    assert net.cin(next(x for x in net.layers if x.name == "dec1_0a")) == 256 + 128


def test_unknown_network():
    with pytest.raises(ConfigError, match=r"^unknown network 'nope' \(known: minkunet18, "):
        get_network("nope")
    assert network_names() == sorted(NETWORKS)


@pytest.mark.parametrize(
    "text, kind, k, s, d",
    [
        ("subm3", "submanifold", 3, 1, 1),
        ("subm1", "submanifold", 1, 1, 1),
        ("conv2s2", "strided", 2, 2, 1),
        ("deconv2s2", "transposed", 2, 2, 1),
        ("subm3d2", "submanifold", 3, 1, 2),
    ],
)
def test_parse_conv_round_trips(text, kind, k, s, d):
    spec = parse_conv(text)
    assert spec == ConvSpec(kind, k, s, d)
    assert spec.describe() == text


def test_network_from_dict():
    net = network_from_dict(_tiny_net())
    assert net.channels == {"input": 3, "a": 8, "b": 8, "c": 8, "d": 8}
    assert net.strides == {"input": 1, "a": 1, "b": 2, "c": 1, "d": 1}
    assert net.residual_channels(net.layers[3]) == 8


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"layers": []}, r"^mine: layers must be a non-empty list$"),
        ({"colour": 1}, r"^mine: unknown key 'colour'$"),
        ({"in_channels": 0}, r"^mine: in_channels must be a positive integer, not 0$"),
        (
            {"layers": [{"name": "a", "conv": "subm4", "inputs": "input", "cout": 8}]},
            r"^mine: layer 1 \(a\): kernel size 4 is even",
        ),
        (
            {"layers": [{"name": "a", "conv": "sub3", "inputs": "input", "cout": 8}]},
            r"^mine: layer 1 \(a\): bad convolution 'sub3' \(expected submK",
        ),
        (
            {"layers": [{"name": "a", "conv": "subm3", "inputs": "input"}]},
            r"^mine: layer 1 \(a\): missing 'cout'$",
        ),
        (
            {"layers": [{"name": "a", "conv": "subm3", "inputs": "input", "cout": 8, "x": 1}]},
            r"^mine: layer 1 \(a\): unknown key 'x'$",
        ),
        (
            {"layers": [{"name": "a", "conv": "subm3", "inputs": "z", "cout": 8}]},
            r"^network mine: layer a reads 'z' before it is made$",
        ),
        (
            {"layers": [{"name": "a", "conv": "subm3", "inputs": [1], "cout": 8}]},
            r"^mine: layer 1 \(a\): inputs must be a tensor name or a list of names",
        ),
    ],
)
def test_network_from_dict_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        network_from_dict(_tiny_net(**changes), "mine")


def test_residual_of_wrong_stride_rejected():
    data = _tiny_net()
    data["layers"][2]["residual"] = "b"  # stride 2 added to a stride-1 output
    with pytest.raises(ConfigError, match=r"^network mine: residual \('b',\) of c has the wrong"):
        network_from_dict(data)


def test_load_network_json_and_yaml(tmp_path):
    pytest.importorskip("yaml")
    jpath = tmp_path / "net.json"
    jpath.write_text(json.dumps(_tiny_net()))
    ypath = tmp_path / "net.yaml"
    ypath.write_text(
        "name: mine\nin_channels: 3\nlayers:\n"
        "  - {name: a, conv: subm3, inputs: input, cout: 8}\n"
        "  - {name: b, conv: conv2s2, inputs: a, cout: 8}\n"
        "  - {name: c, conv: deconv2s2, inputs: b, cout: 8}\n"
        "  - {name: d, conv: subm3, inputs: [c, a], cout: 8, residual: a}\n"
    )
    assert load_network(str(jpath)) == load_network(str(ypath)) == get_network(str(ypath))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    with pytest.raises(ConfigError, match=r"^network file .*bad\.yaml is not valid YAML"):
        load_network(str(bad))
    with pytest.raises(ConfigError, match=r"^no such network file: .*missing\.json$"):
        get_network(str(tmp_path / "missing.json"))


# --------------------------------------------------------------------------- plans
def _brute_pairs(coords: np.ndarray, stride: int) -> int:
    """Submanifold 3^3 pairs by set lookups (independent of the kernel-map code)."""
    present = {tuple(c) for c in coords.tolist()}
    total = 0
    for b, x, y, z in coords.tolist():
        for dx, dy, dz in kernel_offsets(3).tolist():
            total += (b, x + dx * stride, y + dy * stride, z + dz * stride) in present
    return total


def test_plans_match_independent_counts(tiny_room):
    net = get_network("unet-small")
    cm = CoordinateManager(tiny_room.coords)
    plans = cm.plan(net)
    assert [p.layer.name for p in plans] == [x.name for x in net.layers]
    for p in plans:
        pairs = int(np.count_nonzero(p.kmap.table >= 0))
        res = len(p.out_coords) * p.residual_channels * p.layer.cout
        assert p.macs == pairs * p.cin * p.layer.cout + res
        row = p.row()
        assert row["pairs"] == pairs and row["outputs"] == len(p.out_coords)
        assert row["arf"] == pytest.approx(pairs / len(p.out_coords))
    by_name = {p.layer.name: p for p in plans}
    stem = by_name["stem"]
    assert stem.kmap.n_pairs == _brute_pairs(tiny_room.coords, 1)
    enc = by_name["enc1_0a"]
    assert enc.kmap.n_pairs == _brute_pairs(enc.in_coords, 2)
    # The two convolutions of a block share one kernel map; a transposed convolution pairs
    # exactly what the strided one it inverts pairs.
    assert by_name["enc1_0a"].kmap is by_name["enc1_0b"].kmap
    assert by_name["up2"].kmap.n_pairs == by_name["down1"].kmap.n_pairs
    assert np.array_equal(by_name["up2"].out_coords, tiny_room.coords)
    # Every stride level is built once.
    assert cm.coords(2) is by_name["down1"].out_coords


def test_single_voxel_and_isolated_voxels():
    coords = np.array([[0, 0, 0, 0], [0, 40, 0, 0], [0, 0, 40, 40]], dtype=np.int32)
    for c in (coords[:1], coords):
        plans = CoordinateManager(c).plan(get_network("minkunet18"))
        for p in plans:
            assert p.kmap.n_out == len(c) and p.kmap.arf == 1.0


# --------------------------------------------------------------------------- CLI
def test_cli_list(capsys):
    code, out, err = run(capsys, "network", "--list", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert [n["name"] for n in data["networks"]] == network_names()
    code, out, _ = run(capsys, "network", "--list")
    assert code == 0 and "minkunet18" in out


def test_cli_layers_without_scene(capsys):
    code, out, _ = run(capsys, "network", "--name", "unet-tiny", "--json")
    data = json.loads(out)
    assert code == 0 and data["network"] == "unet-tiny"
    net = get_network("unet-tiny")
    assert [r["layer"] for r in data["layers"]] == [x.name for x in net.layers]
    assert [r["cin"] for r in data["layers"]] == [net.cin(x) for x in net.layers]


def test_cli_table_for_a_scene(capsys):
    code, out, err = run(
        capsys, "network", "room:1:tiny", "--voxel-size", "0.1", "--name", "unet-tiny", "--json"
    )
    assert code == 0 and err == ""
    data = json.loads(out)
    for key in ("network", "scene", "voxels", "kernel_maps", "layers", "totals"):
        assert key in data
    rows = data["layers"]
    for key in ("layer", "conv", "cin", "cout", "voxels", "outputs", "pairs", "arf", "macs"):
        assert key in rows[0]
    assert data["totals"]["macs"] == sum(r["macs"] for r in rows)
    code, out, _ = run(
        capsys, "network", "room:1:tiny", "--voxel-size", "0.1", "--name", "unet-tiny"
    )
    assert code == 0 and "classifier" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["network", "--name", "bogus"], "accss3d: error: unknown network 'bogus' (known: "),
        (["network", "--voxel-size", "0.1"], "accss3d: error: --voxel-size needs a SCENE\n"),
    ],
)
def test_cli_errors(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1
