"""accss3d compile / run / cycles / disasm on compiled directories; one-line errors, exit 2."""

import json

import numpy as np
import pytest

from accss3d.cli import main
from accss3d.program import load_program

#: ``accss3d compile`` of unet-tiny on a tiny room, small config (the common prefix).
TINY = "compile room:1:tiny --voxel-size 0.15 --network unet-tiny --config small".split()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("prog") / "unet"
    assert main([*TINY, "-o", str(out)]) == 0
    return out


def test_compile_writes_a_program_directory(compiled):
    names = {p.name for p in compiled.iterdir()}
    assert {
        "program.sspn",
        "manifest.json",
        "config.json",
        "golden.npz",
        "summary.json",
        "README.txt",
    } <= names
    summary = json.loads((compiled / "summary.json").read_text())
    assert summary["network"] == "unet-tiny" and summary["instructions"] > 0
    prog = load_program(compiled)
    assert prog.manifest == json.loads((compiled / "manifest.json").read_text())


def test_compile_is_deterministic(compiled, tmp_path, capsys):
    code, _, _ = run(
        capsys,
        *TINY,
        "-o",
        tmp_path / "again",
    )
    assert code == 0
    assert (tmp_path / "again" / "program.sspn").read_bytes() == (
        compiled / "program.sspn"
    ).read_bytes()


def test_run_and_cycles(compiled, capsys, tmp_path):
    code, out, err = run(capsys, "run", compiled, "--json", "-o", tmp_path / "o.npz")
    info = json.loads(out)
    assert code == 0 and err == "" and info["match"] and info["tensors_checked"] == 6
    code, out, _ = run(capsys, "run", compiled, "--json", "--engine", "numpy", "-o", tmp_path / "n")
    again = json.loads(out)
    assert code == 0 and again["match"] and again["counters"]["macs"] == info["counters"]["macs"]
    a, b = np.load(tmp_path / "n.npz"), np.load(tmp_path / "o.npz")
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    code, out, _ = run(
        capsys, "cycles", compiled, "--json", "--latency", "12", "--trace", tmp_path / "t.csv"
    )
    rep = json.loads(out)
    assert code == 0 and 0 < rep["utilization"] <= 1 and rep["timing"]["mem_latency"] == 12
    code, out, _ = run(
        capsys, "cycles", compiled, "--json", "--latency", "12", "--engine", "python"
    )
    assert code == 0 and json.loads(out)["cycles"] == rep["cycles"]
    assert len(rep["layers"]) == 5
    assert (tmp_path / "t.csv").read_text().startswith("pc,opcode,dispatch,accept,start,done")
    code, out, _ = run(capsys, "disasm", compiled)
    assert code == 0 and out.startswith("; program: ") and "COMPUTE" in out


def test_single_layer(tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "compile",
        "room:2:tiny",
        "--voxel-size",
        "0.15",
        "--layer",
        "conv3s2:5:7",
        "--config",
        "default",
        "-o",
        tmp_path / "l",
        "--json",
    )
    assert code == 0 and json.loads(out)["layer"] == "conv3s2:5:7"
    assert run(capsys, "run", tmp_path / "l")[0] == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["compile", "room:1:tiny", "--layer", "subm3:5", "-o", "{tmp}/x"],
            "accss3d: error: bad layer spec 'subm3:5': expected KIND",
        ),
        (
            [
                "compile",
                "room:1:tiny",
                "--voxel-size",
                "0.15",
                "--layer",
                "subm3:1100:4",
                "--config",
                "small",
                "-o",
                "{tmp}/x",
            ],
            "accss3d: error: layer layer ",
        ),
        (["run", "{tmp}/missing"], "accss3d: error: no such file: "),
        (
            ["run", "{prog}", "--config", "default"],
            "accss3d: error: program compiled for config 'small'",
        ),
        (
            [
                "compile",
                "room:1:tiny",
                "--layer",
                "subm3:3:3",
                "--order",
                "hilbert",
                "-o",
                "{tmp}/x",
            ],
            "accss3d: error: --order applies to --network compiles",
        ),
    ],
)
def test_errors(compiled, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, prog=compiled) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1


def test_corrupt_program(compiled, tmp_path, capsys):
    data = bytearray((compiled / "program.sspn").read_bytes())
    data[len(data) // 2] ^= 0x40
    (tmp_path / "bad.sspn").write_bytes(bytes(data))
    code, _, err = run(capsys, "run", tmp_path / "bad.sspn")
    assert code == 2 and err.startswith("accss3d: error: CRC mismatch")
    code, _, err = run(capsys, "cycles", tmp_path / "bad.sspn")
    assert code == 2 and err.startswith("accss3d: error: CRC mismatch")


def test_run_reports_a_mismatch(compiled, tmp_path, capsys):
    prog = load_program(compiled)
    prog.manifest["tensors"]["classifier"]["golden_sha256"] = "0" * 64
    prog.save(tmp_path / "p.sspn")
    code, out, _ = run(capsys, "run", tmp_path / "p.sspn")
    assert code == 1 and "DIFFER from the golden model: classifier" in out


def test_reordered_levels(tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "compile",
        "room:3:tiny",
        "--voxel-size",
        "0.15",
        "--network",
        "unet-tiny",
        "--config",
        "small",
        "--order",
        "hilbert",
        "-o",
        tmp_path / "h",
        "--json",
    )
    assert code == 0 and json.loads(out)["network"] == "unet-tiny"
    assert load_program(tmp_path / "h").manifest["order"] == "hilbert"
    perm = np.load(tmp_path / "h" / "golden.npz")["order_s1"]
    assert np.array_equal(np.sort(perm), np.arange(len(perm)))
    assert run(capsys, "run", tmp_path / "h")[0] == 0


def test_weights_from_npz(tmp_path, capsys):
    from accss3d.arch import CONFIGS
    from accss3d.netgolden import random_params, save_params
    from accss3d.network import CoordinateManager, get_network
    from accss3d.scene import load_scene
    from accss3d.voxel import voxelize

    cloud, v = load_scene("room:1:tiny", 0.15)
    plans = CoordinateManager(voxelize(cloud, v).coords).plan(get_network("unet-tiny"))
    save_params(tmp_path / "w.npz", random_params(plans, 42, CONFIGS["small"]))
    code, _, _ = run(
        capsys,
        *TINY,
        "--weights",
        tmp_path / "w.npz",
        "-o",
        tmp_path / "w",
    )
    assert code == 0 and run(capsys, "run", tmp_path / "w")[0] == 0
    seeded = load_program(tmp_path / "w").manifest["tensors"]["classifier"]["golden_sha256"]
    code, _, _ = run(
        capsys,
        *TINY,
        "--seed",
        "42",
        "-o",
        tmp_path / "s",
    )
    other = load_program(tmp_path / "s").manifest["tensors"]["classifier"]["golden_sha256"]
    assert code == 0 and seeded != other  # the weights came from the file, the input from seed 0
