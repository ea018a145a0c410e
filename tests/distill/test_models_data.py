"""Model shapes and sizes, dataset readers (IDX, CIFAR-10 batches, digits) and splits."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.data import FASHION_MNIST_DIR, load_data, load_raw, read_idx
from distill.errors import DistillError
from distill.models import MODELS, build_model, count_parameters


@pytest.mark.parametrize("name", ["resnet18", "lenet5", "alexnet"])
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32), (1, 8)])
def test_models_accept_every_input_size(name: str, channels: int, size: int) -> None:
    options = {"width": 4} if name == "resnet18" else {"width": 0.125} if name == "alexnet" else {}
    model = build_model(name, channels, 10, size, **options).eval()
    assert model(torch.zeros(3, channels, size, size)).shape == (3, 10)


def test_paper_sized_models() -> None:
    # the CIFAR ResNet-18 has 11,173,962 parameters; LeNet-5 (3 channels) 62,006
    assert count_parameters(build_model("resnet18", 3, 10, 32)) == 11_173_962
    assert count_parameters(build_model("lenet5", 3, 10, 32)) == 62_006
    alex = build_model("alexnet", 3, 10, 32)
    assert alex.classifier[1].in_features == 4096  # 256 x 4 x 4, as in the paper's code
    assert set(MODELS.names()) >= {"resnet18", "lenet5", "alexnet"}


def test_unknown_model_and_bad_options() -> None:
    with pytest.raises(DistillError, match=r"^unknown model 'vgg' \(known: alexnet, lenet5, "):
        build_model("vgg", 1, 10, 28)
    with pytest.raises(DistillError, match=r"model 'lenet5': bad options \['width'\]"):
        build_model("lenet5", 1, 10, 28, width=2)


def _write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip_and_errors(tmp_path: Path, gz: bool) -> None:
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    _write_idx(path, a, gz)
    assert np.array_equal(read_idx(path), a)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DistillError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(DistillError, match="truncated IDX file"):
        read_idx(short)


def test_fashion_mnist_from_a_directory_of_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for stem, shape in (
        ("train-images-idx3-ubyte", (30, 28, 28)),
        ("t10k-images-idx3-ubyte", (12, 28, 28)),
    ):
        _write_idx(tmp_path / f"{stem}.gz", rng.integers(0, 255, shape), True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(30) % 10, False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(12) % 10, False)
    data = load_data("fashion_mnist", str(tmp_path), 20, 5, 8, 5, 0)
    assert (len(data.train), len(data.val), len(data.test), len(data.reference)) == (20, 5, 8, 5)
    assert data.train.x.shape[1:] == (1, 28, 28) and data.num_classes == 10
    assert abs(float(data.train.x.mean())) < 1e-5  # normalised with the train statistics


def test_missing_dataset_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DistillError) as err:
        load_raw("fashion_mnist", str(tmp_path))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"Fashion-MNIST not found: no train-images-idx3-ubyte[.gz] in {tmp_path}")
    assert "apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg
    with pytest.raises(DistillError, match=r"^CIFAR-10 not found: no data_batch_1 in .*--data-dir"):
        load_raw("cifar10", str(tmp_path))


def test_cifar10_python_batches(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, 4)),
        }
        (root / name).write_bytes(pickle.dumps(batch))
    x_tr, y_tr, x_te, y_te = load_raw("cifar10", str(tmp_path))
    assert x_tr.shape == (20, 3, 32, 32) and x_te.shape == (4, 3, 32, 32)
    assert y_tr.shape == (20,)


def test_digits_splits_are_disjoint_and_seeded() -> None:
    a = load_data("digits", None, 500, 100, 200, 300, 0)
    b = load_data("digits", None, 500, 100, 200, 300, 0)
    assert torch.equal(a.train.x, b.train.x)
    assert a.image_size == 8 and a.in_channels == 1 and len(a.test) == 200
    rows = {tuple(r.flatten().tolist()) for r in a.train.x}
    assert not any(tuple(r.flatten().tolist()) in rows for r in a.reference.x[:50])
    with pytest.raises(DistillError, match=r"data.train_size = 5000 exceeds the 1000 images"):
        load_data("digits", None, 5000, 100, None, 300, 0)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_the_installed_fashion_mnist() -> None:
    x_tr, y_tr, x_te, y_te = load_raw("fashion_mnist", None)
    assert x_tr.shape == (60000, 1, 28, 28) and x_te.shape == (10000, 1, 28, 28)
    assert set(np.unique(y_tr)) == set(range(10))
