"""accss3d report: every section in valid HTML and Markdown, results.json, one-line errors."""

import json
import os
from html.parser import HTMLParser

import pytest

from accss3d.cli import main

pytest.importorskip("torch")

SECTIONS = (
    "Summary",
    "Configuration",
    "Accelerator: per-layer cycles, utilization, DRAM traffic",
    "RTL agreement",
    "Reordering methods compared",
    "Area",
    "Energy",
    "Speedup and energy against the CPU",
    "End to end and the paper",
    "Reproduce",
)
FIGURES = ("cycles", "dram", "reorder", "area", "energy", "speedup")


class _Checker(HTMLParser):
    """Collects h2 titles and images; checks that every opened tag of these kinds closes."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.h2, self.images, self.in_h2 = [], [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag not in self.VOID:
            self.stack.append(tag)
        self.in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()
        self.in_h2 = False

    def handle_data(self, data):
        if self.in_h2:
            self.h2.append(data)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = main(
        ["report", "room:1:tiny", "--voxel-size", "0.1", "--network", "unet-tiny",
         "--config", "small", "--no-area", "--repeats", "1", "--threads", "1",
         "--reorder-network", "none", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    return out


def test_report_html_has_every_section(report_dir):
    text = (report_dir / "report.html").read_text()
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == []
    assert checker.h2 == list(SECTIONS)
    assert len(checker.images) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in checker.images)


def test_report_markdown_and_figures(report_dir):
    md = (report_dir / "report.md").read_text()
    titles = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert titles == list(SECTIONS)
    for name in FIGURES:
        assert f"(figures/{name}.png)" in md
        assert (report_dir / "figures" / f"{name}.png").stat().st_size > 1000
    assert "16.8x" in md and "2232x" in md and "11.8x" in md and "24.8x" in md
    assert "0.92 mm^2" in md
    assert "estimate" in md


def test_report_results_json(report_dir):
    r = json.loads((report_dir / "results.json").read_text())
    assert r["format"] == "accss3d-report"
    names = [lay["name"] for lay in r["accelerator"]["layers"]]
    assert names == ["stem", "down1", "up1", "dec1", "classifier"]
    assert [s["name"] for s in r["speedup"]["layers"]] == names
    assert r["cpu"]["machine"]["cores"] == os.cpu_count()
    assert all(all(c["ok"].values()) for c in r["cpu"]["layers"])
    e2e = r["speedup"]["end_to_end"]
    assert e2e["accel_s"] == pytest.approx(r["accelerator"]["cycles"] / 100e6)
    assert e2e["e2e_speedup_best"] > 0 and e2e["conv_energy_best_on_chip"] > 0
    assert r["area"]["mode"] == "none" and r["area"]["report"] is None
    assert r["rtl"]["run"] is False
    en = r["energy"]
    assert en["total_pj"]["total"] == pytest.approx(
        sum(lay["energy_pj"]["total"] for lay in en["layers"])
    )


def test_writing_is_deterministic(report_dir, tmp_path):
    from accss3d.report import write_report

    results = json.loads((report_dir / "results.json").read_text())
    a = write_report(results, str(tmp_path / "a"))
    b = write_report(results, str(tmp_path / "b"))
    for key in ("html", "markdown", "json"):
        with open(a[key], "rb") as fa, open(b[key], "rb") as fb:
            assert fa.read() == fb.read(), key


def test_report_errors(capsys, tmp_path):
    code = main(["report", "missing.ply", "--voxel-size", "0.1", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "accss3d: error: no such scene: missing.ply (a point-cloud file or room[:SEED[:SIZE]])\n"
    )
    code = main(["report", "room:1:tiny", "--network", "nope", "-o", str(tmp_path)])
    assert code == 2 and "unknown network 'nope'" in capsys.readouterr().err
    bad = tmp_path / "area.json"
    bad.write_text(json.dumps({"config_digest": "0" * 64}))
    code = main(["report", "room:1:tiny", "--voxel-size", "0.1", "--network", "unet-tiny",
                 "--config", "small", "--area-json", str(bad), "--reorder-network", "none",
                 "--repeats", "1", "-o", str(tmp_path / "r")])  # fmt: skip
    assert code == 2
    assert "is not an `accss3d area --json` report of config small" in capsys.readouterr().err
    code = main(["report", "room:1:tiny", "--threads", "0", "-o", str(tmp_path)])
    assert code == 2
    assert "--threads: thread counts must be positive, not 0" in capsys.readouterr().err


def test_demo_ends_with_the_report(capsys, tmp_path):
    code = main(
        ["demo", "--voxels", "2000", "--channels", "4", "--network", "unet-tiny",
         "--config", "small", "--no-area", "--reorder-network", "none", "--repeats", "1",
         "--threads", "1", "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "subm3" in out and "report written to" in out
    for name in ("summary.json", "report.html", "report.md", "results.json"):
        assert (tmp_path / name).exists(), name


@pytest.mark.slow
def test_full_demo(tmp_path):
    """``make demo`` as it runs: minkunet18 on room:0:20k, default config (minutes)."""
    assert main(["demo", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["network"]["layers"] == 42 and r["config"]["name"] == "default"
    assert all(all(c["ok"].values()) for c in r["cpu"]["layers"])


@pytest.mark.slow
def test_report_with_one_layer_on_the_rtl(tmp_path):
    """--rtl: one layer on Icarus beside the cycle model (about 20 s)."""
    import shutil

    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not installed")
    code = main(
        ["report", "room:1:tiny", "--voxel-size", "0.1", "--network", "unet-tiny",
         "--config", "small", "--no-area", "--reorder-network", "none", "--repeats", "1",
         "--threads", "1", "--rtl", "subm3:4:4", "--simulator", "icarus", "-o", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    rtl = json.loads((tmp_path / "results.json").read_text())["rtl"]
    assert rtl["run"] and rtl["match"]
    assert rtl["rtl"]["macs"] == rtl["model"]["macs"]
    assert abs(rtl["cycle_error"]) < 0.05
