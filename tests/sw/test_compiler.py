"""accss3d.compiler + funcsim against the golden model, bit-exact, for every layer kind,
channel shape, config and schedule variant; determinism; one-line errors."""

import numpy as np
import pytest

from accss3d.arch import CONFIGS
from accss3d.compiler import (
    compile_layer,
    compile_network,
    default_schedule,
    parse_layer_spec,
    single_layer_plan,
)
from accss3d.errors import ConfigError
from accss3d.funcsim import run_program
from accss3d.network import get_network
from accss3d.program import Program
from accss3d.schedule import Schedule

SMALL, DEFAULT = CONFIGS["small"], CONFIGS["default"]


@pytest.fixture(scope="module")
def room(tiny_room):
    """A 600-voxel slab of the tiny room (programs on the small config stay short)."""
    return tiny_room.coords[:600]


def check(result, cfg):
    prog = Program.from_bytes(result.program.to_bytes(), cfg)  # the container round-trips
    out = run_program(prog)
    assert out.matches and out.all_match, {k: v for k, v in out.matches.items() if not v}
    name = result.program.manifest["outputs"][0]
    assert np.array_equal(out.outputs[name], result.golden.tensors[name])
    return out


@pytest.mark.parametrize(
    "spec",
    [
        "subm3:1:3",
        "subm3:3:17",
        "subm5:4:5",
        "conv2s2:17:3",
        "conv3s2:3:40",
        "deconv2s2:40:17",
        "deconv3s2:5:1",
    ],
)
def test_single_layers_small(room, spec):
    check(compile_layer(room, spec, SMALL, seed=3), SMALL)


@pytest.mark.parametrize("spec", ["subm3:3:17", "subm3:40:17", "conv3s2:17:33", "deconv2s2:33:40"])
def test_single_layers_default(room, spec):
    check(compile_layer(room, spec, DEFAULT, seed=4, relu=True), DEFAULT)


VARIANTS = [
    Schedule(16, "tile", False, True, True),
    Schedule(16, "tile", False, False, True),
    Schedule(16, "tile", False, False, False),
    Schedule(12, "tile", True, False, True),
    Schedule(12, "tile", True, False, False),
    Schedule(7, "tile", False, True, False),
    Schedule(200, "tile", False, False, True, pack=True),
    Schedule(32, "plane", False, True, True),
    Schedule(32, "plane", False, False, False),
]


@pytest.mark.parametrize("schedule", VARIANTS, ids=lambda s: s.describe().replace(" ", "_"))
def test_schedule_variants(room, schedule):
    coords = room[:120] if schedule.order == "plane" else room[:300]
    res = compile_layer(coords, "subm3:5:6", SMALL, seed=5, schedule=schedule)
    assert res.schedules["layer"] == schedule
    check(res, SMALL)


def test_ifm_passes_when_cin_does_not_fit(room):
    # 17 x 40 channels on the 4x4 small core: 5 Cin tiles per slot; 120 outputs gather more
    # inputs than one IFM buffer holds with all of them, so the compiler splits Cin in passes.
    res = compile_layer(
        room, "subm3:17:40", SMALL, seed=6, schedule=Schedule(120, weights_resident=False)
    )
    assert res.program.manifest["layers"][0]["ifm_passes"] > 1
    check(res, SMALL)


def test_heavy_output_overlap(room):
    # A k3s2 strided layer with 2-output tiles: many runs of one pair, outputs named by up to
    # 27 entries across chunks, rulebook chunks of a few entries.
    res = compile_layer(room, "conv3s2:3:5", SMALL, seed=7, schedule=Schedule(2))
    lens = res.program.code[res.program.code[:, 0] == 0x30, 17]
    assert lens.min() == 1
    check(res, SMALL)


@pytest.mark.parametrize("net", ["unet-tiny", "unet-small"])
@pytest.mark.parametrize("cfg", [SMALL, DEFAULT], ids=["small", "default"])
def test_networks(tiny_room, net, cfg):
    coords = tiny_room.coords[:900] if cfg is SMALL else tiny_room.coords
    res = compile_network(get_network(net), coords, cfg, seed=1)
    out = check(res, cfg)
    assert set(out.matches) == {"input", *(layer.name for layer in get_network(net).layers)}


@pytest.mark.slow
def test_minkunet18(tiny_room):
    res = compile_network(get_network("minkunet18"), tiny_room.coords, DEFAULT, seed=2)
    check(res, DEFAULT)


def test_deterministic(room):
    a = compile_network(get_network("unet-tiny"), room, SMALL, seed=9).program.to_bytes()
    b = compile_network(get_network("unet-tiny"), room, SMALL, seed=9).program.to_bytes()
    assert a == b


