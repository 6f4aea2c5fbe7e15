"""maskkit report on a real (tiny) experiment folder made by maskkit experiment: the numbers the
report shows are those of the index's cells, the index is rebuilt when it is missing, and a
deleted artifact is named."""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT, invoke

pytest.importorskip("maskkit.experiment.runner")

GRID = textwrap.dedent(
    """
    [model]
    name = "lenet300"
    [dataset]
    name = "synthetic"
    input_shape = [1, 8, 8]
    num_classes = 4
    options = { train_size = 256, test_size = 64 }
    [training]
    epochs = 1
    batch_size = 64
    [grid]
    seeds = [0, 1]
    methods = ["dense", "lottery", "snip"]
    sparsities = [0.5, 0.9]
    ablations = ["none", "shuffle"]
    """
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from maskkit.experiment.grid import parse_grid
    from maskkit.experiment.runner import run_experiment

    out = tmp_path_factory.mktemp("tiny") / "results"
    summary = run_experiment(parse_grid(GRID, source="tiny.toml"), str(out), jobs=1, threads=1)
    assert summary.cells_done == summary.cells
    return out


def accuracies(folder, **where) -> list[float]:
    con = sqlite3.connect(folder / "index.sqlite")
    try:
        clause = " AND ".join(f"{k} = ?" for k in where)
        rows = con.execute(f"SELECT test_accuracy FROM cells WHERE {clause}", tuple(where.values()))
        return [r[0] for r in rows]
    finally:
        con.close()


def test_report_of_a_real_grid_matches_its_cells(tiny, tmp_path):
    result = invoke(["report", str(tiny), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["model"] == "lenet300" and doc["counts"]["missing"] == 0
    dense = accuracies(tiny, method="dense")
    assert doc["dense"]["n"] == 2
    assert doc["dense"]["mean"] == pytest.approx(statistics.mean(dense))
    assert doc["dense"]["std"] == pytest.approx(statistics.stdev(dense))
    # the matching sparsity by the stated rule, worked out here from the raw cells
    threshold = statistics.mean(dense) - statistics.stdev(dense)
    expected = None
    for s in (0.5, 0.9):
        if (
            statistics.mean(accuracies(tiny, method="lottery", ablation="none", sparsity=s))
            < threshold
        ):
            break
        expected = s
    assert doc["matching"]["results"][0]["sparsity"] == expected
    snip = next(m for m in doc["methods"] if m["method"] == "snip")
    at_90 = next(c for c in snip["cells"] if c["sparsity"] == 0.9)
    assert at_90["mean"] == pytest.approx(
        statistics.mean(accuracies(tiny, method="snip", ablation="none", sparsity=0.9))
    )
    layers = next(m for m in doc["layers"]["methods"] if m["method"] == "snip")
    assert layers["density"] == pytest.approx(0.1, abs=1e-3)
    assert invoke(["report", str(tiny), "--plot", str(tmp_path / "figs")]).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "ablations.png",
        "accuracy.png",
        "layers.png",
    ]


def test_a_missing_index_is_rebuilt_and_a_missing_artifact_named(tiny, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    before = json.loads(invoke(["report", str(copy), "--json"]).stdout)
    (copy / "index.sqlite").unlink()
    rebuilt = json.loads(invoke(["report", str(copy), "--json"]).stdout)
    for doc in (before, rebuilt):
        for f in doc["folders"]:
            f.pop("folder")
        for c in doc["cells"]:
            c.pop("folder")
    assert rebuilt == before
    con = sqlite3.connect(copy / "index.sqlite")
    (path,) = con.execute(
        "SELECT path FROM nodes WHERE stage = 'mask' AND status = 'done' LIMIT 1"
    ).fetchone()
    con.close()
    os.unlink(copy / path)
    result = invoke(["report", str(copy)])
    assert result.exit_code == 1 and "names artifacts that are not in the folder" in result.stderr
    assert path in result.stderr


def test_reporting_a_real_grid_does_not_import_torch(tiny):
    code = (
        "import contextlib, io, sys\n"
        "from maskkit_cli.main import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    cli(['report', {str(tiny)!r}], standalone_mode=False)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"
