"""accss3d.pointcloud: every supported format, attributes, and one-line errors."""

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from accss3d.errors import InputError
from accss3d.pointcloud import PointCloud, load_point_cloud, save_ply


def _vertex(n, coord="f4", extra=True, rng=None):
    rng = rng or np.random.default_rng(0)
    fields = [("x", coord), ("y", coord), ("z", coord)]
    if extra:
        fields += [
            ("nx", "f4"),
            ("ny", "f4"),
            ("nz", "f4"),
            ("red", "u1"),
            ("green", "u1"),
            ("blue", "u1"),
            ("label", "i4"),
            ("intensity", "f4"),
        ]
    v = np.zeros(n, dtype=fields)
    for a in "xyz":
        v[a] = rng.normal(size=n)
    if extra:
        v["red"] = rng.integers(0, 256, n)
        v["label"] = rng.integers(0, 40, n)
        v["intensity"] = rng.random(n)
        v["nz"] = 1.0
    return v


@pytest.mark.parametrize("text", [True, False], ids=["ascii", "binary"])
@pytest.mark.parametrize("byte_order", ["<", ">"], ids=["le", "be"])
@pytest.mark.parametrize("coord", ["f4", "f8"], ids=["float", "double"])
def test_ply_variants(tmp_path, text, byte_order, coord):
    v = _vertex(50, coord)
    path = tmp_path / "c.ply"
    PlyData([PlyElement.describe(v, "vertex")], text=text, byte_order=byte_order).write(str(path))
    cloud = load_point_cloud(path)
    np.testing.assert_allclose(cloud.points[:, 0], v["x"].astype(np.float64), rtol=1e-6)
    np.testing.assert_array_equal(cloud.colors[:, 0], v["red"])
    np.testing.assert_array_equal(cloud.labels, v["label"])
    np.testing.assert_allclose(cloud.normals[:, 2], 1.0)
    np.testing.assert_allclose(cloud.extra["intensity"], v["intensity"], rtol=1e-6)


def test_ply_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    cloud = PointCloud(
        rng.normal(size=(20, 3)),
        rng.integers(0, 256, (20, 3)).astype(np.uint8),
        rng.normal(size=(20, 3)).astype(np.float32),
        np.arange(20, dtype=np.int32),
    )
    for binary in (True, False):
        path = tmp_path / f"r{binary}.ply"
        save_ply(cloud, path, binary=binary)
        back = load_point_cloud(path)
        np.testing.assert_allclose(back.points, cloud.points.astype(np.float32), rtol=1e-6)
        np.testing.assert_array_equal(back.colors, cloud.colors)
        np.testing.assert_array_equal(back.labels, cloud.labels)


def test_truncated_ply(tmp_path):
    path = tmp_path / "t.ply"
    PlyData([PlyElement.describe(_vertex(100), "vertex")]).write(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    with pytest.raises(InputError, match=r"t\.ply: truncated or malformed PLY file"):
        load_point_cloud(path)


def test_ply_without_xyz(tmp_path):
    v = np.zeros(3, dtype=[("a", "f4"), ("b", "f4")])
    path = tmp_path / "n.ply"
    PlyData([PlyElement.describe(v, "vertex")]).write(str(path))
    with pytest.raises(InputError, match=r"lacks x/y/z properties"):
        load_point_cloud(path)


def test_text_formats(tmp_path):
    path = tmp_path / "c.xyz"
    path.write_text("# comment\n1 2 3 255 0 0\n4,5,6,0,255,0\n7 8 9 0 0 255\n")
    cloud = load_point_cloud(path)
    np.testing.assert_array_equal(cloud.points, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    np.testing.assert_array_equal(cloud.colors[1], [0, 255, 0])
    header = tmp_path / "h.txt"
    header.write_text("x y z\n0 0 0\n1 1 1\n")
    assert len(load_point_cloud(header)) == 2
    ragged = tmp_path / "bad.txt"
    ragged.write_text("1 2 3\n4 5\n")
    with pytest.raises(InputError, match=r"bad\.txt:2: expected 3 columns, found 2"):
        load_point_cloud(ragged)
    word = tmp_path / "w.txt"
    word.write_text("1 2 3\n4 five 6\n")
    with pytest.raises(InputError, match=r"w\.txt:2: not a number"):
        load_point_cloud(word)


def test_numpy_formats(tmp_path):
    pts = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "p.npy", pts)
    np.testing.assert_array_equal(load_point_cloud(tmp_path / "p.npy").points, pts)
    np.savez(tmp_path / "p.npz", xyz=pts, labels=np.arange(4), weight=np.ones(4))
    cloud = load_point_cloud(tmp_path / "p.npz")
    np.testing.assert_array_equal(cloud.labels, np.arange(4))
    assert "weight" in cloud.extra
    np.savez(tmp_path / "q.npz", other=pts)
    with pytest.raises(InputError, match=r"\.npz has no 'points' array \(found: other\)"):
        load_point_cloud(tmp_path / "q.npz")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"the point cloud is empty"),
        ("1 2 3\n", r"the point cloud has 1 point; at least 2 are needed"),
        ("1 2 3\nnan 0 0\n", r"1 point\(s\) have non-finite coordinates \(first: point 1 is NaN\)"),
        ("1 2 3\ninf 0 0\n", r"non-finite coordinates \(first: point 1 is infinite\)"),
    ],
)
def test_bad_clouds(tmp_path, content, message):
    path = tmp_path / "c.xyz"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_point_cloud(path, min_points=2)


def test_unknown_format_and_missing(tmp_path):
    with pytest.raises(InputError, match=r"unknown point cloud format '\.las'"):
        load_point_cloud(tmp_path / "a.las")
    with pytest.raises(InputError, match=r"a\.ply: no such file"):
        load_point_cloud(tmp_path / "a.ply")
    (tmp_path / "b.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"unreadable \.npy file"):
        load_point_cloud(tmp_path / "b.npy")