def test_concatenation_is_free(tiny_room):
    res = compile_network(get_network("unet-tiny"), tiny_room.coords[:500], DEFAULT, seed=1)
    tensors = res.program.manifest["tensors"]
    # dec1 reads (up1, stem): one buffer, stem right after up1 at the next bus-aligned offset.
    bus = DEFAULT.bus_bytes
    assert tensors["up1"]["buffer"] == tensors["stem"]["buffer"] == "up1+stem"
    assert tensors["stem"]["addr"] - tensors["up1"]["addr"] == max(8, bus)
    assert tensors["up1"]["row_stride"] == max(8, bus) + max(8, bus)
    layer = {entry["name"]: entry for entry in res.program.manifest["layers"]}["dec1"]
    assert layer["cin_tiles"] == -(-(max(8, bus) + 8) // DEFAULT.pe_rows)


def test_parse_layer_spec():
    spec, cin, cout = parse_layer_spec("deconv3s2d2:8:4")
    assert (spec.kind, spec.kernel_size, spec.stride, spec.dilation, cin, cout) == (
        "transposed",
        3,
        2,
        2,
        8,
        4,
    )
    with pytest.raises(ConfigError, match=r"^bad layer spec 'subm3:32': expected KIND"):
        parse_layer_spec("subm3:32")
    with pytest.raises(ConfigError, match=r"kernel size 2 is even"):
        parse_layer_spec("subm2:3:3")
    with pytest.raises(ConfigError, match=r"channel counts must be positive"):
        parse_layer_spec("subm3:0:3")


@pytest.mark.parametrize(
    "schedule, message",
    [
        (
            Schedule(600, "plane"),
            r"^layer layer cannot be tiled on small: order plane keeps all "
            r"600 outputs of a Cout tile in OFM, an OFM buffer holds 128",
        ),
        (
            Schedule(300),
            r"^layer layer cannot be tiled on small: a voxel tile of 300 outputs "
            r"needs 300 accumulator rows, an OFM buffer holds 128 rows$",
        ),
        (
            Schedule(16, cout_inner=True, weights_resident=True),
            r"weights_resident needs \d+ weight tiles of 4x4 resident, WGT holds 64 \(stream",
        ),
    ],
)
def test_untileable_layers(room, schedule, message):
    with pytest.raises(ConfigError, match=message):
        compile_layer(room, "subm3:5:6", SMALL, schedule=schedule)


def test_one_output_too_large_for_ifm(room):
    # 3x3x3 neighbours of 1,000 channels: 250 Cin tiles per slot on the small core.
    with pytest.raises(ConfigError, match=r"^layer layer cannot be tiled on small: "):
        compile_layer(room[:60], "subm3:1100:4", SMALL, schedule=Schedule(1))


def test_default_schedule_is_feasible(room):
    for spec in ("subm3:17:40", "conv2s2:3:8", "deconv3s2:9:9"):
        conv, cin, cout = parse_layer_spec(spec)
        plan = single_layer_plan(room, conv, cin, cout)
        s = default_schedule(plan, SMALL)
        assert s.order == "tile" and s.tile_outputs >= 1
        check(compile_layer(room, spec, SMALL, schedule=s), SMALL)


def test_outputs_without_contributions_are_filled(room):
    # A k2s2 transposed layer onto its fine voxels plus far-away ones with no coarse parent:
    # those outputs get only the bias (FILL).
    from accss3d.compiler import compile_plans
    from accss3d.netgolden import random_input, random_params
    from accss3d.network import INPUT, LayerPlan, LayerSpec
    from accss3d.rulebook import ConvSpec, build_kernel_map

    fine = room[:200]
    _, coarse = build_kernel_map(fine, ConvSpec("strided", 2, 2))
    lonely = fine[:7].copy()
    lonely[:, 1] += 1000
    out = np.concatenate([fine, lonely])
    spec = ConvSpec("transposed", 2, 2)
    kmap, out = build_kernel_map(coarse, spec, in_stride=2, out_coords=out)
    plan = LayerPlan(LayerSpec("layer", spec, (INPUT,), 6), kmap, 5, 0, coarse, out)
    params = random_params([plan], 3, SMALL)
    res = compile_plans(
        [plan],
        random_input(len(coarse), 5, 3, SMALL),
        params,
        SMALL,
        schedules={"layer": Schedule(64)},
    )
    assert (res.program.code[:, 0] == 0x50).sum() >= 1  # FILL
    check(res, SMALL)
    assert np.array_equal(
        res.golden.tensors["layer"][-7:], np.repeat(res.golden.tensors["layer"][-1:], 7, axis=0)
    )
