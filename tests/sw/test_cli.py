"""The accss3d command line: outputs, JSON, and one-line errors with exit status 2."""

import json

import numpy as np
import pytest

from accss3d.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rulebook_json(capsys):
    code, out, err = run(capsys, "rulebook", "room:1:tiny", "--kernel", "3", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    for key in ("voxels", "outputs", "pairs", "pairs_per_offset", "arf", "occupancy"):
        assert key in data
    assert data["pairs"] == sum(data["pairs_per_offset"]) and len(data["pairs_per_offset"]) == 27
    assert data["arf"] == pytest.approx(data["pairs"] / data["outputs"])


def test_rulebook_strided_and_transposed(capsys):
    _, out, _ = run(capsys, "rulebook", "room:1:tiny", "--kernel", "2", "--stride", "2", "--json")
    down = json.loads(out)
    _, out, _ = run(
        capsys,
        "rulebook",
        "room:1:tiny",
        "--kernel",
        "2",
        "--stride",
        "2",
        "--transposed",
        "--json",
    )
    up = json.loads(out)
    assert down["outputs"] < down["voxels"]
    assert up["voxels"] == down["outputs"] and up["outputs"] == down["voxels"]
    assert up["pairs"] == down["pairs"]


def test_golden_npz_rechecks(capsys, tmp_path):
    from accss3d.reference import dense_conv_reference
    from accss3d.rulebook import ConvSpec

    path = tmp_path / "g.npz"
    code, _, _ = run(
        capsys,
        "golden",
        "room:2:tiny",
        "--voxel-size",
        "0.1",
        "--cin",
        "3",
        "--cout",
        "5",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--dtype",
        "int8",
        "--seed",
        "4",
        "-o",
        str(path),
    )
    assert code == 0
    z = np.load(path)
    assert z["weights"].shape == (27, 3, 5) and z["offsets"].shape == (27, 3)
    ref = dense_conv_reference(
        z["in_coords"],
        z["in_feats"],
        z["weights"],
        ConvSpec("strided", 3, 2),
        z["out_coords"],
        bias=z["bias"],
    )
    np.testing.assert_array_equal(z["acc"], ref)


def test_golden_deterministic(capsys, tmp_path):
    for name in ("a", "b"):
        run(
            capsys,
            "golden",
            "room:0:tiny",
            "--cin",
            "2",
            "--cout",
            "2",
            "-o",
            str(tmp_path / f"{name}.npz"),
        )
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert all(a[k].tobytes() == b[k].tobytes() for k in a.files)


def test_scene_and_voxelize(capsys, tmp_path):
    ply = tmp_path / "room.ply"
    code, out, _ = run(capsys, "scene", "--size", "3000", "--seed", "2", "-o", str(ply), "--json")
    assert code == 0 and ply.exists()
    made = json.loads(out)
    code, out, _ = run(capsys, "voxelize", str(ply), "--voxel-size", "0.05", "--json")
    assert code == 0 and json.loads(out)["voxels"] == made["voxels"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["rulebook", "missing.ply", "--voxel-size", "0.1"], "missing.ply: no such file"),
        (["rulebook", "scan.las", "--voxel-size", "0.1"], "unknown point cloud format '.las'"),
        (["rulebook", "room", "--kernel", "2"], "kernel size 2 is even"),
        (["rulebook", "a.ply"], "--voxel-size is required for the point cloud file a.ply"),
        (
            ["golden", "room", "--cin", "0", "--cout", "3", "-o", "x.npz"],
            "--cin must be a positive channel count, not 0",
        ),
        (["scene", "--size", "big"], "unknown scene size 'big'"),
    ],
)
def test_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("accss3d: error: ") and message in err and err.count("\n") == 1


def test_bad_files_one_line(capsys, tmp_path):
    nan = tmp_path / "nan.xyz"
    nan.write_text("0 0 0\nnan 1 1\n")
    code, _, err = run(capsys, "voxelize", str(nan), "--voxel-size", "0.1")
    assert code == 2 and "non-finite coordinates" in err and err.count("\n") == 1
    trunc = tmp_path / "t.ply"
    trunc.write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 10\n"
        b"property float x\nproperty float y\nproperty float z\nend_header\n\0\0"
    )
    code, _, err = run(capsys, "rulebook", str(trunc), "--voxel-size", "0.1")
    assert code == 2 and "truncated or malformed PLY" in err and err.count("\n") == 1
    one = tmp_path / "one.xyz"
    one.write_text("1 2 3\n")
    code, _, err = run(capsys, "rulebook", str(one), "--voxel-size", "0.1")
    assert code == 2 and "has 1 point; at least 2 are needed" in err
    big = tmp_path / "big.xyz"
    big.write_text("0 0 0\n1e12 0 0\n")
    code, _, err = run(capsys, "rulebook", str(big), "--voxel-size", "0.1")
    assert code == 2 and "overflow int32" in err
    code, _, err = run(capsys, "rulebook", str(one), "--voxel-size", "0")
    assert (
        code == 2 and err == "accss3d rulebook: error: argument --voxel-size: must be > 0, got 0\n"
    )


def test_demo(capsys, tmp_path):
    code, out, _ = run(
        capsys, "demo", "--voxels", "3000", "--channels", "8", "--no-report", "--out", str(tmp_path)
    )
    assert code == 0 and "subm3" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["layers"]) == 5
