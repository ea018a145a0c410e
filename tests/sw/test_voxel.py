"""accss3d.voxel: quantization, duplicate policies, batches, order, errors."""

import numpy as np
import pytest

from accss3d.errors import ConfigError, InputError
from accss3d.pointcloud import PointCloud
from accss3d.voxel import SparseTensor, voxelize


def test_floor_quantization_and_raster_order():
    pts = np.array([[0.26, -0.01, 0.0], [0.0, 0.0, 0.0], [-0.3, 0.2, 0.1], [0.0, 0.0, 0.09]])
    x = voxelize(pts, 0.1)
    np.testing.assert_array_equal(x.coords, [[0, -3, 2, 1], [0, 0, 0, 0], [0, 2, -1, 0]])
    assert x.coords.dtype == np.int32


@pytest.mark.parametrize(
    "policy, expected", [("first", [1.0, 5.0]), ("mean", [2.0, 5.0]), ("sum", [6.0, 5.0])]
)
def test_duplicate_policies(policy, expected):
    pts = np.array([[0.01, 0, 0], [0.5, 0, 0], [0.02, 0, 0], [0.03, 0, 0]])
    feats = np.array([1.0, 5.0, 2.0, 3.0], dtype=np.float32)
    x = voxelize(pts, 0.1, features=feats, policy=policy)
    np.testing.assert_allclose(x.feats[:, 0], expected)


def test_inverse_and_labels():
    cloud = PointCloud(
        np.array([[0.0, 0, 0], [1.0, 0, 0], [0.01, 0, 0]]), labels=np.array([7, 8, 9], np.int32)
    )
    x, inv = voxelize(cloud, 0.1, return_inverse=True)
    np.testing.assert_array_equal(inv, [0, 1, 0])
    np.testing.assert_array_equal(x.labels, [7, 8])


def test_batches_stay_apart():
    pts = np.zeros((4, 3))
    x = voxelize(pts, 1.0, batch_index=np.array([1, 0, 1, 2]))
    np.testing.assert_array_equal(x.coords[:, 0], [0, 1, 2])
    assert x.batch_size == 3


def test_deterministic_bytes():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(5000, 3))
    a, b = voxelize(pts, 0.05, policy="mean"), voxelize(pts.copy(), 0.05, policy="mean")
    assert a.coords.tobytes() == b.coords.tobytes() and a.feats.tobytes() == b.feats.tobytes()


def test_utm_scale_coordinates():
    pts = np.array([[512345.26, 4123456.51, 12.01], [512345.31, 4123456.57, 12.01]])
    x = voxelize(pts, 0.05)
    assert len(x) == 2 and x.coords[:, 2].max() == 82469131


@pytest.mark.parametrize(
    "points, size, error, message",
    [
        (np.zeros((0, 3)), 0.1, InputError, r"the point cloud is empty"),
        (np.array([[0, 0, np.nan]]), 0.1, InputError, r"non-finite coordinates"),
        (np.array([[0, 0, 0.0]]), 0.0, ConfigError, r"voxel size must be a positive finite"),
        (np.array([[0, 0, 0.0]]), -1, ConfigError, r"voxel size must be a positive finite"),
        (np.array([[0, 0, 0.0]]), np.inf, ConfigError, r"voxel size must be a positive finite"),
        (
            np.array([[3e7, 0, 0.0]]),
            0.001,
            InputError,
            r"coordinates overflow int32 after quantization at voxel size 0\.001",
        ),
        (np.zeros((2, 2)), 0.1, InputError, r"points must have shape \(N, 3\)"),
    ],
)
def test_errors(points, size, error, message):
    with pytest.raises(error, match=message):
        voxelize(points, size)


def test_bad_policy_and_features():
    with pytest.raises(ConfigError, match=r"unknown duplicate policy 'max'"):
        voxelize(np.zeros((1, 3)), 1.0, policy="max")
    with pytest.raises(InputError, match=r"features have 2 rows for 1 points"):
        voxelize(np.zeros((1, 3)), 1.0, features=np.zeros((2, 1)))


def test_sparse_tensor_checks():
    with pytest.raises(InputError, match=r"coords must have shape \(N, 4\)"):
        SparseTensor(np.zeros((3, 3), np.int32), np.zeros((3, 1)))
    t = SparseTensor(np.array([[0, 0, 0, 0], [0, 2, 2, 2]]), np.zeros(2), stride=2)
    assert t.channels == 1 and t.occupancy() == pytest.approx(2 / 8)
