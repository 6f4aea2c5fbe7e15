"""``maskkit experiment plan/index`` and the one-line refusals of bad grids and folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskkit_cli.main import cli
from tests.test_experiment import TINY

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str):
    return CliRunner().invoke(cli, ["experiment", *args])


@pytest.mark.parametrize(
    "text, exit_code, message",
    [
        (TINY.replace('name = "synthetic"', 'name = "synthetic'), 2, "not valid TOML: .*line 5"),
        (TINY + "colour = 1\n", 2, "unknown key 'colour'; known: "),
        (
            TINY.replace('"snip"]', '"snap"]'),
            2,
            "unknown method 'snap'; known: random, .*dense, lottery",
        ),
        (
            TINY.replace('"shuffle"]', '"shufle"]'),
            2,
            "unknown ablation 'shufle'; known: none, shuffle, reinit, invert",
        ),
        (TINY.replace('"lenet300"', '"lenet301"'), 2, "unknown model 'lenet301'; known: lenet300"),
        (TINY.replace("0.9]", "1.0]"), 2, r"1.0 is outside \[0, 1\)"),
        (TINY.replace("0.9]", "-0.1]"), 2, r"-0.1 is outside \[0, 1\)"),
        (TINY + "[[exclude]]\nseed = [0, 1]\n", 2, "the grid has no cells"),
        (TINY + "[[exclude]]\n", 2, "is empty"),
        (TINY.replace("epochs = 1", "epochz = 1"), 2, "unknown training option"),
        (TINY.replace('name = "synthetic"', 'name = "imagenet"'), 2, "unknown dataset 'imagenet'"),
    ],
)
def test_bad_grids_are_refused_in_one_line(tmp_path, text, exit_code, message):
    import re

    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    for command in ("plan", "run"):
        args = [command, str(grid)] + (["-o", str(tmp_path / "out")] if command == "run" else [])
        result = invoke(*args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == exit_code, result.output
        assert len(lines) == 1 and lines[0].startswith(f"maskkit: error: {grid}: "), result.output
        assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()  # nothing written for a refused grid


def test_data_options_the_dataset_does_not_take_are_a_usage_error(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(TINY.replace('name = "synthetic"', 'name = "cifar10"'))
    result = invoke("run", str(grid), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "unknown options 'test_size', 'train_size'" in result.output


def test_missing_grid_file(tmp_path):
    result = invoke("plan", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "no such grid file" in result.output


def test_a_folder_with_other_files_is_refused_and_kept(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(TINY)
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    result = invoke("run", str(grid), "-o", str(out))
    assert result.exit_code == 1
    assert "holds files that are not an experiment's (thesis.tex)" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    assert (out / "thesis.tex").read_text() == "precious"


def test_a_missing_dataset_stops_before_any_node(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        '[model]\nname = "resnet20"\n[dataset]\nname = "cifar10"\ndata_dir = "nowhere/"\n'
        '[grid]\nmethods = ["dense"]\n'
    )
    result = invoke("run", str(grid), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cifar" in lines[0].lower() and "nowhere" in lines[0], lines
    assert not list((tmp_path / "out" / "artifacts").iterdir())


def test_plan_json_counts_work_without_importing_torch(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(TINY)
    code = (
        "import sys, json; from click.testing import CliRunner; from maskkit_cli.main import cli;"
        f"r = CliRunner().invoke(cli, ['experiment', 'plan', {str(grid)!r}, '--json']);"
        "print(json.dumps([r.exit_code, r.output, 'torch' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    code_, output, torch = json.loads(out.stdout)
    assert code_ == 0 and torch is False
    info = json.loads(output)
    # 16 cells; 2 seeds x (1 epoch of 256 examples at batch 64 = 4 steps) x 16 trainings
    assert info["cells"] == 16 and info["nodes"] == 38
    assert info["training_steps"] == 16 * 4 and info["done"] == 0


def test_shipped_grids_plan(tmp_path):
    sizes = {}
    for grid in sorted((ROOT / "examples" / "grids").glob("*.toml")):
        result = invoke("plan", str(grid), "--json")
        assert result.exit_code == 0, (grid, result.output)
        sizes[grid.stem] = json.loads(result.output)
    assert set(sizes) >= {
        "quick",
        "mnist-lenet300",
        "mnist-lenet5",
        "cifar10-resnet20",
        "cifar10-vgg16",
    }
    quick = sizes["quick"]["cells_by_method"]
    assert set(quick) == {"random", "magnitude", "snip", "grasp", "synflow", "dense", "lottery"}
    for name in ("mnist-lenet300", "mnist-lenet5"):
        assert sizes[name]["cells"] == 507 and sizes[name]["cells_by_method"]["dense"] == 3
