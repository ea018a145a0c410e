"""Owns the datasets of the study: readers, splits and normalisation, all in memory.

Sources (never downloaded at run time):

* ``fashion_mnist``: the four IDX files (optionally gzipped) of Fashion-MNIST, by default from
  ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``) or ``data_dir``;
* ``cifar10``: the python batches of CIFAR-10 (``data_batch_1..5``, ``test_batch``) in
  ``data_dir`` or ``data_dir/cifar-10-batches-py``;
* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), for smoke tests.

The official training set is split, by a permutation seeded with ``split_seed``, into disjoint
``val``, ``train`` and ``reference`` parts (the last one trains the reference ensemble of
:mod:`distill.reference`); the test set is optionally subsampled (``test_index`` keeps the
positions in the official test set, so that per-image soft labels such as CIFAR-10H align).
Images are scaled to [0, 1] and normalised per channel with the ``train`` part's statistics.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .errors import DistillError

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "Split",
    "DataBundle",
    "read_idx",
    "load_raw",
    "load_data",
]

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: Dataset names a config may use.
DATASETS = ("fashion_mnist", "cifar10", "digits")

_FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_CIFAR_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class Split:
    """Images ``x`` (N, C, H, W, float32, normalised) and integer labels ``y`` (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class DataBundle:
    """The splits of one dataset plus what models need to know about it."""

    name: str
    train: Split
    val: Split
    test: Split
    reference: Split
    test_index: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def in_channels(self) -> int:
        """Image channels (1 or 3)."""
        return int(self.train.x.shape[1])

    @property
    def image_size(self) -> int:
        """Side of the square images, in pixels."""
        return int(self.train.x.shape[-1])


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into an array of its declared shape and type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DistillError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    count = int(np.prod(dims)) if dims else 0
    body = data[4 + 4 * ndim :]
    if len(body) != count * dtype.itemsize:
        raise DistillError(
            f"{path}: truncated IDX file ({len(body)} bytes of data, expected "
            f"{count * dtype.itemsize})"
        )
    return np.frombuffer(body, dtype=dtype, count=count).reshape(dims)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (directory / name).is_file():
            return directory / name
    return None


def _load_fashion_mnist(data_dir: Path | None) -> tuple[np.ndarray, ...]:
    directory = Path(data_dir) if data_dir else FASHION_MNIST_DIR
    stems = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    paths = [_find(directory, s) for s in stems]
    missing = [s for s, p in zip(stems, paths, strict=True) if p is None]
    if missing:
        raise DistillError(
            f"Fashion-MNIST not found: no {missing[0]}[.gz] in {directory}; install it with "
            "'apt-get install dataset-fashion-mnist' (Debian) or pass --data-dir with the four "
            "IDX files of the zalandoresearch/fashion-mnist release"
        )
    x_tr, y_tr, x_te, y_te = (read_idx(p) for p in paths)
    return x_tr[:, None], y_tr, x_te[:, None], y_te


def _load_cifar10(data_dir: Path | None) -> tuple[np.ndarray, ...]:
    hint = (
        "download cifar-10-python.tar.gz from the CIFAR-10 page (Krizhevsky), extract it and "
        "pass --data-dir"
    )
    if data_dir is None:
        raise DistillError(f"CIFAR-10 needs a data directory: {hint}")
    directory = Path(data_dir)
    if (directory / "cifar-10-batches-py").is_dir():
        directory = directory / "cifar-10-batches-py"
    parts = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        path = directory / name
        if not path.is_file():
            raise DistillError(f"CIFAR-10 not found: no {name} in {directory}; {hint}")
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        parts[name] = (
            np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32),
            np.asarray(batch[b"labels"], dtype=np.int64),
        )
    x_tr = np.concatenate([parts[f"data_batch_{i}"][0] for i in range(1, 6)])
    y_tr = np.concatenate([parts[f"data_batch_{i}"][1] for i in range(1, 6)])
    return x_tr, y_tr, *parts["test_batch"]


def _load_digits() -> tuple[np.ndarray, ...]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - sklearn is a dev dependency
        raise DistillError(
            "the digits dataset needs scikit-learn: pip install 'accss3d[dev]'"
        ) from None
    digits = load_digits()
    x = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:397], order[397:]
    return x[train], y[train], x[test], y[test]


@lru_cache(maxsize=4)
def load_raw(name: str, data_dir: str | None = None) -> tuple[np.ndarray, ...]:
    """Return ``(x_train, y_train, x_test, y_test)`` as uint8 (N, C, H, W) images and labels."""
    directory = Path(data_dir) if data_dir else None
    if name == "fashion_mnist":
        return _load_fashion_mnist(directory)
    if name == "cifar10":
        return _load_cifar10(directory)
    if name == "digits":
        return _load_digits()
    raise DistillError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")


def _take(n: int | None, available: int, what: str) -> int:
    if n is None:
        return available
    if n > available:
        raise DistillError(f"data.{what} = {n} exceeds the {available} images available")
    return n


@lru_cache(maxsize=4)
def load_data(
    name: str,
    data_dir: str | None = None,
    train_size: int | None = None,
    val_size: int = 0,
    test_size: int | None = None,
    reference_size: int = 0,
    split_seed: int = 0,
) -> DataBundle:
    """Load dataset ``name`` and cut it into disjoint, normalised splits.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    data_dir : str, optional
        Where the files are (the default place for Fashion-MNIST is :data:`FASHION_MNIST_DIR`).
    train_size : int, optional
        Training images (``None``: all that the other splits leave).
    val_size : int
        Validation images (best-epoch selection, temperature calibration of the reference).
    test_size : int, optional
        Test images, a seeded subset of the official test set (``None``: all of it).
    reference_size : int
        Training images reserved for the reference ensemble, disjoint from ``train``.
    split_seed : int
        Seed of the permutations that cut the splits.

    Returns
    -------
    DataBundle
    """
    x_tr, y_tr, x_te, y_te = load_raw(name, data_dir)
    rng = np.random.default_rng(split_seed)
    order = rng.permutation(len(y_tr))
    n_val = _take(val_size, len(order), "val_size")
    n_ref = _take(reference_size, len(order) - n_val, "reference_size")
    n_train = _take(train_size, len(order) - n_val - n_ref, "train_size")
    val_idx = order[:n_val]
    train_idx = order[n_val : n_val + n_train]
    ref_idx = order[len(order) - n_ref :]
    test_order = rng.permutation(len(y_te))
    test_idx = np.sort(test_order[: _take(test_size, len(y_te), "test_size")])

    x_train = torch.from_numpy(x_tr[train_idx].astype(np.float32) / 255.0)
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def split(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Split:
        images = torch.from_numpy(x[idx].astype(np.float32) / 255.0)
        return Split(
            ((images - mean) / std).contiguous(), torch.from_numpy(y[idx].astype(np.int64))
        )

    classes = {"fashion_mnist": _FASHION_CLASSES, "cifar10": _CIFAR_CLASSES}
    names = classes.get(name, tuple(str(i) for i in range(10)))
    return DataBundle(
        name=name,
        train=split(x_tr, y_tr, train_idx),
        val=split(x_tr, y_tr, val_idx),
        test=split(x_te, y_te, test_idx),
        reference=split(x_tr, y_tr, ref_idx),
        test_index=test_idx,
        class_names=names,
    )
