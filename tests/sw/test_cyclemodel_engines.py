"""accss3d.cyclemodel: the compiled engine (accss3d.cyclejit, the default) against the Python
reference - every field of the report and every trace row the same, on compiled layers and
networks of both configs, under varied Timings, and on mutated programs (tokens dropped,
instructions shuffled, fields changed), which must give the same report or the same error."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accss3d import cyclemodel
from accss3d.arch import CONFIGS
from accss3d.asm import assemble_table
from accss3d.compiler import compile_layer, compile_network
from accss3d.cyclemodel import Timing, simulate
from accss3d.isa import Op
from accss3d.isatable import COL
from accss3d.network import get_network

FIELDS = ("cycles", "counters", "engine_busy", "bytes_by_kind", "utilization", "layers")


def outcome(code, cfg, timing=None, layers=None, engine="jit"):
    """Every field of the report (with the trace), or the error's type and message."""
    try:
        rep = simulate(code, cfg, timing, trace=True, layers=layers, engine=engine)
    except Exception as exc:  # noqa: BLE001 - the engines must fail alike
        return type(exc), str(exc)
    values = tuple((f, getattr(rep, f), type(getattr(rep, f))) for f in FIELDS)
    return values, rep.trace.tolist()


def assert_same(code, cfg, timing=None, layers=None):
    ref = outcome(code, cfg, timing, layers, engine="python")
    assert outcome(code, cfg, timing, layers) == ref
    return ref


@pytest.fixture(scope="module")
def programs(tiny_room):
    coords = tiny_room.coords
    small, default = CONFIGS["small"], CONFIGS["default"]
    return {
        "net-small": compile_network(get_network("unet-tiny"), coords[:400], small),
        "net-default": compile_network(get_network("unet-tiny"), coords[:600], default, seed=2),
        "subm": compile_layer(coords[:500], "subm3:9:6", small, seed=1),
        "conv": compile_layer(coords[:500], "conv2s2:6:9", small, seed=2),
        "deconv": compile_layer(coords[:500], "deconv3s2:9:5", small, seed=3),
        "subm-default": compile_layer(coords[:800], "subm3:17:40", default, seed=4),
    }


TIMINGS = [
    Timing(),
    Timing(mem_latency=2, outstanding=1),
    Timing(mem_latency=30, outstanding=4),
    Timing(mem_latency=30, outstanding=1, store_reissue=0, token_seen=3),
    Timing(
        mem_latency=8,
        outstanding=2,
        fetch_start=0,
        load_request=1,
        load_signal=5,
        issue_after_idle=0,
        signal_after_issue=1,
        store_read=0,
        store_write=1,
        store_signal=0,
        config=1,
        token_seen=0,
    ),
]


@pytest.mark.parametrize("name", ["net-small", "net-default", "subm", "conv", "deconv"])
@pytest.mark.parametrize("timing", TIMINGS, ids=range(len(TIMINGS)))
def test_engines_agree(programs, name, timing):
    prog = programs[name].program
    ref = assert_same(prog.code, prog.cfg, timing, prog.manifest["layers"])
    assert not isinstance(ref[0], type)


