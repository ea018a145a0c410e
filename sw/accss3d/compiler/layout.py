"""Owns the external-memory layout of a compiled program: tensors, windows, arenas.

External memory, from address 0 (docs/compiler.md):

* the **activation arena**: one *buffer* per group of tensors that some layer reads
  concatenated (``inputs`` or ``residual`` of more than one tensor).  A buffer is
  ``(rows, row_stride)`` bytes, row ``n`` holding voxel ``n`` of every member side by side;
  each member starts at a bus-aligned byte offset, so the producing layers STORE into the
  shared buffer at their channel offset and the concatenation costs nothing.  Zero-filled.
* the **data arena** (the program's memory image): the network input (a buffer of its own),
  then per layer the pre-tiled weights, the bias rows and the rulebook chunks.
* the **code** (``PROG_ADDR``), after the data arena.

A layer reads a *window* of a buffer: the consecutive members it concatenates.  Its Cin
lanes are the window's bytes from the first member's offset; lanes between members (bus
padding) get zero weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arch import ArchConfig
from ..errors import ConfigError

__all__ = ["Window", "Buffer", "Layout", "align", "DataArena"]

#: Alignment of every region (bytes): a multiple of any bus width up to 512 bits.
REGION_ALIGN = 64


def align(value: int, to: int) -> int:
    """``value`` rounded up to a multiple of ``to``."""
    return -(-int(value) // to) * to


@dataclass
class Buffer:
    """A DRAM buffer holding one or more tensors side by side (concatenation for free)."""

    name: str
    members: list[str]
    rows: int
    offsets: dict[str, int] = field(default_factory=dict)
    row_stride: int = 0
    addr: int = 0
    data: bool = False  # in the data arena (initialized)


@dataclass(frozen=True)
class Window:
    """The bytes of one row a layer reads from a buffer: its concatenated input tensors.

    ``addr`` is the external address of row 0's first byte, ``row_stride`` the bytes between
    rows, ``span`` the bytes read per row, ``lanes`` the ``(tensor, first lane, channels)``
    of every member (a lane is one channel, ``act_bits / 8`` bytes).
    """

    addr: int
    row_stride: int
    span: int
    rows: int
    lanes: tuple[tuple[str, int, int], ...]

    def lane_index(self, channels: dict[str, int]) -> np.ndarray:
        """Lane of each channel of the logical concatenation (in member order)."""
        return np.concatenate(
            [lane0 + np.arange(channels[name]) for name, lane0, _ in self.lanes]
        ).astype(np.int64)


class Layout:
    """Buffers of every tensor of a network and their addresses.

    Parameters
    ----------
    cfg : ArchConfig
    tensors : dict of str to (rows, channels)
        Every tensor, in execution order (the input first).
    groups : list of tuple of str
        Tensor tuples some layer reads concatenated (each must stay consecutive).
    data_tensors : set of str
        Tensors that are initialized (the network input): their buffers go to the data arena.
    """

    def __init__(self, cfg: ArchConfig, tensors: dict, groups, data_tensors=()):
        self.cfg = cfg
        self.act_bytes = cfg.act_bits // 8
        self.tensors = dict(tensors)
        self.buffer_of: dict[str, Buffer] = {}
        self.buffers: list[Buffer] = []
        order: list[list[str]] = []
        where: dict[str, int] = {}
        for tup in groups:
            tup = list(tup)
            if len(tup) < 2:
                continue
            homes = {where.get(t) for t in tup}
            if homes == {None}:
                for t in tup:
                    where[t] = len(order)
                order.append(tup)
                continue
            home = homes.pop() if len(homes) == 1 else None
            seq = order[home] if home is not None else []
            if home is None or not any(seq[i : i + len(tup)] == tup for i in range(len(seq))):
                raise ConfigError(
                    f"tensors {', '.join(tup)} are read concatenated in an order that "
                    f"conflicts with another concatenation; they cannot share one buffer"
                )
        for name in self.tensors:
            if name not in where:
                where[name] = len(order)
                order.append([name])
        B = cfg.bus_bytes
        for members in order:
            rows = {self.tensors[m][0] for m in members}
            if len(rows) != 1:
                raise ConfigError(f"tensors {', '.join(members)} have different voxel counts")
            buf = Buffer("+".join(members), members, rows.pop())
            off = 0
            for m in members:
                buf.offsets[m] = off
                off += align(self.tensors[m][1] * self.act_bytes, B)
            buf.row_stride = off
            if off >= 1 << 16:
                raise ConfigError(
                    f"buffer {buf.name}: {off} bytes per voxel exceed the 16-bit ext_stride"
                )
            buf.data = any(m in data_tensors for m in members)
            self.buffers.append(buf)
            for m in members:
                self.buffer_of[m] = buf
        # Activation arena from 0.
        cursor = 0
        for buf in self.buffers:
            if not buf.data:
                buf.addr = cursor
                cursor = align(cursor + buf.rows * buf.row_stride, REGION_ALIGN)
        self.act_end = align(cursor, 4096)

    def tensor_addr(self, name: str) -> int:
        """External address of row 0, channel 0 of a tensor."""
        buf = self.buffer_of[name]
        return buf.addr + buf.offsets[name]

    def window(self, names) -> Window:
        """The window a layer reads for the concatenation of ``names``."""
        names = list(names)
        buf = self.buffer_of[names[0]]
        if any(self.buffer_of[n] is not buf for n in names):
            raise ConfigError(f"tensors {', '.join(names)} are not in one buffer")
        start = buf.offsets[names[0]]
        lanes = []
        for n in names:
            lanes.append((n, (buf.offsets[n] - start) // self.act_bytes, self.tensors[n][1]))
        last = names[-1]
        span = buf.offsets[last] + self.tensors[last][1] * self.act_bytes - start
        return Window(buf.addr + start, buf.row_stride, span, buf.rows, tuple(lanes))


class DataArena:
    """The initialized part of external memory, appended region by region (aligned)."""

    def __init__(self, base: int):
        self.base = base
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, data: bytes | np.ndarray) -> int:
        """Append a region; return its external address."""
        if isinstance(data, np.ndarray):
            data = np.ascontiguousarray(data).tobytes()
        addr = self.base + self.size
        pad = align(len(data), REGION_ALIGN) - len(data)
        self.chunks.append(bytes(data) + b"\0" * pad)
        self.size += len(data) + pad
        return addr

    def reserve(self, nbytes: int) -> int:
        """Append ``nbytes`` zero bytes (a region written later by :meth:`fill`)."""
        return self.add(bytes(nbytes))

    def image(self) -> bytes:
        """All regions, concatenated."""
        return b"".join(self.chunks)
