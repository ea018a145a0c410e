"""Owns the metadata of sparse convolution: kernel offsets, output coordinates, kernel maps.

A *kernel map* (the "rulebook") says, for every kernel offset ``k`` and every output voxel
``o``, which input voxel ``i`` contributes ``in[i] @ W[k]`` to ``out[o]``.  It is stored
offset-major as ``table[k, o] = i`` (``-1`` for no input), from which both forms follow:

* per-offset ``(input, output)`` pairs (gather -> GEMM -> scatter per weight plane), and
* per-output neighbour lists (output-to-input "rulebook lines", what the core consumes).

Conventions (docs/conventions.md has the full table and the differences to spconv and
MinkowskiEngine):

* offsets are in the row-major order of a ``K x K x K`` kernel, x slowest and z fastest:
  ``k = (kx * K + ky) * K + kz`` - the order of a PyTorch ``(kD, kH, kW)`` weight and of
  spconv, while MinkowskiEngine/TorchSparse vary x fastest (see :mod:`accss3d.layouts`);
* odd kernels span ``-(K-1)/2 .. (K-1)/2``, even kernels ``-(K/2-1) .. K/2`` (``0, 1`` for
  K = 2), times the dilation, times the tensor stride of the finer side;
* convolution (submanifold, strided): ``offset = input - output`` (cross-correlation);
* strided outputs sit at ``floor(c / s') * s'`` for ``s' = s * tensor_stride``
  (MinkowskiEngine, TorchSparse), in raster order;
* transposed convolution inverts a strided one onto given finer coordinates:
  ``offset = output - input``, so weight ``k`` pairs the same fine/coarse voxels in both
  directions and the transposed kernel map is the transpose of the strided one.

# Ref: US 11,620,818 (rulebooks in input-to-output and output-to-input form).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .coords import fold_batch, neighbour_table
from .errors import ConfigError, InputError
from .voxel import raster_keys

__all__ = [
    "KINDS",
    "ConvSpec",
    "KernelMap",
    "kernel_offsets",
    "downsample_coords",
    "build_kernel_map",
    "unique_coords",
]

KINDS = ("submanifold", "strided", "transposed")


def _check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class ConvSpec:
    """Geometry of one sparse convolution.

    Parameters
    ----------
    kind : {"submanifold", "strided", "transposed"}
    kernel_size : int
        Edge of the cubic kernel (odd for submanifold convolutions).
    stride : int
        1 for submanifold; >= 2 for strided and transposed convolutions.
    dilation : int
        Spacing of kernel taps, in tensor-stride units.
    """

    kind: str
    kernel_size: int
    stride: int = 1
    dilation: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(
                f"unknown convolution kind {self.kind!r} (choose from {', '.join(KINDS)})"
            )
        k = _check_int("kernel size", self.kernel_size)
        s = _check_int("stride", self.stride)
        _check_int("dilation", self.dilation)
        if k > 15:
            raise ConfigError(f"kernel size must be at most 15, not {k}")
        if self.kind == "submanifold":
            if s != 1:
                raise ConfigError(f"submanifold convolution has stride 1, not {s}")
            if k % 2 == 0:
                raise ConfigError(
                    f"kernel size {k} is even: a stride-1 (submanifold) convolution needs an "
                    f"odd kernel (3, 5...) so that outputs stay on the input voxels"
                )
        elif s < 2:
            raise ConfigError(f"a {self.kind} convolution needs stride >= 2, not {s}")

    @property
    def volume(self) -> int:
        """Number of kernel offsets (``kernel_size ** 3``)."""
        return self.kernel_size**3

    def offsets(self) -> np.ndarray:
        """Kernel offsets in tensor-stride units, ``(K^3, 3)`` int32 (row-major order)."""
        return kernel_offsets(self.kernel_size, self.dilation)

    def describe(self) -> str:
        """Short name such as ``subm3``, ``conv2s2``, ``deconv3s2d2``."""
        base = {"submanifold": "subm", "strided": "conv", "transposed": "deconv"}[self.kind]
        text = f"{base}{self.kernel_size}"
        if self.stride != 1:
            text += f"s{self.stride}"
        if self.dilation != 1:
            text += f"d{self.dilation}"
        return text


def kernel_offsets(kernel_size: int, dilation: int = 1) -> np.ndarray:
    """Offsets of a cubic kernel, ``(K^3, 3)`` int32, x slowest, z fastest.

    Odd ``K``: ``-(K-1)/2 .. (K-1)/2``; even ``K``: ``-(K/2-1) .. K/2``; times ``dilation``.
    """
    k = _check_int("kernel size", kernel_size)
    d = _check_int("dilation", dilation)
    axis = np.arange(-((k - 1) // 2), k // 2 + 1, dtype=np.int32) * d
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    return grid.reshape(-1, 3)


def unique_coords(coords: np.ndarray) -> np.ndarray:
    """Unique ``(N, 4)`` rows in raster order (batch, x, y, z; z fastest), int32."""
    coords = np.asarray(coords)
    if len(coords) == 0:
        return np.zeros((0, 4), np.int32)
    key = raster_keys(coords)
    if key is None:
        return np.unique(coords.astype(np.int32), axis=0)
    _, first = np.unique(key, return_index=True)
    return coords[first].astype(np.int32)


def downsample_coords(coords: np.ndarray, out_stride: int) -> np.ndarray:
    """Output coordinates of a strided convolution: ``floor(c / s') * s'``, unique, raster."""
    c = np.asarray(coords).astype(np.int64)
    out = c.copy()
    out[:, 1:] = (c[:, 1:] // out_stride) * out_stride
    return unique_coords(out)


@dataclass(frozen=True, eq=False)
class KernelMap:
    """A kernel map (rulebook) between an input and an output coordinate set.

    Parameters
    ----------
    spec : ConvSpec
    in_stride, out_stride : int
        Tensor strides of the input and output coordinates.
    offsets : ndarray, shape (K, 3), int32
        Offsets in coordinate units (``input - output`` for convolutions, ``output - input``
        for transposed convolutions), in the order of the weight planes.
    table : ndarray, shape (K, M), int32
        ``table[k, o]``: the input voxel paired with output ``o`` by offset ``k``, or -1.
    n_in : int
        Number of input voxels.
    build_seconds : float
        Wall time the build took (informational).
    """

    spec: ConvSpec
    in_stride: int
    out_stride: int
    offsets: np.ndarray
    table: np.ndarray
    n_in: int
    build_seconds: float = field(default=0.0, compare=False)

    @property
    def volume(self) -> int:
        """Number of kernel offsets (weight planes)."""
        return self.table.shape[0]

    @property
    def n_out(self) -> int:
        """Number of output voxels."""
        return self.table.shape[1]

    def pair_counts(self) -> np.ndarray:
        """Pairs per offset, ``(K,)`` int64."""
        return np.count_nonzero(self.table >= 0, axis=1).astype(np.int64)

    @property
    def n_pairs(self) -> int:
        """Total number of (input, output, offset) pairs: the MACs per channel pair."""
        return int(np.count_nonzero(self.table >= 0))

    @property
    def arf(self) -> float:
        """Average receptive field: pairs per output voxel (AccSS3D's ARF statistic)."""
        return self.n_pairs / self.n_out if self.n_out else 0.0

    def pairs(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(input, output)`` index arrays of offset ``k``, int32, sorted by output."""
        row = self.table[k]
        out = np.flatnonzero(row >= 0).astype(np.int32)
        return row[out], out

    def all_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Input-to-output form: ``(offset_ptr (K+1,), in_idx (P,), out_idx (P,))``.

        Pairs of offset ``k`` are ``in_idx[ptr[k]:ptr[k+1]]`` -> ``out_idx[...]``.
        """
        k_idx, out = np.nonzero(self.table >= 0)
        ptr = np.zeros(self.volume + 1, np.int64)
        ptr[1:] = np.cumsum(np.bincount(k_idx, minlength=self.volume))
        return ptr, self.table[k_idx, out], out.astype(np.int32)

    def neighbours(self) -> np.ndarray:
        """Output-to-input form: ``(M, K)`` int32, row ``o`` = inputs of output ``o`` per offset."""
        return np.ascontiguousarray(self.table.T)

    def lines(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Compact output-to-input lists: ``(out_ptr (M+1,), offset (P,), in_idx (P,))``.

        Output ``o``'s contributions are offsets ``offset[out_ptr[o]:out_ptr[o+1]]`` (in
        increasing order) of inputs ``in_idx[...]``.
        """
        nb = self.neighbours()
        out, k = np.nonzero(nb >= 0)
        ptr = np.zeros(self.n_out + 1, np.int64)
        ptr[1:] = np.cumsum(np.bincount(out, minlength=self.n_out))
        return ptr, k.astype(np.int32), nb[out, k]

    def stats(self) -> dict:
        """Summary figures: voxels, outputs, pairs, per-offset pairs, ARF."""
        counts = self.pair_counts()
        return {
            "kind": self.spec.kind,
            "layer": self.spec.describe(),
            "kernel_size": self.spec.kernel_size,
            "stride": self.spec.stride,
            "dilation": self.spec.dilation,
            "in_stride": self.in_stride,
            "out_stride": self.out_stride,
            "voxels": self.n_in,
            "outputs": self.n_out,
            "pairs": int(counts.sum()),
            "pairs_per_offset": counts.tolist(),
            "arf": self.arf,
            "build_ms": 1e3 * self.build_seconds,
        }


def _check_coords(coords, name: str, stride: int) -> np.ndarray:
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 4 or not np.issubdtype(coords.dtype, np.integer):
        raise InputError(
            f"{name} must be an (N, 4) integer array [batch, x, y, z], not "
            f"{coords.shape} {coords.dtype}"
        )
    if len(coords) and stride > 1 and np.any(coords[:, 1:] % stride):
        raise InputError(f"{name} are not multiples of their tensor stride {stride}")
    return coords


def _to_lattice(coords: np.ndarray, unit: int) -> np.ndarray:
    if unit == 1:
        return coords
    out = coords.astype(np.int64)
    out[:, 1:] //= unit
    return out


def build_kernel_map(
    in_coords: np.ndarray,
    spec: ConvSpec,
    in_stride: int = 1,
    out_coords: np.ndarray | None = None,
) -> tuple[KernelMap, np.ndarray]:
    """Build the kernel map of one convolution.

    Parameters
    ----------
    in_coords : ndarray (N, 4), int
        Input coordinates (unique, multiples of ``in_stride``).
    spec : ConvSpec
    in_stride : int
        Tensor stride of the input.
    out_coords : ndarray (M, 4), optional
        Output coordinates.  Submanifold: must be None (outputs = inputs).  Strided:
        default ``floor(c / s') * s'``.  Transposed: required - the finer level being
        restored (stride ``in_stride / s``).

    Returns
    -------
    (KernelMap, ndarray (M, 4) int32)
        The kernel map and the output coordinates.
    """
    t0 = time.perf_counter()
    in_stride = _check_int("input tensor stride", in_stride)
    in_coords = _check_coords(in_coords, "input coordinates", in_stride)
    s = spec.stride
    d = spec.offsets().astype(np.int64)
    if spec.kind == "submanifold":
        if out_coords is not None:
            raise ConfigError(
                "a submanifold convolution's outputs are its inputs; do not pass out_coords"
            )
        unit, out_stride = in_stride, in_stride
        out_coords = in_coords.astype(np.int32, copy=False)
        (in_lat,) = fold_batch([_to_lattice(in_coords, unit)], int(np.abs(d).max()))
        table = neighbour_table(in_lat, None, d)
        world = d * unit
    elif spec.kind == "strided":
        unit, out_stride = in_stride, in_stride * s
        if out_coords is None:
            out_coords = downsample_coords(in_coords, out_stride)
        else:
            out_coords = _check_coords(out_coords, "output coordinates", out_stride)
        in_lat, out_lat = fold_batch(
            [_to_lattice(in_coords, unit), _to_lattice(out_coords, unit)], int(np.abs(d).max())
        )
        table = neighbour_table(in_lat, out_lat, d)
        world = d * unit
    else:  # transposed
        if in_stride % s:
            raise ConfigError(
                f"a transposed convolution with stride {s} needs an input tensor stride "
                f"divisible by {s}, not {in_stride}"
            )
        out_stride = in_stride // s
        if out_coords is None:
            raise ConfigError(
                "a transposed convolution needs the output coordinates (the finer level it "
                "restores)"
            )
        out_coords = _check_coords(out_coords, "output coordinates", out_stride)
        unit = out_stride
        in_lat, out_lat = fold_batch(
            [_to_lattice(in_coords, unit), _to_lattice(out_coords, unit)], int(np.abs(d).max())
        )
        table = neighbour_table(in_lat, out_lat, -d)  # input = output - offset
        world = d * unit
    kmap = KernelMap(
        spec=spec,
        in_stride=in_stride,
        out_stride=out_stride,
        offsets=world.astype(np.int32),
        table=table,
        n_in=len(in_coords),
        build_seconds=time.perf_counter() - t0,
    )
    return kmap, np.asarray(out_coords, dtype=np.int32)
