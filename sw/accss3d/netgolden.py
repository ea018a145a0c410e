"""Owns the integer forward pass of a whole network on the golden model, and its parameters.

Every layer computes, bit-exactly as the core does (docs/arithmetic.md)::

    acc = wrap(bias + sum_k x[table[k, o]] @ W[k] + r[o] @ W_res, acc_bits)
    y   = requant(acc)   (round half up, ReLU, saturation to act_bits)

where ``x`` is the channel concatenation of the layer's ``inputs`` and ``r`` the
concatenation of its ``residual`` tensors (ResNet shortcuts, accumulated through one extra
centre-offset weight plane ``W_res``: the identity when ``Cres == Cout``, a 1x1 projection
otherwise).  Parameters are integers:

* drawn deterministically from a seed (:func:`random_params`: weights uniform over the
  signed ``weight_bits`` range, bias uniform in +-2^10, identity residual weights), with the
  requantization of each layer calibrated from its accumulators
  (:func:`accss3d.golden.calibrate_requant`, recorded so the compiler embeds the same), or
* loaded from an ``.npz`` state dict (:func:`load_params`) with these names, AccSS3D layout
  (docs/conventions.md; convert spconv/MinkowskiEngine weights with
  :mod:`accss3d.layouts` first):

  ============================  ==========================  =============================
  name                          shape, dtype                meaning
  ============================  ==========================  =============================
  ``<layer>.weight``            ``(K^3, Cin, Cout)`` int8   weight planes, offset order of
                                                            the kernel map
  ``<layer>.bias``              ``(Cout,)`` int32           optional (default 0)
  ``<layer>.residual_weight``   ``(Cres, Cout)`` int8       layers with a residual
                                                            (default: identity if square)
  ``<layer>.multiplier``        scalar int                  optional requantization (with
  ``<layer>.shift``             scalar int                  ``.shift``); else calibrated
  ``input``                     ``(N, Cin)`` int8           optional input features
  ============================  ==========================  =============================

The functional simulator's outputs must equal :func:`forward`'s bit for bit.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from .arch import ArchConfig, get_config
from .errors import InputError
from .golden import accumulate_int, calibrate_requant
from .network import INPUT, LayerPlan
from .quant import Requant, int_range, wrap

__all__ = [
    "LayerParams",
    "NetResult",
    "random_params",
    "random_input",
    "load_params",
    "save_params",
    "resolve_requant",
    "forward",
    "tensor_sha256",
]


@dataclass(frozen=True, eq=False)
class LayerParams:
    """Integer parameters of one layer.

    Parameters
    ----------
    weight : ndarray (K, Cin, Cout) int
    bias : ndarray (Cout,) int
    residual_weight : ndarray (Cres, Cout) int or None
    requant : Requant or None
        None: calibrate from the accumulators (:func:`forward` records the result).
    """

    weight: np.ndarray
    bias: np.ndarray
    residual_weight: np.ndarray | None = None
    requant: Requant | None = None


@dataclass(eq=False)
class NetResult:
    """Outputs of :func:`forward`: every tensor (int8 features) and every layer's requant."""

    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    requant: dict[str, Requant] = field(default_factory=dict)
    seconds: float = 0.0


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *key])


def _widths(cfg: ArchConfig | None) -> ArchConfig:
    return cfg if cfg is not None else get_config("default")


def random_params(plans: list[LayerPlan], seed: int = 0, cfg: ArchConfig | None = None):
    """Deterministic integer parameters for every layer (requant left to calibration).

    Weights of layer ``j`` come from ``numpy.random.default_rng([seed, j + 1])``: uniform over
    the signed ``weight_bits`` range; bias uniform in ``[-1024, 1024]``; residual weights the
    identity when ``Cres == Cout``, else uniform like the weights.

    Returns
    -------
    dict of str to LayerParams
    """
    cfg = _widths(cfg)
    lo, hi = int_range(cfg.weight_bits)
    out = {}
    for j, plan in enumerate(plans):
        rng = _rng(seed, j + 1)
        cout = plan.layer.cout
        weight = rng.integers(lo, hi + 1, (plan.kmap.volume, plan.cin, cout), dtype=np.int64)
        bias = rng.integers(-1024, 1025, cout, dtype=np.int64)
        res = None
        if plan.residual_channels:
            if plan.residual_channels == cout:
                res = np.eye(cout, dtype=np.int64)
            else:
                res = rng.integers(lo, hi + 1, (plan.residual_channels, cout), dtype=np.int64)
        out[plan.layer.name] = LayerParams(weight, bias.astype(np.int32), res)
    return out


def random_input(n: int, channels: int, seed: int = 0, cfg: ArchConfig | None = None):
    """Deterministic input features ``(n, channels)``, uniform over the activation range."""
    cfg = _widths(cfg)
    lo, hi = int_range(cfg.act_bits)
    dtype = np.int8 if cfg.act_bits <= 8 else np.int16
    return _rng(seed, 0).integers(lo, hi + 1, (n, channels), dtype=np.int64).astype(dtype)


def _check(name, arr, shape, bits, what):
    arr = np.asarray(arr)
    if arr.shape != shape:
        raise InputError(f"{name}: {what} must have shape {shape}, not {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name}: {what} must be integers, not {arr.dtype}")
    lo, hi = int_range(bits)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise InputError(f"{name}: {what} exceed the signed {bits}-bit range")
    return arr.astype(np.int64)


