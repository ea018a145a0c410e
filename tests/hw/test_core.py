"""The whole core in Amaranth's simulator: hand-assembled programs against numpy.

The programs are small and written by hand here (one voxel tile of a layer) so that the
core can be checked independently of the compiler; the compiler's programs run on the
Verilog in sim/ (Verilator, Icarus).
"""

import numpy as np
import pytest

from accss3d.isa import CSRS, ErrorCode, Instr, Kind, encode, pack_rulebook_entry
from accss3d.quant import Requant, wrap
from sspnna.interfaces import MAX_OUTSTANDING
from sspnna.top import Core

from .axi_model import AxiMemModel, simulate
from .configs import SMALL
from .test_csr import axil_read, axil_write

REG = {c.name: c.offset for c in CSRS}
IFM, WGT, RBK, BIAS, OUT = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000


def make_layer(cfg, rng, n_in=20, n_out=12, planes=3):
    R, C = cfg.pe_rows, cfg.pe_cols
    x = rng.integers(-128, 128, (n_in, R))
    w = rng.integers(-128, 128, (planes, R, C))
    bias = rng.integers(-5000, 5000, C)
    runs = []
    for _ in range(planes):
        outs = np.sort(rng.choice(n_out, int(rng.integers(1, n_out + 1)), replace=False))
        ins = rng.integers(0, n_in, len(outs))
        runs.append((ins, outs))
    runs[0] = (rng.integers(0, n_in, n_out), np.arange(n_out))  # every output has a pair
    return x, w, bias, runs


def golden(cfg, x, w, bias, runs, rq):
    acc = np.tile(bias.astype(np.int64), (runs[0][1].size, 1))
    for k, (ins, outs) in enumerate(runs):
        acc[outs] += x[ins].astype(np.int64) @ w[k]
    return rq.apply(wrap(acc, cfg.acc_bits)).astype(np.int8)


def program(cfg, x, w, bias, runs, rq, tokens):
    R, C = cfg.pe_rows, cfg.pe_cols
    mem = bytearray(0x6000)
    mem[IFM : IFM + x.size] = x.astype(np.int8).tobytes()
    mem[WGT : WGT + w.size] = w.astype(np.int8).tobytes()
    mem[BIAS : BIAS + 4 * C] = bias.astype("<i4").tobytes()
    seen, entries, starts = set(), [], []
    for ins, outs in runs:
        starts.append(len(entries))
        for i, o in zip(ins.tolist(), outs.tolist(), strict=True):
            entries.append(pack_rulebook_entry(i, o, o not in seen))
            seen.add(o)
    rbk = np.array(entries, np.uint32)
    mem[RBK : RBK + 4 * len(rbk)] = rbk.tobytes()
    n_out = runs[0][1].size
    t = dict(sn=1) if tokens else {}
    code = [
        Instr.make(
            "LOAD", sub=Kind.IFM, rows=len(x), row_bytes=R, ext_addr=IFM, ext_stride=R, l1_stride=1
        ),
        Instr.make(
            "LOAD",
            sub=Kind.WGT,
            rows=w.shape[0] * R,
            row_bytes=C,
            ext_addr=WGT,
            ext_stride=C,
            l1_stride=1,
        ),
        Instr.make(
            "LOAD",
            sub=Kind.RBK,
            rows=len(rbk),
            row_bytes=4,
            ext_addr=RBK,
            ext_stride=4,
            l1_stride=1,
        ),
        Instr.make("LOAD", sub=Kind.BIAS, rows=1, row_bytes=4 * C, ext_addr=BIAS, **t),
    ]
    if not tokens:
        code.append(Instr.make("SYNC"))
    code.append(Instr.make("CONFIG", multiplier=rq.multiplier, shift=rq.shift, relu=rq.relu))
    for k, (ins, _) in enumerate(runs):
        flags = {}
        if tokens and k == 0:
            flags["wp"] = 1
        if tokens and k == len(runs) - 1:
            flags["sn"] = 1
        code.append(
            Instr.make(
                "COMPUTE",
                wgt_addr=k * R,
                rbk_addr=starts[k],
                pairs=len(ins),
                ifm_stride=1,
                use_first=1,
                **flags,
            )
        )
    if not tokens:
        code.append(Instr.make("SYNC"))
    code.append(
        Instr.make(
            "STORE",
            rows=n_out,
            ext_addr=OUT,
            ext_stride=C,
            channels=C,
            **(dict(wp=1) if tokens else {}),
        )
    )
    code.append(Instr.make("HALT"))
    blob = b"".join(encode(i) for i in code)
    mem[0 : len(blob)] = blob
    return mem, len(code), n_out


