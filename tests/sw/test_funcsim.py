"""accss3d.funcsim: COMPUTE/FILL/STORE/LOAD semantics on hand-written programs, one-line
errors (ranges, races, tokens), and the batched path against the one-at-a-time reference."""

import numpy as np
import pytest

from accss3d.arch import CONFIGS
from accss3d.asm import assemble_table
from accss3d.compiler import compile_layer, compile_network
from accss3d.errors import ProgramError
from accss3d.funcsim import accumulate, knowledge, run_program
from accss3d.isa import pack_rulebook_entry
from accss3d.network import get_network
from accss3d.program import Program
from accss3d.quant import Requant

CFG = CONFIGS["small"]  # 4 x 4 PEs, 4-byte bus, IFM/WGT words of 4 B, OFM rows of 4 x int32
MEM = 0x400


def program(text, data: dict, tensors=None) -> Program:
    """A program whose memory holds ``data`` (address -> bytes) below ``MEM``."""
    image = np.zeros(MEM - 0x100, dtype=np.uint8)
    for addr, blob in data.items():
        blob = np.frombuffer(np.ascontiguousarray(blob).tobytes(), dtype=np.uint8)
        image[addr - 0x100 : addr - 0x100 + len(blob)] = blob
    manifest = {"format": "accss3d-program", "tensors": tensors or {}}
    return Program(CFG, assemble_table(text), image.tobytes(), 0x100, MEM, manifest, prog_addr=0)


def raw(memory, addr, rows):
    return memory[addr : addr + 16 * rows].view("<i4").reshape(rows, 4)


