"""Owns the AXI plumbing of the core: the read arbiter and the flat top-level AXI ports.

* :class:`AxiReadArbiter` shares one AXI4 read port between the load engine
  (``ID_LOAD``) and the fetch unit (``ID_FETCH``).
* :func:`axi4_master_members` / :func:`connect_axi4_master` and
  :func:`axil_slave_members` / :func:`connect_axil_slave` expose the nested stream
  interfaces as flat ports named the way cocotbext-axi (``AxiBus.from_prefix``) and
  vendor IP integrators expect: ``m_axi_arvalid``, ``m_axi_araddr``, ... and
  ``s_axil_awaddr``, ...

Example (a top-level ``elaborate``)::

    super().__init__({**axi4_master_members(cfg), **axil_slave_members(), ...})
    ...
    connect_axi4_master(m, self, read=arbiter.bus, write=store.axi)
    connect_axil_slave(m, self, csr.bus)

# Ref: AMBA AXI4 / AXI4-Lite (ARM IHI 0022); cocotbext-axi 0.1.28 ``axi_channels.py``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from accss3d.arch import ArchConfig

from .interfaces import AXI_ID_BITS, ID_FETCH, ID_LOAD, AxiReadSignature

__all__ = [
    "AxiReadArbiter",
    "axi4_master_members",
    "connect_axi4_master",
    "axil_slave_members",
    "connect_axil_slave",
]

# (channel, stream payload field, flat name suffix) of the AXI4 signals carried by the
# nested streams; the channel's valid/ready are ``<ch>valid`` / ``<ch>ready``.
_AXI4_FIELDS = {
    "ar": (("id", "arid"), ("addr", "araddr"), ("len", "arlen"), ("size", "arsize"),
           ("burst", "arburst")),
    "r": (("id", "rid"), ("data", "rdata"), ("resp", "rresp"), ("last", "rlast")),
    "aw": (("id", "awid"), ("addr", "awaddr"), ("len", "awlen"), ("size", "awsize"),
           ("burst", "awburst")),
    "w": (("data", "wdata"), ("strb", "wstrb"), ("last", "wlast")),
    "b": (("id", "bid"), ("resp", "bresp")),
}  # fmt: skip
#: Optional AXI4 master outputs tied to 0 (normal, non-secure data access, no lock/QoS).
_AXI4_TIED = {"lock": 1, "cache": 4, "prot": 3, "qos": 4}
_AXIL_FIELDS = {
    "aw": (("addr", "awaddr"),),
    "w": (("data", "wdata"), ("strb", "wstrb")),
    "b": (("resp", "bresp"),),
    "ar": (("addr", "araddr"),),
    "r": (("data", "rdata"), ("resp", "rresp")),
}
_READ = ("ar", "r")
_WRITE = ("aw", "w", "b")
#: Channels whose payload travels from the initiator to the responder.
_FORWARD = ("ar", "aw", "w")


def _widths(cfg: ArchConfig) -> dict[str, int]:
    return {
        "id": AXI_ID_BITS,
        "addr": cfg.addr_bits,
        "len": 8,
        "size": 3,
        "burst": 2,
        "data": cfg.bus_data_bits,
        "strb": cfg.bus_bytes,
        "resp": 2,
        "last": 1,
    }


def _members(prefix, fields, widths, channels, initiator):
    """Flat members of some channels, directions seen from the initiator (or responder)."""
    out = {}
    for ch in channels:
        forward = ch in _FORWARD
        there, back = (Out, In) if forward == initiator else (In, Out)
        out[f"{prefix}_{ch}valid"] = there(1)
        out[f"{prefix}_{ch}ready"] = back(1)
        for field, name in fields[ch]:
            out[f"{prefix}_{name}"] = there(widths[field])
    return out


def _connect(m, ports, prefix, fields, iface, channels, initiator):
    """Wire nested streams ``iface.<ch>`` to the flat ports of ``ports``."""
    for ch in channels:
        stream = getattr(iface, ch)
        flat = {name: getattr(ports, f"{prefix}_{name}") for _, name in fields[ch]}
        valid = getattr(ports, f"{prefix}_{ch}valid")
        ready = getattr(ports, f"{prefix}_{ch}ready")
        if (ch in _FORWARD) == initiator:  # the flat side drives out what the stream offers
            m.d.comb += [valid.eq(stream.valid), stream.ready.eq(ready)]
            m.d.comb += [flat[name].eq(getattr(stream.payload, f)) for f, name in fields[ch]]
        else:
            m.d.comb += [stream.valid.eq(valid), ready.eq(stream.ready)]
            m.d.comb += [getattr(stream.payload, f).eq(flat[name]) for f, name in fields[ch]]


def axi4_master_members(
    cfg: ArchConfig, prefix: str = "m_axi", *, read: bool = True, write: bool = True,
    tied: bool = True,
) -> dict[str, wiring.Member]:  # fmt: skip
    """Signature members of a flat AXI4 master port (``<prefix>_arvalid``, ...).

    ``tied`` adds the optional ``*lock``, ``*cache``, ``*prot``, ``*qos`` outputs (driven to
    0 by :func:`connect_axi4_master`).
    """
    channels = (_READ if read else ()) + (_WRITE if write else ())
    out = _members(prefix, _AXI4_FIELDS, _widths(cfg), channels, initiator=True)
    if tied:
        for ch in ("ar",) * read + ("aw",) * write:
            for name, width in _AXI4_TIED.items():
                out[f"{prefix}_{ch}{name}"] = Out(width)
    return out


def connect_axi4_master(m: Module, ports, prefix: str = "m_axi", *, read=None, write=None):
    """Connect ``read`` (an ``AxiReadSignature`` initiator) and ``write`` (an
    ``AxiWriteSignature`` initiator) to the flat ports of ``ports`` made by
    :func:`axi4_master_members`; tie the optional outputs present to 0."""
    if read is not None:
        _connect(m, ports, prefix, _AXI4_FIELDS, read, _READ, initiator=True)
    if write is not None:
        _connect(m, ports, prefix, _AXI4_FIELDS, write, _WRITE, initiator=True)
    for ch in ("ar", "aw"):
        for name in _AXI4_TIED:
            port = getattr(ports, f"{prefix}_{ch}{name}", None)
            if port is not None:
                m.d.comb += port.eq(0)


def axil_slave_members(prefix: str = "s_axil", addr_bits: int = 8) -> dict[str, wiring.Member]:
    """Signature members of a flat AXI4-Lite slave port (``<prefix>_awaddr``, ...)."""
    widths = {"addr": addr_bits, "data": 32, "strb": 4, "resp": 2}
    return _members(prefix, _AXIL_FIELDS, widths, tuple(_AXIL_FIELDS), initiator=False)


def connect_axil_slave(m: Module, ports, bus, prefix: str = "s_axil"):
    """Connect ``bus`` (a flipped ``AxiLiteSignature``: the responder's side) to the flat
    ports of ``ports`` made by :func:`axil_slave_members`."""
    _connect(m, ports, prefix, _AXIL_FIELDS, bus, tuple(_AXIL_FIELDS), initiator=False)


class AxiReadArbiter(wiring.Component):
    """Two AXI4 read initiators (load engine, fetch unit) onto one read port.

    Parameters
    ----------
    cfg : ArchConfig
        Uses ``addr_bits`` and ``bus_data_bits``.

    Members
    -------
    load : In(AxiReadSignature(cfg))
        The load engine's read channels; its ARID is forced to ``ID_LOAD``.
    fetch : In(AxiReadSignature(cfg))
        The fetch unit's read channels; its ARID is forced to ``ID_FETCH``.
    bus : Out(AxiReadSignature(cfg))
        The shared read port.

    AR requests are granted round-robin, one burst request per handshake (a burst is never
    split); a request offered and not yet accepted keeps the grant, so the AR payload is
    stable as AXI requires.  R beats are routed by RID (``ID_LOAD`` -> ``load``,
    ``ID_FETCH`` -> ``fetch``; any other RID is accepted and dropped).

    Latency and throughput: combinational in both directions (no added cycle), one AR per
    cycle and one R beat per cycle.
    """

    def __init__(self, *, cfg: ArchConfig):
        if not isinstance(cfg, ArchConfig):
            raise TypeError(f"cfg must be an ArchConfig, not {cfg!r}")
        super().__init__(
            {
                "load": In(AxiReadSignature(cfg)),
                "fetch": In(AxiReadSignature(cfg)),
                "bus": Out(AxiReadSignature(cfg)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        ports = (self.load, self.fetch)
        ids = (ID_LOAD, ID_FETCH)
        ar = self.bus.ar

        locked = Signal(name="locked")  # offered last cycle and not accepted: keep the grant
        grant = Signal(name="grant")  # 0: load, 1: fetch
        last = Signal(name="last_served")
        choice = Signal(name="choice")
        sel = Signal(name="sel")
        # round robin: the other initiator when it asks, else the one that asks
        m.d.comb += [
            choice.eq(
                Mux(
                    ports[0].ar.valid & ports[1].ar.valid,
                    ~last,
                    ports[1].ar.valid,
                )
            ),
            sel.eq(Mux(locked, grant, choice)),
            ar.valid.eq(Mux(sel, ports[1].ar.valid, ports[0].ar.valid)),
        ]
        for index, (port, axi_id) in enumerate(zip(ports, ids, strict=True)):
            with m.If(sel == index):
                m.d.comb += [ar.payload.eq(port.ar.payload), ar.payload.id.eq(axi_id)]
            m.d.comb += port.ar.ready.eq((sel == index) & ar.ready)
        m.d.sync += [locked.eq(ar.valid & ~ar.ready), grant.eq(sel)]
        with m.If(ar.valid & ar.ready):
            m.d.sync += last.eq(sel)

        r = self.bus.r
        known = Signal(name="known_rid")
        m.d.comb += known.eq(0)
        for port, axi_id in zip(ports, ids, strict=True):
            mine = r.payload.id == axi_id
            m.d.comb += [port.r.payload.eq(r.payload), port.r.valid.eq(r.valid & mine)]
            with m.If(mine):
                m.d.comb += [r.ready.eq(port.r.ready), known.eq(1)]
        with m.If(~known):
            m.d.comb += r.ready.eq(1)
        return m