@pytest.mark.parametrize("bus_bits", [32, 64, 128])
def test_engines_agree_on_other_buses(programs, bus_bits):
    """Instructions of one beat or several, fetch bursts of a few instructions."""
    prog = programs["subm-default"].program
    cfg = prog.cfg.replace(name=f"bus{bus_bits}", bus_data_bits=bus_bits)
    assert_same(prog.code, cfg, Timing(mem_latency=5))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["net-small", "subm", "conv", "deconv", "subm-default"]),
    values=st.lists(st.integers(0, 40), min_size=13, max_size=13),
)
def test_engines_agree_random_timing(programs, name, values):
    fields = dict(zip(Timing.__dataclass_fields__, values, strict=True))
    timing = Timing(**{**fields, "outstanding": 1 + fields["outstanding"] % 6})
    prog = programs[name].program
    assert_same(prog.code, prog.cfg, timing, prog.manifest["layers"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["net-small", "subm", "conv", "deconv"]),
    seed=st.integers(0, 2**32 - 1),
    bits=st.sets(st.sampled_from(["wp", "wn", "sp", "sn"]), min_size=1),
    p=st.sampled_from([0.01, 0.2, 1.0]),
    window=st.sampled_from([0, 4, 30]),
)
def test_engines_agree_on_mutants(programs, name, seed, bits, p, window):
    """Token bits dropped (a wait without its token raises, tokens never waited for pile
    up), instructions shuffled within a window (tokens may come late or never), DMA fields
    changed: the same report or the same error."""
    prog = programs[name].program
    rng = np.random.default_rng(seed)
    code = prog.code.copy()
    for bit in bits:
        code[rng.random(len(code)) < p, COL[bit]] = 0
    end = len(code) - 1  # HALT stays last
    key = np.arange(end) + rng.integers(0, window + 1, end)
    code[:end] = code[:end][np.argsort(key, kind="stable")]
    dma = np.flatnonzero(np.isin(code[:, COL["op"]], [int(Op.LOAD), int(Op.STORE)]))
    pick = dma[rng.random(len(dma)) < 0.05]
    code[pick, COL["ext_stride"]] = rng.integers(0, 3, len(pick)) * code[pick, COL["ext_stride"]]
    code[pick, COL["ext_addr"]] += rng.integers(0, 64, len(pick)) * 64
    assert_same(code, prog.cfg, TIMINGS[seed % len(TIMINGS)])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    column=st.sampled_from(["op", "sub", "row_bytes", "channels", "ext_stride", "rows"]),
    value=st.sampled_from([-64, 0, 1, 2, 7, 0x02, 0x30, 0x50, 0x60, 300]),
)
def test_engines_agree_on_odd_fields(programs, seed, column, value):
    """An unknown opcode, a LOAD kind out of range, an empty DMA row, a negative field: what
    the compiled engine leaves to the Python engine still gives its report or error."""
    prog = programs["conv"].program
    code = prog.code.copy()
    rng = np.random.default_rng(seed)
    end = len(code) - 1  # HALT stays last
    code[rng.integers(0, end, 3), COL[column]] = value
    assert_same(code, prog.cfg)


def test_engines_agree_with_little_room(programs, monkeypatch):
    """The compiled engine's read-channel history outgrows its arrays: it runs again."""
    monkeypatch.setattr(cyclemodel, "_JIT_ROOM", 2)
    for name in ("net-small", "net-default"):
        prog = programs[name].program
        assert_same(prog.code, prog.cfg, Timing(mem_latency=30, outstanding=1))


CFG64 = CONFIGS["default"].replace(name="default64", bus_data_bits=64)


@pytest.mark.parametrize(
    "text",
    [
        "LOAD.WGT rows=1 ext_addr=0x1000 row_bytes=64 l1_stride=4\nHALT",
        "LOAD.RBK rows=1 ext_addr=0x1000 row_bytes=160 l1_stride=40 sn\n"
        "COMPUTE pairs=40 ifm_stride=1 wp\nHALT",
        "FILL rows=2 sn\nSTORE.REQUANT rows=2 ext_addr=0x100 ext_stride=16 channels=16 wp\nHALT",
        "LOAD.IFM rows=20 ext_addr=0xff0 ext_stride=4096 row_bytes=48 l1_stride=4\n" * 3
        + "SYNC\nCONFIG\nNOP\nHALT",
        # waits without tokens: the same IndexError
        "COMPUTE pairs=4 ifm_stride=1 wp\nHALT",
        "STORE.RAW rows=1 channels=16 wp\nHALT",
        "LOAD.WGT rows=1 row_bytes=64 l1_stride=4 wn\nHALT",
        # no HALT: the same ProgramError
        "NOP",
    ],
)
def test_engines_agree_hand_written(text):
    assert_same(assemble_table(text), CFG64)
    assert_same(assemble_table(text), CONFIGS["small"], Timing(mem_latency=2, outstanding=1))


def test_engine_name_checked(programs):
    prog = programs["subm"].program
    with pytest.raises(ValueError, match="engine must be"):
        simulate(prog.code, prog.cfg, engine="cuda")


@pytest.mark.slow
def test_engines_agree_on_a_network_of_thousands_of_voxels(tiny_room):
    res = compile_network(get_network("minkunet18"), tiny_room.coords, CONFIGS["default"])
    prog = res.program
    for timing in (Timing(), Timing(mem_latency=30, outstanding=1)):
        assert_same(prog.code, prog.cfg, timing, prog.manifest["layers"])
