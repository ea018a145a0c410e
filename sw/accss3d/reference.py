"""Owns the independent references: dense PyTorch convolution on the densified grid.

These re-compute a sparse convolution with ``torch.nn.functional.conv3d`` /
``conv_transpose3d`` on a dense grid covering the voxels, then read the result back at the
output coordinates - the way spconv and TorchSparse test themselves.  They share no code
with the golden model except the offset convention (which :mod:`accss3d.layouts` converts),
so they can catch errors in the kernel maps as well as in the arithmetic.

Dense grids grow with the bounding box: meant for test-sized scenes (PyTorch is imported
lazily; it is a ``dev`` dependency).
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .layouts import to_torch_conv3d, to_torch_conv_transpose3d
from .rulebook import ConvSpec

__all__ = ["dense_conv_reference", "MAX_DENSE_CELLS"]

#: Largest dense grid (cells per channel and batch entry) the reference will allocate.
MAX_DENSE_CELLS = 1 << 24


def dense_conv_reference(
    in_coords: np.ndarray,
    feats: np.ndarray,
    weights: np.ndarray,
    spec: ConvSpec,
    out_coords: np.ndarray,
    in_stride: int = 1,
    bias: np.ndarray | None = None,
    dtype: str = "float64",
) -> np.ndarray:
    """Sparse convolution computed densely with PyTorch, read at ``out_coords``.

    Parameters
    ----------
    in_coords, out_coords : ndarray (N, 4) / (M, 4), int
    feats : ndarray (N, Cin)
    weights : ndarray (K^3, Cin, Cout), AccSS3D layout
    spec : ConvSpec
    in_stride : int
        Tensor stride of the input.
    bias : ndarray (Cout,), optional
    dtype : {"float64", "float32"}
        Arithmetic of the dense convolution (float64 is exact for int8 operands).

    Returns
    -------
    ndarray (M, Cout)
    """
    import torch
    import torch.nn.functional as F

    tdtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    k, s, dil = spec.kernel_size, spec.stride, spec.dilation
    pad = ((k - 1) // 2) * dil
    if spec.kind == "transposed":
        unit = in_stride // s  # fine lattice = output stride
        step_in, step_out = s, 1
    else:
        unit = in_stride
        step_in, step_out = 1, (1 if spec.kind == "submanifold" else s)
    cin = feats.shape[1]
    ic = np.asarray(in_coords, np.int64)
    oc = np.asarray(out_coords, np.int64)
    both = np.concatenate([ic[:, 1:], oc[:, 1:]]) // unit
    align = step_in * step_out
    origin = (both.min(axis=0) // align - 1) * align  # keeps grid indices integral
    margin = (k + 2) * dil + 2 * align
    extent = both.max(axis=0) - origin + margin
    batch = int(max(ic[:, 0].max(), oc[:, 0].max())) + 1
    in_dims = [int(-(-e // step_in)) for e in extent]
    if int(np.prod(in_dims)) > MAX_DENSE_CELLS:
        raise ConfigError(f"dense reference grid {in_dims} is too large for a test")
    grid = torch.zeros((batch, cin, *in_dims), dtype=tdtype)
    rel = (ic[:, 1:] // unit - origin) // step_in
    grid[ic[:, 0], :, rel[:, 0], rel[:, 1], rel[:, 2]] = torch.as_tensor(
        np.asarray(feats, np.float64)
    ).to(tdtype)
    if spec.kind == "transposed":
        w = torch.as_tensor(to_torch_conv_transpose3d(np.asarray(weights, np.float64))).to(tdtype)
        dense = F.conv_transpose3d(grid, w, stride=s, padding=pad, dilation=dil)
    else:
        w = torch.as_tensor(to_torch_conv3d(np.asarray(weights, np.float64))).to(tdtype)
        dense = F.conv3d(grid, w, stride=step_out, padding=pad, dilation=dil)
    orel = (oc[:, 1:] // unit - origin) // step_out
    out = dense[oc[:, 0], :, orel[:, 0], orel[:, 1], orel[:, 2]].numpy()
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    return out
