"""accss3d sweep: space files (one-line errors), points as rows, resume, failures, Ray."""

import json

import pytest

from accss3d.cli import main
from accss3d.errors import ConfigError
from accss3d.sweep import load_space, pareto_front, run_sweep, space_from_dict

SPACE = {
    "name": "t",
    "base": "small",
    "scene": "room:1:tiny",
    "voxel_size": 0.1,
    "layer": "subm3:4:4",
    "space": {"multicast_fanout": [4, 1, 3]},
}


def _write(tmp_path, data, name="space.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else data)
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"colour": 1}, r"unknown key 'colour' \(known: "),
        ({"space": {"pe_depth": [1]}}, r"unknown architecture parameter 'pe_depth' in space"),
        ({"space": {"pe_rows": []}}, r"space\.pe_rows must be a non-empty list, not \[\]"),
        ({"scene": "nowhere.ply"}, r"no such scene: nowhere\.ply$"),
        ({"network": "unet-tiny"}, r"give exactly one of 'network' and 'layer'$"),
        ({"layer": "subm3:x:4"}, r"layer: bad layer spec 'subm3:x:4'"),
        ({"base": "huge"}, r"base: unknown config 'huge'"),
        ({"timing": {"latency": 3}}, r"timing: unknown timing parameter 'latency'"),
        ({"area": "yes"}, r"area must be true or false, not 'yes'$"),
    ],
)
def test_bad_space_files(tmp_path, change, message):
    path = _write(tmp_path, {**SPACE, **change})
    with pytest.raises(ConfigError, match=rf"^space file {path}: {message}"):
        load_space(path)