def run_core(
    cfg, mem, n_instr, *, stall=0.3, seed=0, limit=20000, mem_limit=None, watchdog=0, probe=None
):
    dut = Core(cfg=cfg)
    model = AxiMemModel(len(mem), cfg, seed=seed, stall=stall)
    model.max_in_flight = 2 * MAX_OUTSTANDING  # two read initiators share the port
    model.mem[:] = mem
    result = {}

    async def tb(ctx):
        bus = dut.csr
        await axil_write(ctx, bus, REG["PROG_ADDR"], 0)
        await axil_write(ctx, bus, REG["PROG_LEN"], n_instr)
        await axil_write(ctx, bus, REG["MEM_LIMIT"], mem_limit or len(mem))
        await axil_write(ctx, bus, REG["WATCHDOG"], watchdog)
        await axil_write(ctx, bus, REG["CTRL"], 1)
        for _ in range(limit):
            await ctx.tick()
            if ctx.get(dut.irq):
                break
        else:
            raise AssertionError(f"core did not finish in {limit} cycles")
        for name in (
            "STATUS",
            "ERROR_CODE",
            "ERROR_PC",
            "CYCLES_LO",
            "MACS_LO",
            "BUSY_LO",
            "INSTRS_LO",
            "RD_BYTES_LO",
            "WR_BYTES_LO",
        ):
            result[name] = await axil_read(ctx, bus, REG[name])
        if probe:
            await probe(ctx, dut)

    simulate(
        dut,
        tb,
        background=[model.read_responder(dut.axi_read), model.write_responder(dut.axi_write)],
        name="core",
    )
    return result, model


@pytest.mark.parametrize("tokens", [False, True], ids=["sync", "tokens"])
def test_core_runs_a_layer(tokens):
    cfg = SMALL
    rng = np.random.default_rng(3)
    x, w, bias, runs = make_layer(cfg, rng)
    rq = Requant.from_scale(1 / 300.0, relu=True)
    mem, n, n_out = program(cfg, x, w, bias, runs, rq, tokens)
    res, model = run_core(cfg, mem, n)
    assert res["STATUS"] & 0b110 == 0b010, res  # done, no error
    got = np.frombuffer(bytes(model.mem[OUT : OUT + n_out * cfg.pe_cols]), np.int8)
    np.testing.assert_array_equal(got.reshape(n_out, -1), golden(cfg, x, w, bias, runs, rq))
    pairs = sum(len(r[0]) for r in runs)
    assert res["MACS_LO"] == pairs * cfg.num_pes and res["BUSY_LO"] == pairs
    assert res["INSTRS_LO"] == n
    assert res["WR_BYTES_LO"] == n_out * cfg.pe_cols


@pytest.mark.parametrize(
    "patch, code",
    [
        (lambda mem: mem.__setitem__(slice(16, 32), bytes(16)), ErrorCode.ILLEGAL_OPCODE),
        (lambda mem: mem.__setitem__(31, 0x80), ErrorCode.RESERVED_BITS),
    ],
    ids=["zeroed instruction", "reserved bit"],
)
def test_illegal_instruction_halts_with_error(patch, code):
    cfg = SMALL
    rng = np.random.default_rng(4)
    x, w, bias, runs = make_layer(cfg, rng)
    mem, n, _ = program(cfg, x, w, bias, runs, Requant(1, 0), False)
    patch(mem)
    res, _ = run_core(cfg, mem, n, stall=0.0)
    assert res["STATUS"] & 0b111 == 0b100  # error, not busy, not done
    assert res["ERROR_CODE"] == code and res["ERROR_PC"] == 1


def test_program_without_halt_and_bad_address():
    cfg = SMALL
    rng = np.random.default_rng(5)
    x, w, bias, runs = make_layer(cfg, rng)
    mem, n, _ = program(cfg, x, w, bias, runs, Requant(1, 0), False)
    res, _ = run_core(cfg, mem, n - 1, stall=0.0)  # PROG_LEN cuts the HALT off
    assert res["ERROR_CODE"] == ErrorCode.PROGRAM_END and res["ERROR_PC"] == n - 1
    res, _ = run_core(cfg, mem, n, stall=0.0, mem_limit=0x4000)  # the BIAS load is beyond
    assert res["ERROR_CODE"] == ErrorCode.EXT_RANGE and res["ERROR_PC"] == 3


def test_watchdog_ends_a_deadlocked_program():
    cfg = SMALL
    code = [Instr.make("COMPUTE", pairs=1, ifm_stride=1, wp=1), Instr.make("HALT")]
    mem = bytearray(0x1000)
    blob = b"".join(encode(i) for i in code)
    mem[: len(blob)] = blob
    res, _ = run_core(cfg, mem, 2, stall=0.0, watchdog=200)
    assert res["ERROR_CODE"] == ErrorCode.WATCHDOG and res["STATUS"] & 0b101 == 0b100
