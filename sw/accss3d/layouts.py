"""Owns weight-layout converters between AccSS3D and other engines.

AccSS3D stores the weights of a ``K x K x K`` kernel as ``W[k, cin, cout]`` with
``k = (ix * K + iy) * K + iz`` (x slowest, z fastest), the same order as a PyTorch
``(kD, kH, kW)`` kernel and as spconv 2.x.  The converters below return *copies*:

=====================  =======================================  ==========================
engine                 layout                                   offset order
=====================  =======================================  ==========================
PyTorch ``conv3d``     ``(Cout, Cin, Kx, Ky, Kz)``              z fastest
PyTorch ``conv_transpose3d``  ``(Cin, Cout, Kx, Ky, Kz)``       z fastest
spconv 2.x (KRSC)      ``(Cout, Kx, Ky, Kz, Cin)``              z fastest
MinkowskiEngine        ``(K^3, Cin, Cout)``                     x fastest
TorchSparse            ``(K^3, Cin, Cout)``                     x fastest (odd K),
                                                                z fastest (even K)
=====================  =======================================  ==========================
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = [
    "to_torch_conv3d",
    "from_torch_conv3d",
    "to_torch_conv_transpose3d",
    "to_spconv",
    "from_spconv",
    "to_minkowski",
    "from_minkowski",
    "to_torchsparse",
    "from_torchsparse",
    "kernel_edge",
]


def kernel_edge(weights: np.ndarray) -> int:
    """``K`` of ``(K^3, Cin, Cout)`` weights (error if the first axis is not a cube)."""
    weights = np.asarray(weights)
    if weights.ndim != 3:
        raise InputError(f"weights must be (K^3, Cin, Cout), not shape {weights.shape}")
    k = round(weights.shape[0] ** (1 / 3))
    if k**3 != weights.shape[0]:
        raise InputError(f"{weights.shape[0]} kernel planes is not a cube K^3")
    return k


def _grid(weights: np.ndarray) -> np.ndarray:
    k = kernel_edge(weights)
    return np.asarray(weights).reshape(k, k, k, weights.shape[1], weights.shape[2])


def to_torch_conv3d(weights: np.ndarray) -> np.ndarray:
    """``(K^3, Cin, Cout)`` -> PyTorch ``conv3d`` weight ``(Cout, Cin, K, K, K)``."""
    return np.ascontiguousarray(_grid(weights).transpose(4, 3, 0, 1, 2))


def from_torch_conv3d(weight: np.ndarray) -> np.ndarray:
    """PyTorch ``conv3d`` weight ``(Cout, Cin, K, K, K)`` -> ``(K^3, Cin, Cout)``."""
    w = np.asarray(weight)
    cout, cin, k = w.shape[0], w.shape[1], w.shape[2]
    return np.ascontiguousarray(w.transpose(2, 3, 4, 1, 0).reshape(k**3, cin, cout))


def to_torch_conv_transpose3d(weights: np.ndarray) -> np.ndarray:
    """``(K^3, Cin, Cout)`` -> PyTorch ``conv_transpose3d`` weight ``(Cin, Cout, K, K, K)``.

    AccSS3D's transposed offsets are ``output - input``, PyTorch's ``o = s*i + k - p``: the
    same index ``k``, no flip.
    """
    return np.ascontiguousarray(_grid(weights).transpose(3, 4, 0, 1, 2))


def to_spconv(weights: np.ndarray) -> np.ndarray:
    """``(K^3, Cin, Cout)`` -> spconv 2.x weight ``(Cout, K, K, K, Cin)``."""
    return np.ascontiguousarray(_grid(weights).transpose(4, 0, 1, 2, 3))


def from_spconv(weight: np.ndarray) -> np.ndarray:
    """spconv 2.x weight ``(Cout, K, K, K, Cin)`` -> ``(K^3, Cin, Cout)``."""
    w = np.asarray(weight)
    cout, k, cin = w.shape[0], w.shape[1], w.shape[4]
    return np.ascontiguousarray(w.transpose(1, 2, 3, 4, 0).reshape(k**3, cin, cout))


def _swap_xz(weights: np.ndarray) -> np.ndarray:
    g = _grid(weights)
    return np.ascontiguousarray(g.transpose(2, 1, 0, 3, 4).reshape(weights.shape))


def to_minkowski(weights: np.ndarray) -> np.ndarray:
    """``(K^3, Cin, Cout)`` z-fastest -> MinkowskiEngine's x-fastest ``(K^3, Cin, Cout)``."""
    return _swap_xz(weights)


def from_minkowski(weights: np.ndarray) -> np.ndarray:
    """MinkowskiEngine's x-fastest ``(K^3, Cin, Cout)`` -> AccSS3D's z-fastest order."""
    return _swap_xz(weights)


def to_torchsparse(weights: np.ndarray) -> np.ndarray:
    """``(K^3, Cin, Cout)`` -> TorchSparse's order (x fastest for odd K, as is for even K)."""
    return _swap_xz(weights) if kernel_edge(weights) % 2 else np.array(weights, copy=True)


def from_torchsparse(weights: np.ndarray) -> np.ndarray:
    """TorchSparse's ``(K^3, Cin, Cout)`` -> AccSS3D's order."""
    return to_torchsparse(weights)
