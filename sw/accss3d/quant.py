"""Owns the integer arithmetic the SSpNNA core implements: wrap, requantize, ReLU, saturate.

This is the bit-exact contract between the golden model and the RTL (docs/arithmetic.md).
For one output channel of one output voxel:

1. ``acc = wrap(sum_k sum_c x[c] * w[k, c] + bias, acc_bits)`` - signed products of
   ``act_bits`` x ``weight_bits`` operands summed in two's complement modulo
   ``2**acc_bits`` (addition order does not matter modulo ``2**n``);
2. ``y = (acc * multiplier + 2**(shift-1)) >> shift`` (``>>`` arithmetic; no rounding term
   when ``shift == 0``) - *round half up*, i.e. towards +infinity on ties, the cheapest
   rounding in hardware (one adder, no sign logic);
3. ``y = max(y, 0)`` when ReLU is enabled;
4. ``out = clamp(y, -2**(out_bits-1), 2**(out_bits-1) - 1)`` - saturation.

``multiplier`` is unsigned (``0 <= multiplier < 2**requant_mult_bits``) and ``shift`` is in
``0 .. acc_bits + requant_mult_bits - 1``, so ``acc * multiplier`` fits in
``acc_bits + requant_mult_bits`` signed bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

__all__ = ["Requant", "wrap", "saturate", "int_range"]


def int_range(bits: int) -> tuple[int, int]:
    """``(min, max)`` of a signed two's complement integer of ``bits`` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement wrap of integers to ``bits`` bits (as int64)."""
    v = np.asarray(values, dtype=np.int64)
    if bits >= 64:
        return v
    half = np.int64(1) << (bits - 1)
    return ((v + half) & ((np.int64(1) << bits) - 1)) - half


def saturate(values: np.ndarray, bits: int) -> np.ndarray:
    """Clamp integers to the signed ``bits``-bit range (as int64)."""
    lo, hi = int_range(bits)
    return np.clip(np.asarray(values, dtype=np.int64), lo, hi)


@dataclass(frozen=True)
class Requant:
    """Requantization of accumulators to output activations.

    Parameters
    ----------
    multiplier : int
        Unsigned multiplier, ``0 <= multiplier < 2**mult_bits``.
    shift : int
        Right shift after multiplying, ``0 <= shift < acc_bits + mult_bits``.
    relu : bool
        Clamp negative results to 0 before saturation.
    out_bits : int
        Width of the output activation (the core's ``act_bits``).
    mult_bits : int
        Width of the multiplier (the core's ``requant_mult_bits``).
    acc_bits : int
        Accumulator width (the core's ``acc_bits``).
    """

    multiplier: int
    shift: int
    relu: bool = False
    out_bits: int = 8
    mult_bits: int = 16
    acc_bits: int = 32

    def __post_init__(self) -> None:
        for name in ("multiplier", "shift", "out_bits", "mult_bits", "acc_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"requantization {name} must be an integer, not {value!r}")
        if not 0 <= self.multiplier < (1 << self.mult_bits):
            raise ConfigError(
                f"requantization multiplier must be in [0, 2^{self.mult_bits}), "
                f"not {self.multiplier}"
            )
        limit = self.acc_bits + self.mult_bits
        if not 0 <= self.shift < limit:
            raise ConfigError(f"requantization shift must be in [0, {limit}), not {self.shift}")
        if not 2 <= self.out_bits <= 32:
            raise ConfigError(f"output width must be in [2, 32], not {self.out_bits}")

    @classmethod
    def from_scale(
        cls,
        scale: float,
        *,
        relu: bool = False,
        out_bits: int = 8,
        mult_bits: int = 16,
        acc_bits: int = 32,
    ) -> Requant:
        """The (multiplier, shift) pair closest to a real ``scale`` with a normalized multiplier."""
        if not (math.isfinite(scale) and scale > 0):
            raise ConfigError(f"requantization scale must be positive and finite, not {scale}")
        mantissa, exponent = math.frexp(scale)  # scale = mantissa * 2**exponent, 0.5 <= m < 1
        shift = mult_bits - exponent
        multiplier = round(mantissa * (1 << mult_bits))
        if multiplier == (1 << mult_bits):
            multiplier >>= 1
            shift -= 1
        limit = acc_bits + mult_bits - 1
        if shift > limit:  # tiny scale: lose precision rather than overflow the shift
            multiplier >>= shift - limit
            shift = limit
        if shift < 0:
            raise ConfigError(f"requantization scale {scale} is too large for {mult_bits} bits")
        return cls(int(multiplier), int(shift), relu, out_bits, mult_bits, acc_bits)

    @property
    def scale(self) -> float:
        """The real scale this pair implements (``multiplier / 2**shift``)."""
        return self.multiplier / float(1 << self.shift)

    def apply(self, acc: np.ndarray) -> np.ndarray:
        """Requantize accumulators (already wrapped to ``acc_bits``); returns int64 values."""
        acc = np.asarray(acc, dtype=np.int64)
        y = acc * np.int64(self.multiplier)
        if self.shift:
            y = (y + (np.int64(1) << (self.shift - 1))) >> self.shift
        if self.relu:
            y = np.maximum(y, 0)
        return saturate(y, self.out_bits)

    def to_dict(self) -> dict:
        """Plain-dict form (for manifests and JSON)."""
        return {
            "multiplier": self.multiplier,
            "shift": self.shift,
            "relu": self.relu,
            "out_bits": self.out_bits,
            "mult_bits": self.mult_bits,
            "acc_bits": self.acc_bits,
        }
