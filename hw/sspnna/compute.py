"""Owns the compute engine: the rulebook path from COMPUTE instructions to accumulators.

Per COMPUTE instruction (docs/architecture.md): wait for its tokens, preload its weight-plane
tile into the idle weight registers of the array, then stream its rulebook entries one per
cycle: read the entry (RBK), gather the input-feature word it names (IFM), push it through
the skew/multicast interconnect and the PE array, and accumulate the result vector into the
accumulator row it names (index queue with local merging).  FILL entries write the bias to
rows; a NOP sends a marker that completes in order.  Tokens are signalled when an
instruction's last entry has been written.

Pipeline (cycle of issue ``t``): RBK read ``t``; entry decode, address check and IFM read
``t+1``; array input ``t+2``; aligned result ``t+2+L`` (``L = rows + groups - 1``);
accumulator read ``t+2+L``, write ``t+3+L``; tokens ``t+4+L``.

Weight preload: one row per cycle, top row first, starting ``P0``; the entries of that
instruction may issue from ``P0 + 1`` (each row is written before the first entry reaches
it).  ``P0`` must come ``groups`` cycles after the last issue of the entries that used the
same weight registers (two instructions back), so back-to-back runs cost
``max(pairs, rows + 1)`` cycles each (the preload port is busy ``rows + 1`` cycles).
Throughput: one entry (``rows * cols`` MACs) per cycle.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig
from accss3d.isa import ErrorCode, Op

from .accumulator import Accumulator
from .array import PEArray
from .fields import op_layout
from .interconnect import Interconnect, tag_layout
from .interfaces import ErrorSignature, TokenSignature, issue_layout

__all__ = ["ComputeEngine", "job_layout"]


def job_layout() -> data.StructLayout:
    """An accepted instruction, as the streamer needs it."""
    return data.StructLayout(
        {
            "op_compute": 1,
            "op_fill": 1,
            "op_nop": 1,
            "pc": 32,
            "count": 16,
            "rbk_addr": 16,
            "ifm_base": 16,
            "ifm_stride": 8,
            "ifm_offset": 8,
            "ofm_base": 16,
            "use_first": 1,
            "sp": 1,
            "sn": 1,
            "bank": 1,
        }
    )


class ComputeEngine(wiring.Component):
    """COMPUTE/FILL/NOP execution: preload, stream, gather, multiply, accumulate.

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    instr : In(stream.Signature(issue_layout()))
        Instructions of the compute queue.
    prev, next : Out(TokenSignature())
        Token links with the load engine (wait ``wp``, signal ``sp``) and the store engine
        (wait ``wn``, signal ``sn``).
    ifm_addr/ifm_data, wgt_addr/wgt_data, rbk_addr/rbk_data : L1 reads (1-cycle latency)
    acc_raddr, acc_ren, acc_rdata, acc_waddr, acc_wen, acc_wdata : the accumulator SRAM
    bias : In(pe_cols * acc_bits)
    error : Out(ErrorSignature())
        L1_RANGE when an entry's slot or row is outside L1.
    abort : In(1)
        Stop issuing and drain; ``idle`` rises when the pipeline is empty.
    idle : Out(1)
    issue : Out(1)
        An entry of a COMPUTE entered the array this cycle (``rows * cols`` MACs).
    mem_stall : Out(1)
        An instruction waits for a load token.
    acc_write, acc_merge : Out(1)
        Accumulator SRAM writes and merged (saved) writes.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        acc_row = cfg.pe_cols * cfg.acc_bits
        super().__init__(
            {
                "instr": In(stream.Signature(issue_layout())),
                "prev": Out(TokenSignature()),
                "next": Out(TokenSignature()),
                "ifm_addr": Out(16),
                "ifm_data": In(cfg.pe_rows * cfg.act_bits),
                "wgt_addr": Out(16),
                "wgt_data": In(cfg.pe_cols * cfg.weight_bits),
                "rbk_addr": Out(16),
                "rbk_data": In(32),
                "acc_raddr": Out(16),
                "acc_ren": Out(1),
                "acc_rdata": In(acc_row),
                "acc_waddr": Out(16),
                "acc_wen": Out(1),
                "acc_wdata": Out(acc_row),
                "bias": In(acc_row),
                "error": Out(ErrorSignature()),
                "abort": In(1),
                "idle": Out(1),
                "issue": Out(1),
                "mem_stall": Out(1),
                "acc_write": Out(1),
                "acc_merge": Out(1),
            }
        )

    @property
    def depth(self) -> int:
        """Cycles from an entry's issue to its token signal."""
        return self.cfg.pe_rows + self.cfg.groups - 1 + 4

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        R, G = cfg.pe_rows, cfg.groups
        m.submodules.interconnect = ic = Interconnect(cfg=cfg)
        m.submodules.array = arr = PEArray(cfg=cfg)
        m.submodules.accumulator = acc = Accumulator(cfg=cfg)
        m.d.comb += [arr.x.eq(ic.x_out), arr.wsel.eq(ic.wsel_out), ic.psum_in.eq(arr.psum)]
        m.d.comb += [
            acc.psum.eq(ic.psum_out),
            acc.tag.eq(ic.tag_out),
            acc.bias.eq(self.bias),
            self.acc_raddr.eq(acc.raddr),
            self.acc_ren.eq(acc.ren),
            acc.rdata.eq(self.acc_rdata),
            self.acc_waddr.eq(acc.waddr),
            self.acc_wen.eq(acc.wen),
            self.acc_wdata.eq(acc.wdata),
            self.acc_write.eq(acc.writes),
            self.acc_merge.eq(acc.merges),
        ]

        aborting = Signal(name="aborting")
        drained = Signal(name="drained")  # abort done, waiting for it to be released
        drain = Signal(range(self.depth + 2), name="drain")
        halted = Signal(name="halted")  # after a runtime error, until abort

        # ---------------------------------------------------------- preloader
        bits = self.instr.payload.bits
        opcode = bits[:8]
        vc = data.View(op_layout(Op.COMPUTE), bits)
        vf = data.View(op_layout(Op.FILL), bits)
        slot_valid = Signal(name="slot_valid")
        slot = Signal(job_layout(), name="slot")
        next_bank = Signal(name="next_bank")
        since = [Signal(range(G + 1), init=G, name=f"since_bank{b}") for b in range(2)]
        pl_busy = Signal(name="pl_busy")
        pl_i = Signal(range(R + 1), name="pl_i")
        pl_base = Signal(16, name="pl_base")
        pl_bank = Signal(name="pl_bank")

        is_compute = opcode == Op.COMPUTE
        bank_free = Signal(name="bank_free")
        if G > 1:
            with m.If(next_bank):
                m.d.comb += bank_free.eq(since[1] >= G - 1)
            with m.Else():
                m.d.comb += bank_free.eq(since[0] >= G - 1)
        else:
            m.d.comb += bank_free.eq(1)
        tokens_ok = Signal(name="tokens_ok")
        m.d.comb += tokens_ok.eq((~vc.wp | self.prev.avail) & (~vc.wn | self.next.avail))
        accept = Signal(name="accept")
        m.d.comb += accept.eq(
            self.instr.valid
            & ~slot_valid
            & ~pl_busy
            & tokens_ok
            & ~aborting
            & ~halted
            & ~self.abort
            & (~is_compute | bank_free)
        )
        m.d.comb += self.mem_stall.eq(self.instr.valid & vc.wp & ~self.prev.avail & ~aborting)
        m.d.comb += [
            self.instr.ready.eq(accept | aborting | self.abort),
            self.prev.take.eq(accept & vc.wp),
            self.next.take.eq(accept & vc.wn),
        ]
        with m.If(accept):
            m.d.sync += [
                slot_valid.eq(1),
                slot.op_compute.eq(is_compute),
                slot.op_fill.eq(opcode == Op.FILL),
                slot.op_nop.eq(~is_compute & (opcode != Op.FILL)),
                slot.pc.eq(self.instr.payload.pc),
                slot.count.eq(vc.pairs),
                slot.rbk_addr.eq(vc.rbk_addr),
                slot.ifm_base.eq(vc.ifm_base),
                slot.ifm_stride.eq(vc.ifm_stride),
                slot.ifm_offset.eq(vc.ifm_offset),
                slot.ofm_base.eq(vc.ofm_base),
                slot.use_first.eq(vc.use_first),
                slot.sp.eq(vc.sp),
                slot.sn.eq(vc.sn),
                slot.bank.eq(next_bank),
            ]
            with m.If(opcode == Op.FILL):
                m.d.sync += [slot.count.eq(vf.rows), slot.ofm_base.eq(vf.ofm_row)]
            with m.If(is_compute):
                m.d.sync += [
                    pl_busy.eq(1),
                    pl_i.eq(1),
                    pl_base.eq(vc.wgt_addr),
                    pl_bank.eq(next_bank),
                    next_bank.eq(~next_bank),
                ]
        # Weight reads: word 0 in the accept cycle, word i at pl_i = i; row i-1 written.
        with m.If(accept & is_compute):
            m.d.comb += self.wgt_addr.eq(vc.wgt_addr)
        with m.Else():
            m.d.comb += self.wgt_addr.eq(pl_base + pl_i)
        with m.If(pl_busy):
            m.d.comb += [arr.w_we.eq(1), arr.w_row.eq(pl_i - 1), arr.w_bank.eq(pl_bank)]
            for c in range(cfg.pe_cols):
                w = self.wgt_data[c * cfg.weight_bits : (c + 1) * cfg.weight_bits]
                m.d.comb += arr.w_data[c].eq(w.as_signed())
            with m.If(pl_i == R):
                m.d.sync += pl_busy.eq(0)
            with m.Else():
                m.d.sync += pl_i.eq(pl_i + 1)

        # ---------------------------------------------------------- streamer
        run = Signal(name="run")
        cur = Signal(job_layout(), name="cur")
        j = Signal(16, name="entry")
        last = Signal(name="last_entry")
        m.d.comb += last.eq(j == cur.count - 1)
        issuing = Signal(name="issuing")
        m.d.comb += issuing.eq(run & ~aborting & ~halted)
        free = Signal(name="stream_free")
        m.d.comb += free.eq(~run | (issuing & last))
        outstanding = Signal(8, name="outstanding")
        take = Signal(name="take")
        m.d.comb += take.eq(free & slot_valid & ~aborting & ~halted)
        with m.If(take):
            m.d.sync += [cur.eq(slot), slot_valid.eq(0), run.eq(1), j.eq(0)]
        with m.Elif(issuing):
            with m.If(last):
                m.d.sync += run.eq(0)
            with m.Else():
                m.d.sync += j.eq(j + 1)
        m.d.comb += self.rbk_addr.eq(cur.rbk_addr + j)
        m.d.comb += self.issue.eq(issuing & cur.op_compute)
        for b in range(2):
            with m.If(issuing & cur.op_compute & (cur.bank == b)):
                m.d.sync += since[b].eq(0)
            with m.Elif(since[b] < G):
                m.d.sync += since[b].eq(since[b] + 1)

        # Stage 1: the entry arrives from RBK; gather address, checks.
        s1 = Signal(job_layout(), name="s1_job")
        s1_valid = Signal(name="s1_valid")
        s1_last = Signal(name="s1_last")
        s1_j = Signal(16, name="s1_entry")
        m.d.sync += [s1.eq(cur), s1_valid.eq(issuing), s1_last.eq(last), s1_j.eq(j)]
        in_slot = self.rbk_data[:16]
        out_row = self.rbk_data[16:31]
        first = self.rbk_data[31]
        ifm_word = Signal(32, name="s1_ifm_word")
        row = Signal(32, name="s1_row")
        m.d.comb += ifm_word.eq(s1.ifm_base + in_slot * s1.ifm_stride + s1.ifm_offset)
        with m.If(s1.op_fill):
            m.d.comb += row.eq(s1.ofm_base + s1_j)
        with m.Else():
            m.d.comb += row.eq(s1.ofm_base + out_row)
        bad = Signal(name="s1_bad")
        m.d.comb += bad.eq(
            s1_valid
            & s1.op_compute
            & ~halted
            & ((ifm_word >= cfg.words("ifm")) | (row >= cfg.words("ofm")))
        )
        m.d.comb += self.ifm_addr.eq(ifm_word)
        with m.If(bad):
            m.d.sync += halted.eq(1)
        m.d.comb += [
            self.error.valid.eq(bad),
            self.error.code.eq(ErrorCode.L1_RANGE),
            self.error.pc.eq(s1.pc),
        ]

        # Stage 2: the input feature word arrives; into the interconnect.
        s2_tag = Signal(tag_layout(), name="s2_tag")
        s2_bank = Signal(name="s2_bank")
        ok = s1_valid & ~bad & ~aborting
        m.d.sync += [
            s2_tag.valid.eq(ok & (s1.op_compute | s1.op_fill)),
            s2_tag.row.eq(row),
            s2_tag.first.eq(s1.use_first & first & s1.op_compute),
            s2_tag.fill.eq(s1.op_fill),
            s2_tag.last.eq(ok & s1_last),
            s2_tag.sp.eq(s1.sp),
            s2_tag.sn.eq(s1.sn),
            s2_bank.eq(s1.bank),
        ]
        for r in range(R):
            m.d.comb += ic.x_in[r].eq(
                self.ifm_data[r * cfg.act_bits : (r + 1) * cfg.act_bits].as_signed()
            )
        m.d.comb += [ic.tag_in.eq(s2_tag), ic.wsel_in.eq(s2_bank)]

        # ---------------------------------------------------------- completion, tokens
        done = acc.done & ~aborting
        m.d.comb += [
            self.prev.give.eq(acc.done_sp & ~aborting),
            self.next.give.eq(acc.done_sn & ~aborting),
        ]
        with m.If(take & ~done):
            m.d.sync += outstanding.eq(outstanding + 1)
        with m.Elif(done & ~take):
            m.d.sync += outstanding.eq(outstanding - 1)

        # ---------------------------------------------------------- abort
        with m.If(self.abort & ~aborting & ~drained):
            m.d.sync += [
                aborting.eq(1),
                drain.eq(self.depth + 1),
                run.eq(0),
                slot_valid.eq(0),
                pl_busy.eq(0),
            ]
        with m.If(aborting):
            with m.If(drain == 0):
                m.d.sync += [aborting.eq(0), drained.eq(1), outstanding.eq(0), halted.eq(0)]
            with m.Else():
                m.d.sync += drain.eq(drain - 1)
        with m.If(~self.abort):
            m.d.sync += drained.eq(0)
        m.d.comb += self.idle.eq(
            ~aborting
            & ~run
            & ~slot_valid
            & ~pl_busy
            & (outstanding == 0)
            & ~s1_valid
            & ~s2_tag.valid
        )
        return m
