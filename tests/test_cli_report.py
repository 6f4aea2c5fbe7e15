"""maskkit report: tables, --json, --csv, --plot figures and errors, on hand-made folders."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT, invoke
from tests.report_folders import make_index, paper_grid, seeds


@pytest.fixture
def grid(tmp_path):
    return make_index(tmp_path / "grid", paper_grid())


def test_table_shows_mean_std_seeds_the_match_and_the_missing(grid):
    result = invoke(["report", str(grid)])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("method ") and "100%" in line)
    assert header.split() == ["method", "100%", "50%", "20%", "10%", "5%"]
    assert "98.00 ± 1.00 (3)" in next(line for line in lines if line.startswith("dense "))
    assert "97.50 ± 0.30 (3) *" in next(line for line in lines if line.startswith("lottery "))
    assert "80.00 (1 of 3)" in next(line for line in lines if line.startswith("random "))
    assert "missing (0 of 1)" in next(line for line in lines if line.startswith("magnitude "))
    assert (
        "matching sparsity of lottery: 0.8 (20% of weights remaining; accuracy at least 97.00%)"
        in out
    )
    invert = next(line for line in lines if line.startswith("snip ") and "-40.00 !" in line)
    assert "+0.00 " in invert  # shuffle: no flag
    assert "-1.00 ?" in out  # a single seed: noise unknown
    assert "Welch's t-test over the seeds gives p < 0.05" in out
    assert (
        "3 of 32 cells have no result (1 failed, 2 not run): counted as missing, never as 0" in out
    )
    assert "3,250 (44.52%)" in out  # snip's MACs kept at 10% remaining


def test_json_is_one_valid_document(grid):
    result = invoke(["report", str(grid), "--json", "--sparsity", "0.9"])
    assert result.exit_code == 0

    def refuse(name):
        raise AssertionError(f"{name} in the JSON")

    doc = json.loads(result.stdout, parse_constant=refuse)
    assert doc["model"] == "toynet" and doc["counts"]["missing"] == 3
    assert doc["layers"]["sparsity"] == 0.9
    snip = next(m for m in doc["layers"]["methods"] if m["method"] == "snip")
    assert snip["macs_fraction"] == pytest.approx(3250 / 7300)


def test_csv_is_written_beside_the_table(grid, tmp_path):
    target = tmp_path / "out.csv"
    result = invoke(["report", str(grid), "--csv", str(target)])
    assert result.exit_code == 0
    rows = target.read_text().splitlines()
    assert rows[0].startswith("method,ablation,prune_at,sparsity")
    assert "snip,invert,0,0.9,0.1,3,0,0.51,0.01,0.1," in "\n".join(rows)


def test_bad_input_is_one_line_and_exit_1(grid, tmp_path):
    cases = [
        (
            ["report", str(grid), "--sparsity", "0.7"],
            "the grid has no sparsity 0.7 (it has 0.5, 0.8, 0.9, 0.95)",
        ),
        (["report", str(tmp_path / "absent")], "absent: no such folder"),
    ]
    other = make_index(tmp_path / "other", seeds("snip", 0.9, [0.9]), dataset="otherdata")
    cases.append((["report", str(grid), str(other)], "dataset 'otherdata' differs"))
    (tmp_path / "afile").write_text("x")
    cases.append(
        (
            ["report", str(grid), "--plot", str(tmp_path / "afile")],
            "the plot folder is not a folder",
        )
    )
    cases.append(
        (
            ["report", str(grid), "--plot", str(tmp_path / "afile" / "sub")],
            "cannot create the plot folder",
        )
    )
    for args, message in cases:
        result = invoke(args)
        assert result.exit_code == 1, args
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("maskkit: error: "), (
            result.stderr
        )
        assert message in result.stderr
        assert result.stdout == ""
    assert invoke(["report", str(grid), str(other), "--allow-mixed"]).exit_code == 0


def test_without_matplotlib_plot_says_how_to_install(grid, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    args = ["report", str(grid), "--plot", str(tmp_path / "figs"), "--csv", str(tmp_path / "r.csv")]
    result = invoke(args)
    assert result.exit_code == 1
    assert "pip install 'maskkit[plot]'" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "figs").exists() and not (tmp_path / "r.csv").exists()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_figures_are_800x500_and_byte_identical(grid, tmp_path):
    pytest.importorskip("matplotlib")
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        result = invoke(["report", str(grid), "--plot", str(folder)])
        assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in first.iterdir())
    assert names == ["ablations.png", "accuracy.png", "layers.png", "steps.png"]
    for name in names:
        data = (first / name).read_bytes()
        assert png_size(data) == (800, 500)
        assert data == (second / name).read_bytes(), name
        assert b"Software" not in data and b"matplotlib" not in data.lower()


def test_svg_and_pdf_figures_are_valid_and_byte_identical(grid, tmp_path):
    pytest.importorskip("matplotlib")
    for fmt in ("svg", "pdf"):
        first, second = tmp_path / f"{fmt}1", tmp_path / f"{fmt}2"
        for folder in (first, second):
            assert (
                invoke(["report", str(grid), "--plot", str(folder), "--format", fmt]).exit_code == 0
            )
        for path in sorted(first.iterdir()):
            data = path.read_bytes()
            assert data == (second / path.name).read_bytes(), path.name
            if fmt == "svg":
                root = ET.fromstring(data)
                assert root.tag == "{http://www.w3.org/2000/svg}svg"
                assert (root.get("width"), root.get("height")) == ("576pt", "360pt")  # 8 x 5 in
            else:
                assert data.startswith(b"%PDF-") and b"CreationDate" not in data


def test_1000_cells_report_fast_without_torch(tmp_path):
    # 5 methods x 4 ablations x 5 sparsities x 10 seeds = 1,000 cells, 20 layers each
    layers = tuple((f"layer{i}.weight", 1000, 9000) for i in range(20))
    cells = []
    for method in ("random", "magnitude", "snip", "grasp", "synflow"):
        for ablation in ("none", "shuffle", "reinit", "invert"):
            for sparsity in (0.5, 0.8, 0.9, 0.95, 0.98):
                for seed in range(10):
                    acc = 0.9 - sparsity / 10 + seed / 1000
                    cells.append(
                        {
                            "method": method,
                            "sparsity": sparsity,
                            "ablation": ablation,
                            "seed": seed,
                            "acc": acc,
                        }
                    )
    folder = make_index(tmp_path / "big", cells, layers=layers)
    code = (
        "import contextlib, io, sys, time\n"
        "start = time.perf_counter()\n"
        "from maskkit_cli.main import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    cli(['report', {str(folder)!r}], standalone_mode=False)\n"
        "    cli(['report', {0!r}, '--json'], standalone_mode=False)\n".format(str(folder))
        + "print(time.perf_counter() - start, 'torch' in sys.modules, 'numpy' in sys.modules)\n"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    wall = time.perf_counter() - start
    seconds, torch, numpy = out.stdout.split()
    assert (torch, numpy) == ("False", "False")
    # Generous bounds for a shared 2-core machine: table and JSON together, and the whole process.
    assert float(seconds) < 5.0 and wall < 10.0


def test_wide_tables_are_split_to_fit_a_terminal(grid, monkeypatch):
    import maskkit_cli.report_command as command
    from maskkit.report import build, load_experiment
    from maskkit_cli.report import Table

    data = build(load_experiment(grid))
    whole = [b for b in command.render(data).blocks if isinstance(b, Table)]
    monkeypatch.setattr(command, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "100")
    parts = [b for b in command.render(data).blocks if isinstance(b, Table)]
    main = [t for t in parts if t.title.startswith("test accuracy")]
    assert [t.title[-8:] for t in main] == ["(1 of 2)", "(2 of 2)"]
    # every column appears once, the method column in each part, and no part is wider than 100
    assert [c for t in main for c in t.columns[1:]] == list(whole[0].columns[1:])
    assert all(t.columns[0] == "method" for t in main)
    ablations = [t for t in parts if t.title.startswith("ablations")]
    assert len(ablations) == 2 and ablations[1].columns == [
        "method",
        "k",
        "remaining",
        "none",
        "invert",
        "Δ invert",
    ]
    monkeypatch.setenv("COLUMNS", "400")
    assert len([b for b in command.render(data).blocks if isinstance(b, Table)]) == len(whole)
