"""Owns the golden model: sparse convolution in float32 and in the core's integer arithmetic.

The golden model is the reference every other execution (the functional simulator, the
cycle model, the RTL) is compared with, bit-exactly for the integer path.  It is itself
checked against independent engines (PyTorch dense ``conv3d``/``conv_transpose3d`` on the
densified grid, spconv), never against itself.

Both paths compute, for every output voxel ``o`` and output channel ``j``::

    out[o, j] = bias[j] + sum_k sum_c in[table[k, o], c] * W[k, c, j]

over the offsets ``k`` whose ``table[k, o] >= 0``.  The float path accumulates in float32
per weight plane (gather -> GEMM -> scatter); the integer path is exact (see
:mod:`accss3d.quant` for wrap, requantization, ReLU and saturation).

Weights are ``(K, Cin, Cout)`` indexed like the kernel map's offsets.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, InputError
from .parallel import single_blas_thread
from .quant import Requant, int_range, wrap
from .rulebook import KernelMap

__all__ = [
    "sparse_conv",
    "sparse_conv_int",
    "accumulate_int",
    "check_operands",
    "random_operands",
    "calibrate_requant",
]


def check_operands(feats: np.ndarray, kmap: KernelMap, weights: np.ndarray, bias=None):
    """Validate shapes of a convolution's operands; return ``(Cin, Cout)``."""
    feats = np.asarray(feats)
    weights = np.asarray(weights)
    if feats.ndim != 2:
        raise InputError(f"features must be a 2-D (N, Cin) array, not shape {feats.shape}")
    if len(feats) != kmap.n_in:
        raise InputError(
            f"features have {len(feats)} rows but the kernel map has {kmap.n_in} input voxels"
        )
    if weights.ndim != 3:
        raise InputError(f"weights must be (K, Cin, Cout), not shape {weights.shape}")
    k, cin, cout = weights.shape
    if k != kmap.volume:
        raise InputError(f"weights have {k} kernel planes but the kernel map has {kmap.volume}")
    if cin <= 0 or cout <= 0:
        raise ConfigError(f"channel counts must be positive, not Cin={cin}, Cout={cout}")
    if feats.shape[1] != cin:
        raise InputError(f"features have {feats.shape[1]} channels but weights expect {cin}")
    if bias is not None and np.shape(bias) != (cout,):
        raise InputError(f"bias must have shape ({cout},), not {np.shape(bias)}")
    return cin, cout


def sparse_conv(
    feats: np.ndarray, kmap: KernelMap, weights: np.ndarray, bias: np.ndarray | None = None
) -> np.ndarray:
    """Float32 sparse convolution.

    Parameters
    ----------
    feats : ndarray (N, Cin)
        Input features, in the order of the kernel map's inputs.
    kmap : KernelMap
    weights : ndarray (K, Cin, Cout)
    bias : ndarray (Cout,), optional

    Returns
    -------
    ndarray (M, Cout), float32
    """
    _, cout = check_operands(feats, kmap, weights, bias)
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    weights = np.asarray(weights, dtype=np.float32)
    out = np.zeros((kmap.n_out, cout), dtype=np.float32)
    with single_blas_thread():
        for k in range(kmap.volume):
            inputs, outputs = kmap.pairs(k)
            if len(outputs):
                # Within one offset every output appears once, so fancy-index += is exact.
                out[outputs] += np.take(feats, inputs, axis=0) @ weights[k]
    if bias is not None:
        out += np.asarray(bias, dtype=np.float32)
    return out


def _check_int_operand(name: str, values: np.ndarray, bits: int) -> np.ndarray:
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise InputError(f"{name} must be integers for the integer path, not {values.dtype}")
    lo, hi = int_range(bits)
    if values.size and (values.min() < lo or values.max() > hi):
        raise InputError(f"{name} exceed the signed {bits}-bit range [{lo}, {hi}]")
    return values


