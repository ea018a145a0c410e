"""Owns the schedule of one layer: how the compiler tiles it onto the core.

The dataflow optimizer (:mod:`accss3d.optimizer`) chooses a :class:`Schedule` per layer; the
compiler (:mod:`accss3d.compiler`) emits the instruction stream that implements it; the
cycle model measures it.  All three read the same fields with the same meaning:

``tile_outputs``
    Output voxels per *voxel tile*: consecutive outputs in processing order whose
    accumulators (one OFM row per output and Cout tile) stay in one OFM bank while every
    weight plane and Cin tile contributes.  The tile's input voxels (the inputs its pairs
    name) are gathered into one IFM bank, its rulebook entries into RBK.
``order``
    ``"tile"``: voxel tile outer - for each tile, for each weight plane and Cin tile, one
    COMPUTE run; outputs are finished (and stored) tile by tile.
    ``"plane"``: weight plane outer - for each weight-plane tile, all voxel tiles; every
    output's accumulator must stay resident for the whole layer (the layer's outputs of one
    Cout tile must fit in OFM) - chosen for deep, small levels where weights dominate.
``cout_inner``
    With ``order="tile"``: Cout tiles inside the voxel tile (inputs loaded once per tile,
    ``n_cout_tiles`` accumulator rows per output) instead of outermost (inputs reloaded per
    Cout tile, weights of one Cout tile kept resident across tiles when they fit).
``weights_resident``
    The weight tiles the loop nest reuses stay in WGT across voxel tiles (loaded once);
    otherwise they are re-loaded per voxel tile (streamed).
``double_buffer``
    Alternate banks for IFM/RBK/OFM so that loads and stores overlap compute (tokens
    order them); without it every tile waits for its loads.
``pack`` (optional, default False)
    Outputs are packed into tiles greedily in processing order - a tile ends after
    ``tile_outputs`` outputs, or earlier, before the output whose inputs would overflow the
    tile's IFM capacity (one bank with ``double_buffer``, else all).
    ``tile_outputs`` is then the largest tile; :func:`accss3d.optimizer.tile_bounds`
    returns the tiles, so the compiler and the cost model cut them identically.  False:
    every tile has ``tile_outputs`` outputs (the last fewer), and a tile that does not fit
    makes the schedule infeasible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import ConfigError

__all__ = ["Schedule", "ORDERS"]

ORDERS = ("tile", "plane")


@dataclass(frozen=True)
class Schedule:
    """How one layer is tiled onto the core (see the module docstring)."""

    tile_outputs: int
    order: str = "tile"
    cout_inner: bool = False
    weights_resident: bool = True
    double_buffer: bool = True
    pack: bool = False

    def __post_init__(self) -> None:
        if (
            isinstance(self.tile_outputs, bool)
            or not isinstance(self.tile_outputs, int)
            or (self.tile_outputs < 1)
        ):
            raise ConfigError(f"tile_outputs must be a positive integer, not {self.tile_outputs!r}")
        if self.order not in ORDERS:
            raise ConfigError(f"unknown loop order {self.order!r} (choose from tile, plane)")

    def to_dict(self) -> dict:
        """Plain-dict form (JSON)."""
        return asdict(self)

    def describe(self) -> str:
        """Short text such as ``tile T=192 cout-outer W-resident db``."""
        parts = [self.order, f"T={self.tile_outputs}"]
        if self.order == "tile":
            parts.append("cout-inner" if self.cout_inner else "cout-outer")
        parts.append("W-resident" if self.weights_resident else "W-streamed")
        if self.double_buffer:
            parts.append("db")
        if self.pack:
            parts.append("packed")
        return " ".join(parts)
