"""accss3d.cyclemodel: hand-computed cycles of tiny programs and sanity properties."""

import pytest

from accss3d.arch import CONFIGS
from accss3d.asm import assemble_table
from accss3d.compiler import compile_layer
from accss3d.cyclemodel import Timing, run_bursts, simulate
from accss3d.errors import ConfigError
from accss3d.schedule import Schedule

# R = C = 16, G = 1, 8-byte bus, bursts of 16 beats (the hand counts below assume it)
CFG = CONFIGS["default"].replace(name="default64", bus_data_bits=64)
T = Timing()
FETCH0 = T.fetch_start + T.mem_latency  # first instruction beat
BPI = 16 // CFG.bus_bytes  # beats per instruction


def trace(text, cfg=CFG, timing=T):
    rep = simulate(assemble_table(text), cfg, timing, trace=True)
    return rep, rep.trace.tolist()


def test_one_load():
    rep, tr = trace("LOAD.WGT rows=1 ext_addr=0x1000 row_bytes=64 l1_stride=4\nHALT")
    d = FETCH0 + BPI  # instruction 0 in the buffer
    a = d + 1  # accepted the cycle after dispatch
    last_beat = a + T.load_request + T.mem_latency + 8 - 1  # 64 B = 8 beats, one burst
    assert tr[0] == [d, a, a + T.load_request, last_beat + T.load_signal]
    assert rep.cycles == last_beat + T.load_signal + 2  # HALT dispatched after it, +1
    assert rep.counters["rd_bytes"] == 64 + 2 * 16 and rep.bytes_by_kind["WGT"] == 64


def test_load_then_compute_of_n_pairs():
    n = 40
    rep, tr = trace(
        "LOAD.RBK rows=1 ext_addr=0x1000 row_bytes=160 l1_stride=40 sn\n"
        f"COMPUTE pairs={n} ifm_stride=1 wp\nHALT"
    )
    load_done = tr[0][3]
    a = load_done + T.token_seen  # waits for the token
    first = a + T.issue_after_idle
    last = first + n - 1
    assert tr[1] == [tr[1][0], a, first, last + T.depth(CFG)]
    assert T.depth(CFG) == CFG.pe_rows + CFG.groups - 1 + T.signal_after_issue
    assert rep.counters["busy"] == n and rep.counters["macs"] == n * 256
    assert rep.counters["mem_stall"] == a - (tr[1][0] + 1)
    assert rep.utilization == pytest.approx(n * 256 / (256 * rep.cycles))


@pytest.mark.parametrize("n", [3, 17, 40])
def test_runs_back_to_back_cost_max_n_r_plus_1(n):
    rep, tr = trace("\n".join([f"COMPUTE pairs={n} ifm_stride=1"] * 4 + ["HALT"]))
    firsts = [t[2] for t in tr[:4]]
    gaps = {b - a for a, b in zip(firsts, firsts[1:], strict=False)}
    assert gaps == {max(n, CFG.pe_rows + 1)}


def test_bursts_split_at_4k_and_max_burst():
    assert run_bursts(4096 - 16, 10, CFG) == [2, 8]
    assert run_bursts(0, 40, CFG) == [16, 16, 8]


def test_store_timing():
    rep, tr = trace(
        "FILL rows=2 sn\nSTORE.REQUANT rows=2 ext_addr=0x100 ext_stride=16 channels=16 wp\nHALT"
    )
    a = tr[0][3] + T.token_seen
    first_beat = a + T.store_read + T.store_write
    last_beat = first_beat + 4 - 1  # 2 rows of 16 B, gapless: one burst of 4 beats
    assert tr[1][1] == a and tr[1][3] == last_beat + T.mem_latency + T.store_signal
    assert rep.counters["wr_bytes"] == 32


@pytest.fixture(scope="module")
def layer(tiny_room):
    return compile_layer(
        tiny_room.coords[:500],
        "subm3:17:24",
        CONFIGS["small"],
        seed=1,
        schedule=Schedule(32, weights_resident=False),
    )


def test_utilization_at_most_one(layer):
    rep = simulate(layer.program.code, CONFIGS["small"], layers=layer.program.manifest["layers"])
    assert 0 < rep.utilization <= 1
    assert rep.counters["busy"] <= rep.cycles
    assert rep.layers[0]["name"] == "layer" and 0 < rep.layers[0]["cycles"] <= rep.cycles


def test_monotone_in_memory_latency(layer):
    cycles = [
        simulate(layer.program.code, CONFIGS["small"], Timing(mem_latency=lat)).cycles
        for lat in (0, 4, 8, 16, 64)
    ]
    assert cycles == sorted(cycles) and cycles[0] < cycles[-1]


def test_more_pes_never_slower(tiny_room):
    small = CONFIGS["small"]
    big = small.replace(
        name="small8",
        pe_rows=8,
        pe_cols=8,
        multicast_fanout=8,
        ifm_bank_bytes=2048,
        wgt_bank_bytes=1024,
        ofm_bank_bytes=4096,
    )
    coords = tiny_room.coords[:400]
    cycles = []
    for cfg in (small, big):
        res = compile_layer(
            coords, "subm3:16:16", cfg, seed=2, schedule=Schedule(64, weights_resident=False)
        )
        cycles.append(simulate(res.program.code, cfg).cycles)
    assert cycles[1] <= cycles[0]


def test_timing_validation():
    with pytest.raises(ConfigError, match=r"^timing mem_latency must be a non-negative integer"):
        Timing(mem_latency=-1)
    with pytest.raises(ConfigError, match=r"^unknown timing parameter 'latency'"):
        Timing.from_dict({"latency": 3})