def accumulate_int(
    feats: np.ndarray,
    kmap: KernelMap,
    weights: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    act_bits: int = 8,
    weight_bits: int = 8,
    acc_bits: int = 32,
) -> np.ndarray:
    """Exact integer accumulators, wrapped to ``acc_bits`` (``(M, Cout)`` int64 values)."""
    cin, cout = check_operands(feats, kmap, weights, bias)
    feats = _check_int_operand("input features", feats, act_bits)
    weights = _check_int_operand("weights", weights, weight_bits)
    if bias is not None:
        bias = _check_int_operand("bias", bias, acc_bits)
    # float64 GEMMs are exact while every partial sum stays below 2**53.
    bound = cin * kmap.volume * (1 << (act_bits - 1)) * (1 << (weight_bits - 1))
    exact_float = bound < (1 << 53)
    dtype = np.float64 if exact_float else np.int64
    f = np.ascontiguousarray(feats, dtype=dtype)
    w = np.asarray(weights, dtype=dtype)
    acc = np.zeros((kmap.n_out, cout), dtype=dtype)
    with single_blas_thread():
        for k in range(kmap.volume):
            inputs, outputs = kmap.pairs(k)
            if len(outputs):
                acc[outputs] += np.take(f, inputs, axis=0) @ w[k]
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return wrap(acc, acc_bits)


def sparse_conv_int(
    feats: np.ndarray,
    kmap: KernelMap,
    weights: np.ndarray,
    bias: np.ndarray | None,
    requant: Requant,
    *,
    act_bits: int = 8,
    weight_bits: int = 8,
) -> np.ndarray:
    """Integer sparse convolution: exact accumulation, requantization, ReLU, saturation.

    Returns
    -------
    ndarray (M, Cout): int8 when ``requant.out_bits == 8``, else int32.
    """
    if not isinstance(requant, Requant):
        raise ConfigError(f"requant must be a Requant, not {type(requant).__name__}")
    acc = accumulate_int(
        feats,
        kmap,
        weights,
        bias,
        act_bits=act_bits,
        weight_bits=weight_bits,
        acc_bits=requant.acc_bits,
    )
    out = requant.apply(acc)
    return out.astype(np.int8 if requant.out_bits <= 8 else np.int32)


def random_operands(
    n_in: int,
    cin: int,
    cout: int,
    volume: int,
    *,
    dtype: str = "float32",
    seed: int = 0,
    act_bits: int = 8,
    weight_bits: int = 8,
):
    """Deterministic features, weights and bias for a layer (the same seed, the same bytes).

    ``float32``: features ~ N(0, 1), weights ~ N(0, 1/(K*Cin)), bias ~ N(0, 0.1).
    ``int8``: features and weights uniform over their full signed range, bias uniform
    in +-2^10 (int32).

    Returns
    -------
    (feats (N, Cin), weights (K, Cin, Cout), bias (Cout,))
    """
    if dtype not in ("float32", "int8"):
        raise ConfigError(f"unknown dtype {dtype!r} (choose float32 or int8)")
    for name, value in (("Cin", cin), ("Cout", cout)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ConfigError(f"channel count {name} must be a positive integer, not {value!r}")
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        feats = rng.standard_normal((n_in, cin), dtype=np.float32)
        weights = rng.standard_normal((volume, cin, cout), dtype=np.float32)
        weights *= np.float32(1.0 / np.sqrt(volume * cin))
        bias = (0.1 * rng.standard_normal(cout)).astype(np.float32)
        return feats, weights, bias
    alo, ahi = int_range(act_bits)
    wlo, whi = int_range(weight_bits)
    feats = rng.integers(alo, ahi + 1, (n_in, cin), dtype=np.int64).astype(np.int8)
    weights = rng.integers(wlo, whi + 1, (volume, cin, cout), dtype=np.int64).astype(np.int8)
    bias = rng.integers(-1024, 1025, cout, dtype=np.int64).astype(np.int32)
    return feats, weights, bias


def calibrate_requant(
    acc: np.ndarray,
    *,
    relu: bool = False,
    out_bits: int = 8,
    mult_bits: int = 16,
    acc_bits: int = 32,
) -> Requant:
    """A requantization that maps 4 standard deviations of ``acc`` onto the output range."""
    acc = np.asarray(acc, dtype=np.float64)
    spread = 4.0 * float(acc.std()) if acc.size else 0.0
    scale = ((1 << (out_bits - 1)) - 1) / spread if spread > 0 else 1.0
    return Requant.from_scale(
        scale, relu=relu, out_bits=out_bits, mult_bits=mult_bits, acc_bits=acc_bits
    )