def test_space_file_errors_on_the_command_line(capsys, tmp_path):
    path = _write(tmp_path, "base: small\nspace: [1, 2\n", "s.yaml")
    assert main(["sweep", "--space", path, "--serial"]) == 2
    assert (
        capsys.readouterr().err == f"accss3d: error: space file {path} is not valid YAML (line 3)\n"
    )
    assert main(["sweep", "--space", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.startswith("accss3d: error: no such space file: ")
    del_scene = {k: v for k, v in SPACE.items() if k != "scene"}
    path = _write(tmp_path, del_scene)
    assert main(["sweep", "--space", path, "--serial"]) == 2
    assert "missing 'scene'" in capsys.readouterr().err


def test_points_are_the_product_plus_explicit_points():
    axes = {"pe_rows": [4, 8], "multicast_fanout": [4, 2]}
    points = [{"pe_rows": 16}, {"pe_rows": 4, "multicast_fanout": 4}]
    s = space_from_dict({**SPACE, "space": axes, "points": points})
    values = s.values()
    assert len(values) == 5  # the duplicate explicit point is dropped
    assert values[-1] == {"pe_rows": 16}


def test_serial_sweep_reports_invalid_and_failed_points_and_resumes(tmp_path, monkeypatch):
    import accss3d.compiler as compiler

    real = compiler.compile_layer

    def flaky(coords, spec, cfg, **kw):
        if cfg.multicast_fanout == 1:
            raise RuntimeError("simulated crash")
        return real(coords, spec, cfg, **kw)

    monkeypatch.setattr(compiler, "compile_layer", flaky)
    space = space_from_dict(SPACE)
    out = str(tmp_path / "out")
    seen = []
    res = run_sweep(space, out, executor="serial", progress=lambda d, t, r: seen.append((d, t)))
    assert seen[-1] == (3, 3)
    status = {r["values"]["multicast_fanout"]: r for r in res.rows}
    assert status[4]["status"] == "ok" and status[4]["cycles"] > 0
    assert status[4]["area_source"] == "analytic" and status[4]["energy_uj"] > 0
    assert status[1]["status"] == "failed"
    assert status[1]["error"] == "RuntimeError: simulated crash"
    assert status[3]["status"] == "invalid"
    assert status[3]["error"] == "multicast_fanout must divide pe_cols (4), not 3"
    assert (res.ran, res.skipped, res.failed, res.invalid) == (3, 0, 1, 1)
    csv_text = (tmp_path / "out" / "results.csv").read_text()
    assert csv_text.splitlines()[0].startswith("key,status,values,cycles")
    assert (tmp_path / "out" / "pareto.png").exists()

    # Rerun: ok and invalid points are skipped, the failed one runs again (and now passes).
    monkeypatch.setattr(compiler, "compile_layer", real)
    res2 = run_sweep(space, out, executor="serial")
    assert (res2.ran, res2.skipped, res2.failed) == (1, 2, 0)
    assert {r["values"]["multicast_fanout"]: r["status"] for r in res2.rows} == {
        4: "ok",
        1: "ok",
        3: "invalid",
    }
    assert res2.rows[0]["cycles"] == status[4]["cycles"]
    assert res2.rows[1]["cycles"] == pytest.approx(res2.rows[0]["cycles"], rel=0.1)


def test_pareto_front():
    rows = [
        {"status": "ok", "area_mm2": 1, "cycles": 10, "energy_uj": 5},
        {"status": "ok", "area_mm2": 2, "cycles": 5, "energy_uj": 5},
        {"status": "ok", "area_mm2": 2, "cycles": 10, "energy_uj": 5},  # dominated by 0
        {"status": "failed"},
    ]
    assert pareto_front(rows) == [True, True, False, False]


def test_unreachable_ray_address(capsys, tmp_path):
    pytest.importorskip("ray")
    path = _write(tmp_path, SPACE)
    code = main(["sweep", "--space", path, "--address", "127.0.0.1:1", "-o", str(tmp_path / "o")])
    assert code == 2
    assert capsys.readouterr().err.endswith(
        "accss3d: error: cannot reach the Ray cluster at 127.0.0.1:1: Connection refused\n"
    )
    assert main(["sweep", "--space", path, "--address", "nope", "-o", str(tmp_path)]) == 2
    assert "bad Ray address 'nope'" in capsys.readouterr().err


def test_local_ray_sweep(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    space = space_from_dict({**SPACE, "space": {"multicast_fanout": [4, 3]}})
    try:
        res = run_sweep(space, str(tmp_path / "out"), executor="ray", num_cpus=2)
    finally:
        ray.shutdown()
    assert {r["values"]["multicast_fanout"]: r["status"] for r in res.rows} == {
        4: "ok",
        3: "invalid",
    }
    serial = run_sweep(space, str(tmp_path / "serial"), executor="serial")
    assert serial.rows[0]["cycles"] == res.rows[0]["cycles"]


def test_missing_ray_is_one_line(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    space = space_from_dict(SPACE)
    with pytest.raises(
        ConfigError, match=r"^accss3d sweep needs Ray: pip install 'accss3d\[ray\]'"
    ):
        run_sweep(space, str(tmp_path / "o"), executor="ray")
    # Nothing to run: no Ray needed.
    run_sweep(space, str(tmp_path / "s"), executor="serial")
    assert run_sweep(space, str(tmp_path / "s"), executor="ray").skipped == 3


def test_rows_of_other_spaces_are_kept_but_not_listed(tmp_path):
    out = str(tmp_path / "out")
    first = space_from_dict({**SPACE, "space": {"multicast_fanout": [4, 2]}})
    run_sweep(first, out, executor="serial")
    second = space_from_dict({**SPACE, "space": {"multicast_fanout": [4]}})
    res = run_sweep(second, out, executor="serial")
    assert (res.ran, res.skipped) == (0, 1)
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["values"] for r in doc["rows"]] == [{"multicast_fanout": 4}]
    assert [r["values"] for r in doc["other_rows"]] == [{"multicast_fanout": 2}]
    assert len((tmp_path / "out" / "results.csv").read_text().splitlines()) == 2
    # Back to the first space: both points are done.
    assert run_sweep(first, out, executor="serial").skipped == 2
