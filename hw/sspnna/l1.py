"""Owns the banked L1: input-feature, weight, rulebook and accumulator SRAM banks, and bias.

Each bank kind has ``*_banks`` banks; each bank is one ``lib.memory.Memory`` with one write
port (byte enables) and one synchronous read port, so synthesis can map it to a single-port
style SRAM macro with separate read/write (1R1W).  A physical row is
:func:`sspnna.interfaces.phys_bytes` wide.

Ports and arbitration
---------------------
* ``dma``: bus beats from the load engine into any kind (IFM, WGT, RBK, PSUM = accumulator
  banks, BIAS); never stalls.  In an accumulator bank the accumulate write has priority: a
  PSUM beat colliding with it in the same cycle and bank is lost (only a program whose
  tokens do not order the two can cause that; the functional model calls it a race).
* ``ifm``/``wgt``/``rbk`` read: address in, data one cycle later (RBK: one entry of a
  possibly multi-entry row, selected by the low address bits).
* accumulator: ``acc_r*`` read (data one cycle later) and ``acc_w*`` write, used by the
  accumulate pipeline every cycle if it needs to.
* ``st``: the store engine's row reads, a stream accepted in cycles where the accumulator
  does not read the same bank; data one cycle after acceptance.

Latency: 1 cycle for every read.  Throughput: one read and one write per bank per cycle.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig
from accss3d.isa import Kind

from .interfaces import L1WriteSignature, phys_bytes, phys_rows

__all__ = ["L1"]


class _Kind:
    """Geometry of one bank kind."""

    def __init__(self, cfg: ArchConfig, kind: str):
        self.name = kind
        self.phys = phys_bytes(cfg, kind)
        self.rows = phys_rows(cfg, kind)
        self.banks = getattr(cfg, f"{kind}_banks")
        self.bank_rows = self.rows // self.banks

    def bank_of(self, m: Module, row, name: str):
        """(bank index signal, row-within-bank signal) of a physical row address."""
        bank = Signal(range(max(self.banks, 2)), name=f"{name}_bank")
        local = Signal(range(max(self.bank_rows, 2)), name=f"{name}_local")
        m.d.comb += [bank.eq(0), local.eq(row)]
        for b in range(1, self.banks):
            with m.If(row >= b * self.bank_rows):
                m.d.comb += [bank.eq(b), local.eq(row - b * self.bank_rows)]
        return bank, local


class L1(wiring.Component):
    """The core's L1 memories.

    Parameters
    ----------
    cfg : ArchConfig

    Members
    -------
    dma : In(L1WriteSignature(cfg))
        Beats from the load engine.
    ifm_addr : In(16), ifm_data : Out(pe_rows * act_bits)
    wgt_addr : In(16), wgt_data : Out(pe_cols * weight_bits)
    rbk_addr : In(16), rbk_data : Out(32)
        Word reads (data one cycle after the address).
    acc_raddr : In(16), acc_ren : In(1), acc_rdata : Out(pe_cols * acc_bits)
    acc_waddr : In(16), acc_wen : In(1), acc_wdata : In(pe_cols * acc_bits)
        The accumulate pipeline's row read and write (priority over ``st`` and PSUM beats).
    st : In(stream.Signature(16)), st_data : Out(pe_cols * acc_bits)
        The store engine's row reads.
    bias : Out(pe_cols * acc_bits)
        The bias vector (LOAD kind BIAS).
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        acc_row = cfg.pe_cols * cfg.acc_bits
        super().__init__(
            {
                "dma": In(L1WriteSignature(cfg)),
                "ifm_addr": In(16),
                "ifm_data": Out(cfg.pe_rows * cfg.act_bits),
                "wgt_addr": In(16),
                "wgt_data": Out(cfg.pe_cols * cfg.weight_bits),
                "rbk_addr": In(16),
                "rbk_data": Out(32),
                "acc_raddr": In(16),
                "acc_ren": In(1),
                "acc_rdata": Out(acc_row),
                "acc_waddr": In(16),
                "acc_wen": In(1),
                "acc_wdata": In(acc_row),
                "st": In(stream.Signature(16)),
                "st_data": Out(acc_row),
                "bias": Out(acc_row),
            }
        )

    def _dma_write(self, m, geo: _Kind, wp, bank_index: int, sel, local, kind_code: int):
        """Connect the DMA beat to one bank's write port (lane placement, byte enables)."""
        cfg = self.cfg
        beat = cfg.bus_bytes
        lanes = geo.phys // beat
        hit = Signal(name=f"{geo.name}{bank_index}_dma_hit")
        m.d.comb += hit.eq(self.dma.en & (self.dma.kind == kind_code) & (sel == bank_index))
        m.d.comb += wp.addr.eq(local)
        if lanes == 1:
            m.d.comb += [wp.data.eq(self.dma.data), wp.en.eq(Mux(hit, self.dma.be, 0))]
        else:
            lane = self.dma.lane[: max((lanes - 1).bit_length(), 1)]
            m.d.comb += [
                wp.data.eq(self.dma.data.replicate(lanes)),
                wp.en.eq(Mux(hit, self.dma.be << (lane * beat), 0)),
            ]
        return hit

    def _read_kind(self, m, geo: _Kind, addr, out, kind_code: int, word_select=None):
        """Banks of a read-only (from the array's side) kind with a DMA write port."""
        sel_w, local_w = geo.bank_of(m, self.dma.row, f"{geo.name}_w")
        sel_r, local_r = geo.bank_of(m, addr, f"{geo.name}_r")
        sel_q = Signal.like(sel_r, name=f"{geo.name}_rsel")
        m.d.sync += sel_q.eq(sel_r)
        datas = []
        for b in range(geo.banks):
            mem = memory.Memory(shape=geo.phys * 8, depth=geo.bank_rows, init=[])
            m.submodules[f"{geo.name}{b}"] = mem
            wp = mem.write_port(granularity=8)
            rp = mem.read_port()
            self._dma_write(m, geo, wp, b, sel_w, local_w, kind_code)
            m.d.comb += rp.addr.eq(local_r)
            datas.append(rp.data)
        row = Signal(geo.phys * 8, name=f"{geo.name}_row")
        m.d.comb += row.eq(datas[0])
        for b in range(1, geo.banks):
            with m.If(sel_q == b):
                m.d.comb += row.eq(datas[b])
        if word_select is None:
            m.d.comb += out.eq(row)
        else:
            m.d.comb += out.eq(row.word_select(word_select, len(out)))

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        ifm, wgt, rbk, ofm = (_Kind(cfg, k) for k in ("ifm", "wgt", "rbk", "ofm"))
        self._read_kind(m, ifm, self.ifm_addr, self.ifm_data, Kind.IFM)
        self._read_kind(m, wgt, self.wgt_addr, self.wgt_data, Kind.WGT)
        # RBK: an entry address selects a physical row and a 32-bit lane in it.
        per_row = rbk.phys // 4
        shift = (per_row - 1).bit_length()
        rbk_row = Signal(16, name="rbk_row")
        lane = Signal(max(shift, 1), name="rbk_lane")
        lane_q = Signal.like(lane, name="rbk_lane_q")
        m.d.comb += rbk_row.eq(self.rbk_addr >> shift)
        if shift:
            m.d.comb += lane.eq(self.rbk_addr[:shift])
        m.d.sync += lane_q.eq(lane)
        self._read_kind(
            m, rbk, rbk_row, self.rbk_data, Kind.RBK, word_select=lane_q if shift else Const(0)
        )

        # Accumulator banks: accumulate pipeline (priority), store reads, PSUM beats.
        sel_aw, local_aw = ofm.bank_of(m, self.acc_waddr, "acc_w")
        sel_ar, local_ar = ofm.bank_of(m, self.acc_raddr, "acc_r")
        sel_st, local_st = ofm.bank_of(m, self.st.payload, "st_r")
        sel_dw, local_dw = ofm.bank_of(m, self.dma.row, "ofm_dma")
        st_ok = Signal(name="st_ok")
        m.d.comb += st_ok.eq(~self.acc_ren | (sel_ar != sel_st))
        m.d.comb += self.st.ready.eq(st_ok)
        sel_ar_q = Signal.like(sel_ar, name="acc_rsel_q")
        sel_st_q = Signal.like(sel_st, name="st_rsel_q")
        m.d.sync += [sel_ar_q.eq(sel_ar), sel_st_q.eq(sel_st)]
        acc_rows, st_rows = [], []
        nbytes = ofm.phys
        for b in range(ofm.banks):
            mem = memory.Memory(shape=nbytes * 8, depth=ofm.bank_rows, init=[])
            m.submodules[f"ofm{b}"] = mem
            wp = mem.write_port(granularity=8)
            rp = mem.read_port()
            acc_w = Signal(name=f"ofm{b}_acc_w")
            m.d.comb += acc_w.eq(self.acc_wen & (sel_aw == b))
            with m.If(acc_w):
                m.d.comb += [
                    wp.addr.eq(local_aw),
                    wp.data.eq(self.acc_wdata),
                    wp.en.eq(Const((1 << nbytes) - 1, nbytes)),
                ]
            with m.Else():
                self._dma_write(m, ofm, wp, b, sel_dw, local_dw, Kind.PSUM)
            acc_r = Signal(name=f"ofm{b}_acc_r")
            m.d.comb += acc_r.eq(self.acc_ren & (sel_ar == b))
            m.d.comb += rp.addr.eq(Mux(acc_r, local_ar, local_st))
            acc_rows.append(rp.data)
            st_rows.append(rp.data)
        m.d.comb += [self.acc_rdata.eq(acc_rows[0]), self.st_data.eq(st_rows[0])]
        for b in range(1, ofm.banks):
            with m.If(sel_ar_q == b):
                m.d.comb += self.acc_rdata.eq(acc_rows[b])
            with m.If(sel_st_q == b):
                m.d.comb += self.st_data.eq(st_rows[b])

        # Bias: one register row written by BIAS beats.
        bias = Signal(cfg.pe_cols * cfg.acc_bits, name="bias_reg")
        beat = cfg.bus_bytes
        for byte in range(cfg.pe_cols * cfg.acc_bits // 8):
            ln, off = divmod(byte, beat)
            with m.If(
                self.dma.en
                & (self.dma.kind == Kind.BIAS)
                & (self.dma.lane == ln)
                & self.dma.be[off]
            ):
                m.d.sync += bias[byte * 8 : (byte + 1) * 8].eq(
                    self.dma.data[off * 8 : (off + 1) * 8]
                )
        m.d.comb += self.bias.eq(bias)
        return m
