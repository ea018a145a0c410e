"""Owns the voxel tiling of one layer: tiles, gathered slots, rulebook entries and chunks.

A *voxel tile* is a range of consecutive outputs.  For each tile this module computes, all
tiles at once with numpy:

* the *slots*: the distinct inputs its pairs read, sorted (the IFM gather; runs of
  consecutive input indices become one LOAD each);
* its rulebook entries in program order - weight plane by weight plane (increasing offset
  ``k``), outputs increasing within a plane, the residual plane (``k = K``) last - packed
  with ``in_slot`` (position in the gather; the output's own row for the residual plane),
  ``out_row`` (position of the output in the tile) and ``first`` (the output's first
  contribution in program order: its smallest plane, or its residual entry when it has no
  pair at all);
* the rows without any contribution (FILL);
* the rulebook *chunks*: the entries cut every ``chunk`` entries (one RBK buffer each) and
  the *parts*: maximal runs of one plane within a chunk (one COMPUTE per part and Cin tile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..isa import RBK_IN_BITS, RBK_OUT_BITS, pack_rulebook_entry
from ..rulebook import KernelMap

__all__ = ["Tiles", "make_tiles", "plain_bounds", "distinct_inputs"]


def plain_bounds(n_out: int, tile: int) -> np.ndarray:
    """Tile boundaries of a plain tiling: ``[0, T, 2T, ..., n_out]``."""
    return np.append(np.arange(0, n_out, tile, dtype=np.int64), n_out)


def distinct_inputs(kmap: KernelMap, bounds: np.ndarray) -> np.ndarray:
    """Distinct inputs of each tile (``len(bounds) - 1``,)."""
    k, o = np.nonzero(kmap.table >= 0)
    i = kmap.table[k, o].astype(np.int64)
    t = np.searchsorted(bounds, o, side="right") - 1
    key = np.unique(t * max(kmap.n_in, 1) + i)
    return np.bincount(key // max(kmap.n_in, 1), minlength=len(bounds) - 1)


@dataclass(eq=False)
class Tiles:
    """The tiling of one layer (arrays indexed per tile ``t`` through the ``*_ptr`` arrays).

    Entries of tile ``t`` are ``ent_*[ent_ptr[t]:ent_ptr[t+1]]``; slots ``slots[slot_ptr[t]:
    slot_ptr[t+1]]`` (input indices); FILL rows ``fill[fill_ptr[t]:fill_ptr[t+1]]`` (rows
    within the tile); parts ``part_*[part_ptr[t]:part_ptr[t+1]]`` with their chunk, plane,
    first entry within the chunk and length; chunk ``c`` of tile ``t`` holds entries
    ``[c * chunk, min((c + 1) * chunk, n))`` of the tile.
    """

    bounds: np.ndarray
    volume: int
    residual: bool
    chunk: int
    slot_ptr: np.ndarray
    slots: np.ndarray
    ent_ptr: np.ndarray
    ent_plane: np.ndarray
    ent_word: np.ndarray  # packed rulebook entries (uint32)
    fill_ptr: np.ndarray
    fill: np.ndarray
    part_ptr: np.ndarray
    part_chunk: np.ndarray
    part_plane: np.ndarray
    part_start: np.ndarray
    part_len: np.ndarray
    planes: np.ndarray  # planes with at least one pair in the layer (main source)

    @property
    def n_tiles(self) -> int:
        """Number of voxel tiles."""
        return len(self.bounds) - 1

    def size(self, t: int) -> int:
        """Outputs of tile ``t``."""
        return int(self.bounds[t + 1] - self.bounds[t])

    def n_chunks(self, t: int) -> int:
        """Rulebook chunks of tile ``t``."""
        n = int(self.ent_ptr[t + 1] - self.ent_ptr[t])
        return -(-n // self.chunk)

    @property
    def max_slots(self) -> int:
        """Largest gather over all tiles."""
        return int(np.diff(self.slot_ptr).max()) if self.n_tiles else 0

    @property
    def max_size(self) -> int:
        """Largest tile."""
        return int(np.diff(self.bounds).max()) if self.n_tiles else 0


def _segments(keys: list[np.ndarray]) -> np.ndarray:
    """Start flags of maximal runs of equal key tuples."""
    n = len(keys[0])
    start = np.ones(n, dtype=bool)
    if n > 1:
        diff = np.zeros(n - 1, dtype=bool)
        for k in keys:
            diff |= k[1:] != k[:-1]
        start[1:] = diff
    return start


def make_tiles(kmap: KernelMap, bounds: np.ndarray, residual: bool, chunk: int) -> Tiles:
    """Tile a layer: slots, entries, FILL rows, chunks and parts of every tile."""
    bounds = np.asarray(bounds, dtype=np.int64)
    n_t = len(bounds) - 1
    M, K = kmap.n_out, kmap.volume
    k, o = np.nonzero(kmap.table >= 0)
    k = k.astype(np.int64)
    o = o.astype(np.int64)
    i = kmap.table[k, o].astype(np.int64)
    t = np.searchsorted(bounds, o, side="right") - 1
    planes = np.flatnonzero(np.bincount(k, minlength=K)).astype(np.int64)
    # First contribution of every output: its smallest plane.
    first_plane = np.full(M, K, dtype=np.int64)
    np.minimum.at(first_plane, o, k)
    first = k == first_plane[o]
    # Slots: distinct inputs per tile, sorted.
    n_in = max(kmap.n_in, 1)
    key = t * n_in + i
    ukey, inv = np.unique(key, return_inverse=True)
    slot_tile = ukey // n_in
    slot_ptr = np.searchsorted(slot_tile, np.arange(n_t + 1))
    slot = np.arange(len(ukey)) - slot_ptr[slot_tile]
    in_slot = slot[inv]
    # Entries: main pairs plus (optionally) one residual entry per output.
    row = o - bounds[t]
    e_tile, e_plane, e_slot, e_row, e_first = [t], [k], [in_slot], [row], [first]
    no_pair = first_plane == K
    if residual:
        ro = np.arange(M, dtype=np.int64)
        rt = np.searchsorted(bounds, ro, side="right") - 1
        rr = ro - bounds[rt]
        e_tile.append(rt)
        e_plane.append(np.full(M, K, dtype=np.int64))
        e_slot.append(rr)
        e_row.append(rr)
        e_first.append(no_pair)
    et, ep = np.concatenate(e_tile), np.concatenate(e_plane)
    es, er, ef = np.concatenate(e_slot), np.concatenate(e_row), np.concatenate(e_first)
    # Main pairs come plane by plane, outputs increasing (np.nonzero), then the residual
    # entries (plane K, outputs increasing): a stable sort by tile orders them by (tile,
    # plane, output).
    order = np.argsort(et, kind="stable")
    et, ep, es, er, ef = et[order], ep[order], es[order], er[order], ef[order]
    if len(es) and (es.max() >= 1 << RBK_IN_BITS or er.max() >= 1 << RBK_OUT_BITS):
        raise ConfigError("a tile is too large for the rulebook entry fields (16/15 bits)")
    words = pack_rulebook_entry(es, er, ef)
    ent_ptr = np.searchsorted(et, np.arange(n_t + 1))
    # FILL rows: outputs with no pair and no residual.
    fill_o = np.flatnonzero(no_pair) if not residual else np.zeros(0, dtype=np.int64)
    fill_t = np.searchsorted(bounds, fill_o, side="right") - 1
    fill_ptr = np.searchsorted(fill_t, np.arange(n_t + 1))
    fill = fill_o - bounds[fill_t]
    # Chunks and parts.
    local = np.arange(len(et)) - ent_ptr[et]
    ch = local // chunk
    starts = np.flatnonzero(_segments([et, ch, ep]))
    ends = np.append(starts[1:], len(et))
    part_tile = et[starts]
    return Tiles(
        bounds=bounds,
        volume=K,
        residual=residual,
        chunk=chunk,
        slot_ptr=slot_ptr,
        slots=ukey % n_in,
        ent_ptr=ent_ptr,
        ent_plane=ep,
        ent_word=words,
        fill_ptr=fill_ptr,
        fill=fill,
        part_ptr=np.searchsorted(part_tile, np.arange(n_t + 1)),
        part_chunk=ch[starts],
        part_plane=ep[starts],
        part_start=local[starts] - ch[starts] * chunk,
        part_len=ends - starts,
        planes=planes,
    )