def load_params(path: str | os.PathLike, plans: list[LayerPlan], cfg: ArchConfig | None = None):
    """Parameters from an ``.npz`` state dict (naming in the module docstring).

    Returns
    -------
    (dict of str to LayerParams, input features or None)

    Raises
    ------
    InputError
        One line naming the missing or malformed array.
    """
    cfg = _widths(cfg)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read weights {path}: {exc}") from None
    with data:
        arrays = {k: data[k] for k in data.files}
    out = {}
    for plan in plans:
        name = plan.layer.name
        cout = plan.layer.cout
        key = f"{name}.weight"
        if key not in arrays:
            raise InputError(f"weights {path}: no array {key!r} (layer {name})")
        weight = _check(
            key, arrays[key], (plan.kmap.volume, plan.cin, cout), cfg.weight_bits, "weights"
        )
        bias = arrays.get(f"{name}.bias", np.zeros(cout, np.int32))
        bias = _check(f"{name}.bias", bias, (cout,), 32, "bias")
        res = None
        if plan.residual_channels:
            rkey = f"{name}.residual_weight"
            if rkey in arrays:
                res = _check(
                    rkey,
                    arrays[rkey],
                    (plan.residual_channels, cout),
                    cfg.weight_bits,
                    "residual weights",
                )
            elif plan.residual_channels == cout:
                res = np.eye(cout, dtype=np.int64)
            else:
                raise InputError(f"weights {path}: no array {rkey!r} (projection of layer {name})")
        requant = None
        if f"{name}.multiplier" in arrays or f"{name}.shift" in arrays:
            try:
                requant = Requant(
                    int(arrays[f"{name}.multiplier"]),
                    int(arrays[f"{name}.shift"]),
                    plan.layer.relu,
                    cfg.act_bits,
                    cfg.requant_mult_bits,
                    cfg.acc_bits,
                )
            except KeyError as exc:
                raise InputError(f"weights {path}: {exc.args[0]!r} missing (needs both)") from None
        out[name] = LayerParams(weight, bias.astype(np.int32), res, requant)
    feats = None
    if INPUT in arrays:
        feats = arrays[INPUT]
    return out, feats


def save_params(
    path: str | os.PathLike,
    params: dict,
    requant: dict | None = None,
    feats: np.ndarray | None = None,
) -> None:
    """Write parameters (and optionally the requantization and input) as an ``.npz``."""
    arrays = {}
    for name, p in params.items():
        arrays[f"{name}.weight"] = np.asarray(p.weight, np.int8)
        arrays[f"{name}.bias"] = np.asarray(p.bias, np.int32)
        if p.residual_weight is not None:
            arrays[f"{name}.residual_weight"] = np.asarray(p.residual_weight, np.int8)
        rq = (requant or {}).get(name, p.requant)
        if rq is not None:
            arrays[f"{name}.multiplier"] = np.int64(rq.multiplier)
            arrays[f"{name}.shift"] = np.int64(rq.shift)
    if feats is not None:
        arrays[INPUT] = feats
    np.savez(path, **arrays)


def _concat(tensors: dict, names) -> np.ndarray:
    parts = [tensors[n] for n in names]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def resolve_requant(plan: LayerPlan, params: LayerParams, acc: np.ndarray, cfg) -> Requant:
    """The layer's requantization: its own, or calibrated from the accumulators."""
    if params.requant is not None:
        return params.requant
    return calibrate_requant(
        acc,
        relu=plan.layer.relu,
        out_bits=cfg.act_bits,
        mult_bits=cfg.requant_mult_bits,
        acc_bits=cfg.acc_bits,
    )


def forward(
    plans: list[LayerPlan],
    feats: np.ndarray,
    params: dict,
    cfg: ArchConfig | None = None,
    *,
    progress=None,
) -> NetResult:
    """Integer forward pass of a network (a list of layer plans in execution order).

    Parameters
    ----------
    plans : list of LayerPlan
        Layers whose inputs are ``"input"`` or earlier layers' names.
    feats : ndarray (N, Cin) int
        The input tensor's features.
    params : dict of str to LayerParams
    cfg : ArchConfig, optional
        Operand and accumulator widths (default config when omitted).
    progress : callable, optional
        Called with each layer's name before it runs.

    Returns
    -------
    NetResult
        ``tensors[name]`` for the input and every layer; ``requant[name]`` as used.
    """
    import time

    cfg = _widths(cfg)
    t0 = time.perf_counter()
    out_dtype = np.int8 if cfg.act_bits <= 8 else np.int16
    result = NetResult()
    result.tensors[INPUT] = np.asarray(feats)
    for plan in plans:
        layer = plan.layer
        if progress is not None:
            progress(layer.name)
        p = params[layer.name]
        x = _concat(result.tensors, layer.inputs)
        acc = accumulate_int(
            x,
            plan.kmap,
            p.weight,
            p.bias,
            act_bits=cfg.act_bits,
            weight_bits=cfg.weight_bits,
            acc_bits=cfg.acc_bits,
        )
        if layer.residual:
            r = _concat(result.tensors, layer.residual).astype(np.float64)
            acc = wrap(
                acc + (r @ np.asarray(p.residual_weight, np.float64)).astype(np.int64), cfg.acc_bits
            )
        rq = resolve_requant(plan, p, acc, cfg)
        result.requant[layer.name] = rq
        result.tensors[layer.name] = rq.apply(acc).astype(out_dtype)
    result.seconds = time.perf_counter() - t0
    return result


def tensor_sha256(values: np.ndarray) -> str:
    """SHA-256 (hex) of a tensor's little-endian bytes and shape (the manifest's check)."""
    arr = np.ascontiguousarray(values)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()
