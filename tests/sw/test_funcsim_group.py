"""accss3d.funcsim: the compiled engine (accss3d.funcjit, the default) and the grouped numpy path
(each rulebook run, input gather and weight tile read once per version, COMPUTEs of a run
fused) against the per-COMPUTE reference - same memory, same counters, and the same verdict
(the same one-line race) on programs with tokens dropped; the compiled engine flags the first
violation in program order, named as the one-at-a-time reference names it."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accss3d import funcjit
from accss3d.arch import CONFIGS
from accss3d.compiler import compile_layer, compile_network
from accss3d.errors import ProgramError
from accss3d.funcsim import run_program
from accss3d.isa import Op
from accss3d.isatable import COL, DIRECTIONS, check_legal, check_tokens, engine_of, program_end
from accss3d.network import get_network
from accss3d.program import Program


def outcome(program: Program, **kw):
    """(memory, counters) of a run, or the error message."""
    try:
        out = run_program(program, **kw)
    except ProgramError as exc:
        return str(exc)
    c = out.counters
    return out.memory.tobytes(), (c["macs"], c["pairs"], c["rd_bytes"], c["wr_bytes"])


def jit_flags(program: Program):
    """The instruction the compiled engine flags (None: it runs through)."""
    code = program.code
    check_legal(code, program.cfg, program.mem_bytes)
    end = program_end(code)
    check_tokens(code)
    K = funcjit.knowledge(code, end)
    status, n, _, _ = funcjit.execute(program, program.memory(), end, K, True)
    return None if status == funcjit.OK else n


def like_sequential(program: Program):
    """The outcome of the one-instruction-at-a-time reference, after checking that the
    compiled engine (the default) gives the same and flags the instruction it names."""
    seq = outcome(program, batch=False)
    assert outcome(program) == seq
    flagged = jit_flags(program)
    if isinstance(seq, str):
        assert flagged == int(re.match(r"instruction (\d+):", seq).group(1))
    else:
        assert flagged is None
    return seq


def with_code(program: Program, code: np.ndarray) -> Program:
    p = program
    return Program(p.cfg, code, p.image, p.image_base, p.mem_bytes, p.manifest, p.prog_addr)


@pytest.fixture(scope="module")
def programs(tiny_room):
    coords = tiny_room.coords
    return {
        "net-small": compile_network(get_network("unet-tiny"), coords[:400], CONFIGS["small"]),
        "net-default": compile_network(
            get_network("unet-tiny"), coords[:600], CONFIGS["default"], seed=2
        ),
        "subm": compile_layer(coords[:500], "subm3:9:6", CONFIGS["small"], seed=1),
        "conv": compile_layer(coords[:500], "conv2s2:6:9", CONFIGS["small"], seed=2),
        "deconv": compile_layer(coords[:500], "deconv3s2:9:5", CONFIGS["small"], seed=3),
    }


@pytest.mark.parametrize("name", ["net-small", "net-default", "subm", "conv", "deconv"])
def test_grouped_equals_reference(programs, name):
    prog = programs[name].program
    ref = outcome(prog, group=False)
    assert isinstance(ref, tuple)
    assert outcome(prog) == ref
    assert outcome(prog, engine="numpy") == ref
    assert outcome(prog, batch=False) == ref
    assert outcome(prog, check_races=False) == ref
    assert outcome(prog, check_races=False, engine="numpy") == ref
    assert run_program(prog).all_match


def drop_token_pairs(code: np.ndarray, rng: np.random.Generator, p: float, dirs=None):
    """Drop random (signal, wait) pairs of the directions ``dirs`` (default: all): the k-th
    signal of a direction and its k-th wait (the program stays token-consistent, but may
    race)."""
    code = code.copy()
    eng = engine_of(code)
    for d, (_, prod, pbit, cons, cbit) in enumerate(DIRECTIONS):
        if dirs is not None and d not in dirs:
            continue
        sig = np.flatnonzero((eng == int(prod)) & (code[:, COL[pbit]] != 0))
        wait = np.flatnonzero((eng == int(cons)) & (code[:, COL[cbit]] != 0))
        n = min(len(sig), len(wait))
        drop = np.flatnonzero(rng.random(n) < p)
        code[sig[drop], COL[pbit]] = 0
        code[wait[drop], COL[cbit]] = 0
    return code


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["net-small", "subm", "conv", "deconv"]),
    seed=st.integers(0, 2**32 - 1),
    p=st.sampled_from([0.002, 0.02, 0.2]),
    dirs=st.sets(st.integers(0, len(DIRECTIONS) - 1), min_size=1),
)
def test_dropped_tokens_same_verdict(programs, name, seed, p, dirs):
    prog = programs[name].program
    code = drop_token_pairs(prog.code, np.random.default_rng(seed), p, dirs)
    mutant = with_code(prog, code)
    ref = outcome(mutant, group=False)
    assert outcome(mutant, engine="numpy") == ref
    # The compiled engine stops at the first violation in program order and names it as
    # the one-instruction-at-a-time reference does (the batched paths may name a later one
    # of the same batch).
    seq = like_sequential(mutant)
    assert isinstance(seq, str) == isinstance(ref, str)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(["subm", "conv", "deconv"]), seed=st.integers(0, 2**32 - 1))
def test_shuffled_sequential_semantics(programs, name, seed):
    """Tokens stripped and instructions moved within small windows: the sequential semantics
    (races unchecked) of the two paths agree."""
    prog = programs[name].program
    code = prog.code.copy()
    for bit in ("wp", "wn", "sp", "sn"):
        code[:, COL[bit]] = 0
    rng = np.random.default_rng(seed)
    end = len(code) - 1  # HALT stays last
    key = np.arange(end) + rng.integers(0, 12, end)
    code[:end] = code[:end][np.argsort(key, kind="stable")]
    mutant = with_code(prog, code)
    ref = outcome(mutant, group=False, check_races=False)
    assert outcome(mutant, check_races=False) == ref
    assert outcome(mutant, check_races=False, engine="numpy") == ref
    assert outcome(mutant, check_races=False, batch=False) == ref


def test_hand_written_versions_and_fusion():
    """LOADs that overwrite part of each other, a rulebook reloaded between two COMPUTEs of
    the same run, a STORE between two Cin tiles (no fusion): both paths agree."""
    from test_funcsim import BIAS, W, X, program

    from accss3d.isa import pack_rulebook_entry

    words = pack_rulebook_entry([0, 1, 2], [0, 1, 0], [1, 1, 0])
    other = pack_rulebook_entry([2, 1, 0], [1, 0, 1], [1, 0, 1])
    text = """\