W = np.array([[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.int8)
X = np.array([[1, 2, 3, 4], [10, 20, 30, 40], [-5, 6, -7, 8]], dtype=np.int8)
BIAS = np.array([100, 200, 300, 400], dtype="<i4")
SETUP = """\
LOAD.WGT l1_addr=0 rows=1 ext_addr=0x100 row_bytes=16 l1_stride=4
LOAD.IFM l1_addr=0 rows=3 ext_addr=0x110 row_bytes=4 ext_stride=4 l1_stride=1
LOAD.BIAS rows=1 ext_addr=0x120 row_bytes=16 l1_stride=1
LOAD.RBK l1_addr=0 rows=1 ext_addr=0x140 row_bytes={rb} l1_stride={ls} sn
"""


def run_entries(entries, use_first=1, extra=""):
    slot, row, first = (np.array(c) for c in zip(*entries, strict=True))
    words = pack_rulebook_entry(slot, row, first)
    text = SETUP.format(rb=4 * len(words), ls=len(words)) + (
        f"COMPUTE pairs={len(words)} ifm_stride=1 {'use_first' if use_first else ''} wp sn\n"
        + extra
        + "STORE.RAW rows=2 ext_addr=0x200 ext_stride=16 channels=4 wp\nHALT\n"
    )
    data = {0x100: W, 0x110: X, 0x120: BIAS, 0x140: words}
    out = run_program(program(text, data))
    return raw(out.memory, 0x200, 2), out


def test_compute_first_and_repeated_rows():
    p = X.astype(np.int64) @ W.astype(np.int64)
    got, out = run_entries([(0, 0, 1), (1, 0, 0), (2, 1, 1), (0, 0, 1), (1, 0, 0)])
    assert np.array_equal(got[0], BIAS + p[0] + p[1])  # the second first restarts row 0
    assert np.array_equal(got[1], BIAS + p[2])
    assert out.counters["macs"] == 5 * 16 and out.counters["instructions"]["COMPUTE"] == 1


def test_use_first_off_accumulates_onto_old_rows():
    p = X.astype(np.int64) @ W.astype(np.int64)
    got, _ = run_entries([(0, 0, 1), (2, 1, 1)], use_first=0)
    assert np.array_equal(got, np.stack([p[0], p[2]]))  # OFM starts at zero


def test_accumulator_wraps():
    data_bias = np.array([2**31 - 1, -(2**31), 0, 0], dtype="<i4")
    text = SETUP.format(rb=4, ls=1) + (
        "COMPUTE pairs=1 ifm_stride=1 use_first wp sn\n"
        "STORE.RAW rows=1 ext_addr=0x200 ext_stride=16 channels=4 wp\nHALT\n"
    )
    words = pack_rulebook_entry([1], [0], [1])
    out = run_program(program(text, {0x100: W, 0x110: X, 0x120: data_bias, 0x140: words}))
    got = raw(out.memory, 0x200, 1)[0]
    assert got[0] == -(2**31) + 9 and got[1] == -(2**31) + 20  # 2^31 - 1 + 10 wraps


def test_fill_config_and_requantizing_store():
    rq = Requant(40000, 16, relu=True)
    text = (
        "LOAD.BIAS rows=1 ext_addr=0x120 row_bytes=16 l1_stride=1 sn\n"
        "FILL ofm_row=3 rows=2 wp sn\n"
        f"CONFIG multiplier={rq.multiplier} shift={rq.shift} relu\n"
        "STORE.REQUANT ofm_row=3 rows=2 ext_addr=0x200 ext_stride=4 channels=3 wp\nHALT\n"
    )
    bias = np.array([1000, -1000, 70000, 5], dtype="<i4")
    out = run_program(program(text, {0x120: bias}))
    expect = rq.apply(bias[:3].astype(np.int64)).astype(np.int8)
    assert np.array_equal(
        out.memory[0x200:0x208].view(np.int8).reshape(2, 4)[:, :3], np.stack([expect, expect])
    )
    assert out.memory[0x203] == 0 and out.memory[0x207] == 0  # channel 3 is not written


def test_psum_load_and_partial_bias():
    psum = np.arange(8, dtype="<i4").reshape(2, 4) * 1000
    text = (
        "LOAD.PSUM l1_addr=0 rows=2 ext_addr=0x180 row_bytes=16 ext_stride=16 l1_stride=1\n"
        "LOAD.BIAS rows=1 ext_addr=0x120 row_bytes=16 l1_stride=1\n"
        "LOAD.BIAS rows=1 ext_addr=0x1a0 row_bytes=8 l1_stride=1\n"  # lanes 0-1 only
        "LOAD.WGT l1_addr=0 rows=1 ext_addr=0x100 row_bytes=16 l1_stride=4\n"
        "LOAD.IFM l1_addr=0 rows=3 ext_addr=0x110 row_bytes=4 ext_stride=4 l1_stride=1\n"
        "LOAD.RBK l1_addr=0 rows=1 ext_addr=0x140 row_bytes=8 l1_stride=2 sn\n"
        "COMPUTE pairs=2 ifm_stride=1 use_first wp sn\n"
        "STORE.RAW rows=2 ext_addr=0x200 ext_stride=16 channels=4 wp\nHALT\n"
    )
    words = pack_rulebook_entry([0, 1], [0, 1], [0, 1])
    data = {
        0x100: W,
        0x110: X,
        0x120: BIAS,
        0x140: words,
        0x180: psum,
        0x1A0: np.array([-7, -8], dtype="<i4"),
    }
    out = run_program(program(text, data))
    p = X.astype(np.int64) @ W.astype(np.int64)
    got = raw(out.memory, 0x200, 2)
    assert np.array_equal(got[0], psum[0] + p[0])  # first bit 0: accumulates onto the PSUM
    assert np.array_equal(got[1], np.array([-7, -8, 300, 400]) + p[1])


def test_load_keeps_bytes_beyond_row_bytes():
    text = (
        "LOAD.IFM l1_addr=0 rows=1 ext_addr=0x110 row_bytes=4 l1_stride=1\n"
        "LOAD.IFM l1_addr=0 rows=1 ext_addr=0x114 row_bytes=2 l1_stride=1\n"
        "LOAD.WGT l1_addr=0 rows=1 ext_addr=0x100 row_bytes=16 l1_stride=4\n"
        "LOAD.RBK l1_addr=0 rows=1 ext_addr=0x140 row_bytes=4 l1_stride=1 sn\n"
        "COMPUTE pairs=1 ifm_stride=1 wp sn\n"
        "STORE.RAW rows=1 ext_addr=0x200 ext_stride=16 channels=4 wp\nHALT\n"
    )
    words = pack_rulebook_entry([0], [0], [0])
    out = run_program(program(text, {0x100: W, 0x110: X, 0x140: words}))
    x = np.array([10, 20, 3, 4])
    assert np.array_equal(raw(out.memory, 0x200, 1)[0], x @ W.astype(np.int64))


def test_entry_out_of_range():
    text = SETUP.format(rb=8, ls=2) + "COMPUTE pairs=2 ifm_stride=1 ifm_base=505 wp\nHALT\n"
    words = pack_rulebook_entry([0, 9], [0, 1], [1, 1])
    with pytest.raises(
        ProgramError,
        match=r"^instruction 4: COMPUTE entry 1 \(RBK word 1\) names "
        r"IFM word 514, beyond the 512 in L1 \(L1_RANGE\)$",
    ):
        run_program(program(text, {0x140: words}))


RACES = [
    (  # the COMPUTE's token vouches for the rulebook LOAD, not the later slot LOAD
        "LOAD.RBK rows=1 ext_addr=0x140 row_bytes=4 l1_stride=1 sn\nLOAD.IFM rows=1 "
        "ext_addr=0x110 row_bytes=4 l1_stride=1\nCOMPUTE pairs=1 ifm_stride=1 wp\nHALT",
        r"^instruction 2: COMPUTE reads IFM word 0 written by instruction 1 \(LOAD.IFM\) with no ",
    ),
    (  # a LOAD overwrites slots a COMPUTE it does not wait for still reads
        "LOAD.IFM rows=1 ext_addr=0x110 row_bytes=4 l1_stride=1\nLOAD.RBK rows=1 ext_addr=0x140 "
        "row_bytes=4 l1_stride=1 sn\nCOMPUTE pairs=1 ifm_stride=1 wp\nLOAD.IFM rows=1 "
        "ext_addr=0x114 row_bytes=4 l1_stride=1\nHALT",
        r"^instruction 3: LOAD.IFM overwrites IFM word 0 read by instruction 2 \(COMPUTE\) with",
    ),
    (  # a STORE reads accumulators the COMPUTE has not signalled
        "LOAD.RBK rows=1 ext_addr=0x140 row_bytes=4 l1_stride=1 sn\nCOMPUTE pairs=1 ifm_stride=1 "
        "wp\nSTORE.RAW rows=1 channels=4 ext_addr=0x200\nHALT",
        r"^instruction 2: STORE.RAW reads OFM row 0 written by instruction 1 \(COMPUTE\) with no",
    ),
    (  # a LOAD reads external memory a STORE writes, with no SYNC between them
        "FILL rows=1 sn\nSTORE.RAW rows=1 channels=4 ext_addr=0x200 wp\nLOAD.IFM rows=1 "
        "ext_addr=0x200 row_bytes=4 l1_stride=1\nHALT",
        r"^instruction 2: LOAD.IFM reads external bus word 128 written by instruction 1 \(STORE",
    ),
    (  # the next bias is loaded while a FILL may still be writing the previous one
        "LOAD.BIAS rows=1 ext_addr=0x120 row_bytes=16 l1_stride=1 sn\nFILL rows=2 wp\n"
        "LOAD.BIAS rows=1 ext_addr=0x130 row_bytes=16 l1_stride=1\nHALT",
        r"^instruction 2: LOAD.BIAS overwrites BIAS word 0 read by instruction 1 \(FILL\) with",
    ),
]


@pytest.mark.parametrize("text, message", RACES)
def test_races(text, message):
    words = pack_rulebook_entry([0], [0], [0])
    with pytest.raises(ProgramError, match=message):
        run_program(program(text, {0x140: words}))
    run_program(program(text, {0x140: words}), check_races=False)  # legal otherwise


def test_sync_orders_everything():
    text = RACES[3][0].replace("LOAD.IFM", "SYNC\nLOAD.IFM")
    run_program(program(text, {}))


def test_knowledge_follows_tokens():
    t = assemble_table(
        "LOAD.IFM rows=1 sn\nLOAD.WGT rows=1 sn\nCOMPUTE wp sn\nSTORE.RAW wp sp\nCOMPUTE wn wp\n"
        "SYNC\nNOP\nHALT"
    )
    K = knowledge(t, len(t))
    assert K[2].tolist() == [0, 2, -1]
    assert K[3].tolist() == [0, 2, 3]
    assert K[4].tolist() == [1, 4, 3]
    assert K[6].tolist() == [1, 6, 3]


def test_token_and_halt_errors():
    with pytest.raises(ProgramError, match=r"^instruction 0: COMPUTE waits for a load->compute"):
        run_program(program("COMPUTE pairs=1 ifm_stride=1 wp\nHALT", {}))
    with pytest.raises(ProgramError, match=r"no HALT"):
        run_program(program("NOP", {}))


def test_accumulate_sequential_semantics():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = 30
        rows = rng.integers(0, 5, n)
        prod = rng.integers(-1000, 1000, (n, 3))
        reset = rng.random(n) < 0.3
        bias = rng.integers(-50, 50, (n, 3))
        ofm = rng.integers(-9, 9, (5, 3))
        expect = ofm.copy()
        for e in range(n):
            expect[rows[e]] = (bias[e] if reset[e] else expect[rows[e]]) + prod[e]
        accumulate(ofm, rows, prod, reset, bias, 32)
        assert np.array_equal(ofm, expect)


@pytest.mark.parametrize("cfg", ["small", "default"])
def test_batched_equals_reference(tiny_room, cfg):
    cfg = CONFIGS[cfg]
    res = compile_network(get_network("unet-tiny"), tiny_room.coords[:400], cfg, seed=4)
    a = run_program(res.program)
    b = run_program(res.program, batch=False)
    assert np.array_equal(a.memory, b.memory) and a.all_match
    assert a.counters["macs"] == b.counters["macs"]
    res = compile_layer(tiny_room.coords[:300], "conv3s2:5:6", cfg, seed=5)
    assert np.array_equal(
        run_program(res.program).memory, run_program(res.program, batch=False).memory
    )