LOAD.WGT l1_addr=0 rows=2 ext_addr=0x100 row_bytes=16 ext_stride=16 l1_stride=4
LOAD.IFM l1_addr=0 rows=3 ext_addr=0x110 row_bytes=4 ext_stride=4 l1_stride=1
LOAD.IFM l1_addr=1 rows=1 ext_addr=0x114 row_bytes=4 l1_stride=1
LOAD.BIAS rows=1 ext_addr=0x120 row_bytes=16 l1_stride=1
LOAD.RBK l1_addr=0 rows=1 ext_addr=0x140 row_bytes=12 l1_stride=3 sn
COMPUTE pairs=3 ifm_stride=1 use_first wp
COMPUTE pairs=3 ifm_stride=1 wgt_addr=2 sn
STORE.RAW rows=2 ext_addr=0x200 ext_stride=16 channels=4 wp sp
COMPUTE pairs=3 ifm_stride=1 wgt_addr=1 wn sp
LOAD.RBK l1_addr=0 rows=1 ext_addr=0x150 row_bytes=12 l1_stride=3 wn sn
COMPUTE pairs=3 ifm_stride=1 wgt_addr=1 wp sn
STORE.RAW rows=2 ext_addr=0x220 ext_stride=16 channels=4 wp
HALT
"""
    data = {0x100: np.concatenate([W, W[::-1]]), 0x110: X, 0x120: BIAS, 0x140: words, 0x150: other}
    prog = program(text, data)
    ref = outcome(prog, group=False)
    assert isinstance(ref, tuple)
    assert outcome(prog) == ref
    assert outcome(prog, engine="numpy") == ref
    assert outcome(prog, batch=False) == ref


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_events_reads_in_order(seed):
    """Accumulator events with resets and reads, against one after the other."""
    from accss3d.funcsim import _events

    rng = np.random.default_rng(seed)
    n, nrows = int(rng.integers(1, 60)), int(rng.integers(1, 6))
    rows = rng.integers(0, nrows, n)
    read = rng.random(n) < 0.3
    reset = ~read & (rng.random(n) < 0.3)
    prod = np.where(read[:, None], 0, rng.integers(-1000, 1000, (n, 3)))
    bias = rng.integers(-50, 50, (n, 3))
    ofm = rng.integers(-9, 9, (nrows, 3))
    pos = rng.permutation(n)  # program order
    expect, seen = ofm.copy(), {}
    for e in np.argsort(pos):
        r = rows[e]
        if read[e]:
            seen[e] = expect[r].copy()
        else:
            expect[r] = (bias[e] if reset[e] else expect[r]) + prod[e]
    (frows, fvals), values = _events(ofm, rows, pos, prod, reset, read, bias)
    got = ofm.copy()
    got[frows] = fvals
    assert np.array_equal(got, expect)
    want = [seen[e] for e in np.flatnonzero(read)]
    assert np.array_equal(values, np.array(want).reshape(-1, 3))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["subm", "conv", "deconv"]),
    hits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 2**32 - 1)),
        min_size=1,
        max_size=6,
    ),
)
def test_corrupted_image_same_outcome(programs, name, hits):
    """Random 32-bit words of the memory image overwritten (rulebook entries naming slots and
    rows outside L1, other weights, features, biases): the compiled engine gives the memory
    or the message of the one-at-a-time reference, never an access out of its arrays."""
    prog = programs[name].program
    image = bytearray(prog.image)
    for where, value in hits:
        at = 4 * int(where * (len(image) // 4))
        image[at : at + 4] = value.to_bytes(4, "little")
    mutant = Program(
        prog.cfg, prog.code, bytes(image), prog.image_base, prog.mem_bytes, prog.manifest,
        prog.prog_addr,
    )  # fmt: skip
    like_sequential(mutant)


PSUM_PROGRAM = """\
LOAD.WGT l1_addr=0 rows=2 ext_addr=0x100 row_bytes=16 ext_stride=16 l1_stride=4
LOAD.IFM l1_addr=0 rows=3 ext_addr=0x110 row_bytes=4 ext_stride=4 l1_stride=1
LOAD.BIAS rows=1 ext_addr=0x120 row_bytes={brb} l1_stride=1
LOAD.PSUM l1_addr=0 rows=2 ext_addr=0x180 row_bytes={prb} ext_stride=16 l1_stride=1
LOAD.RBK l1_addr=0 rows=1 ext_addr=0x140 row_bytes=12 l1_stride=3 sn
COMPUTE pairs=3 ifm_stride=1 {uf} wp
FILL ofm_row=2 rows=2
COMPUTE pairs=3 ifm_stride=1 wgt_addr=4 sn
SYNC
CONFIG multiplier={mult} shift={shift} relu={relu}
STORE.RAW rows=4 ext_addr=0x200 ext_stride=16 channels=4 wp
STORE.REQUANT rows=4 ext_addr=0x260 ext_stride=4 channels={ch}
SYNC
LOAD.PSUM l1_addr=1 rows=2 ext_addr=0x200 row_bytes={prb2} ext_stride=16 l1_stride=2
LOAD.BIAS rows=1 ext_addr=0x130 row_bytes=16 l1_stride=1 sn
COMPUTE pairs=3 ifm_stride=1 use_first wp sn
STORE.RAW rows=4 ext_addr=0x2a0 ext_stride=16 channels=4 wp
HALT
"""


@settings(max_examples=40, deadline=None)
@given(
    brb=st.sampled_from([4, 8, 16]),
    prb=st.sampled_from([4, 8, 12, 16]),
    prb2=st.sampled_from([6, 16, 32]),
    uf=st.booleans(),
    quant=st.tuples(st.integers(0, 1 << 15), st.integers(0, 47), st.booleans()),
    ch=st.integers(1, 4),
    entries=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 260), st.booleans()), min_size=3, max_size=3
    ),
    drop_sync=st.booleans(),
    p=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_psum_fill_store_programs(brb, prb, prb2, uf, quant, ch, entries, drop_sync, p, seed):
    """Partial-sum loads of partial rows (also of what a STORE wrote), FILL, partial bias
    loads, requantizing and raw STOREs, rulebook entries beyond L1, SYNCs and token pairs
    dropped: the compiled engine gives the memory, counters or message of the one-at-a-time
    reference, the batched paths agree."""
    from test_funcsim import BIAS, W, X, program

    from accss3d.isa import pack_rulebook_entry

    slot, row, first = (list(c) for c in zip(*entries, strict=True))
    words = pack_rulebook_entry(slot, row, first)
    text = PSUM_PROGRAM.format(
        brb=brb, prb=prb, prb2=prb2, uf="use_first" if uf else "", mult=quant[0],
        shift=quant[1], relu=int(quant[2]), ch=ch,
    )  # fmt: skip
    data = {
        0x100: np.concatenate([W, W[::-1]]),
        0x110: X,
        0x120: BIAS,
        0x130: BIAS[::-1].copy(),
        0x140: words,
        0x180: np.arange(8, dtype="<i4") * -1000,
    }
    prog = program(text, data)
    code = prog.code
    if drop_sync:
        code = code[code[:, COL["op"]] != int(Op.SYNC)]
    code = drop_token_pairs(code, np.random.default_rng(seed), p)
    mutant = with_code(prog, code)
    like_sequential(mutant)
    assert outcome(mutant, engine="numpy") == outcome(mutant, group=False)
