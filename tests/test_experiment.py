"""maskkit.experiment: a tiny grid on synthetic data planned, run, resumed, failed and indexed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from maskkit.experiment.grid import parse_grid
from maskkit.experiment.index import rebuild
from maskkit.experiment.layout import Layout
from maskkit.experiment.plan import build_plan
from maskkit.experiment.runner import run_experiment

TINY = textwrap.dedent(
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
    methods = ["magnitude", "snip"]
    sparsities = [0.5, 0.9]
    ablations = ["none", "shuffle"]
    """
)


def tiny(extra: str = "") -> str:
    return TINY + textwrap.dedent(extra)


def dump(path: str) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny grid run once with two workers (shared by the tests that only read it)."""
    out = tmp_path_factory.mktemp("tiny") / "results"
    summary = run_experiment(parse_grid(TINY, source="tiny.toml"), str(out), jobs=2, threads=1)
    return out, summary


def test_plan_shares_nodes_between_cells():
    plan = build_plan(parse_grid(TINY))
    stages = [n.stage for n in plan.nodes.values()]
    # 2 seeds: 2 inits; 2 methods x 2 seeds: 4 scores; x 2 sparsities: 8 masks, 8 shuffles;
    # 16 cells: 16 trainings
    assert len(plan.cells) == 16
    assert {s: stages.count(s) for s in set(stages)} == {
        "init": 2,
        "score": 4,
        "mask": 8,
        "shuffle": 8,
        "train": 16,
    }
    # each score feeds the 4 cells of its method and seed
    uses = {}
    for cp in plan.cells:
        for node_id in cp.chain:
            uses[node_id] = uses.get(node_id, 0) + 1
    assert sorted(uses[n] for n in plan.nodes if n.startswith("score-")) == [4, 4, 4, 4]
    assert sorted(uses[n] for n in plan.nodes if n.startswith("init-")) == [8, 8]
    # identities come from content: the same grid plans the same ids, another seed other ones
    assert list(build_plan(parse_grid(TINY)).nodes) == list(plan.nodes)


def test_run_executes_each_node_once_and_matches_the_stage_functions(tiny_run):
    import maskkit
    from maskkit.format import load

    out, summary = tiny_run
    plan = build_plan(parse_grid(TINY))
    assert summary.ok and summary.cells_done == 16
    assert sorted(summary.executed) == sorted(plan.nodes)  # every node once, none twice
    # an independent computation of one cell's mask, in this process with the stage functions
    data = maskkit.load_dataset(
        "synthetic",
        input_shape=(1, 8, 8),
        num_classes=4,
        options={"train_size": 256, "test_size": 64},
    )
    weights = maskkit.init_weights("lenet300", seed=1, dataset=data)
    scores = maskkit.score(weights, "snip", dataset=data, seed=1)
    expected = maskkit.shuffle(maskkit.make_mask(scores, 0.9), seed=10_001)
    con = sqlite3.connect(out / "index.sqlite")
    row = con.execute(
        "SELECT mask_sha256, kept, prunable, test_accuracy, weights_sha256, result_node FROM cells"
        " WHERE method='snip' AND sparsity=0.9 AND ablation='shuffle' AND seed=1 AND prune_at=0"
    ).fetchone()
    assert row[0] == expected.content_hash
    assert row[1] == expected.kept == 49600 - round(0.9 * 49600)
    assert row[2] == 49600
    trained = load(str(out / "artifacts" / f"{row[5]}.safetensors"), kind="weights")
    assert trained.content_hash == row[4]
    assert trained.training["metrics"]["test_accuracy"] == row[3]
    layers = dict(
        con.execute(
            "SELECT layer, kept FROM layers WHERE cell_id='snip-0.9-shuffle-s1-k0'"
        ).fetchall()
    )
    assert layers == {name: c.kept for name, c in expected.layers.items()}
    costs = dict(con.execute("SELECT layer, macs FROM layer_costs").fetchall())
    assert costs == {
        "fc_layers.0.weight": 64 * 300,
        "fc_layers.1.weight": 300 * 100,
        "fc.weight": 100 * 4,
    }
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    assert meta["format"] == "maskkit-experiment-index" and meta["version"] == "1"
    assert meta["prunable"] == "49600" and meta["grid"] == TINY


def test_rerun_skips_everything_and_the_rebuilt_index_equals_the_live_one(tiny_run, tmp_path):
    out, _ = tiny_run
    live = dump(str(out / "index.sqlite"))
    again = run_experiment(parse_grid(TINY), str(out), jobs=1)
    assert again.ran == 0 and again.skipped == again.nodes and again.ok
    os.unlink(out / "index.sqlite")
    rebuild(str(out))
    rebuilt = dump(str(out / "index.sqlite"))
    assert rebuilt == live
    assert len(live["cells"]) == 16 and len(live["nodes"]) == 38


def test_resume_after_sigkill_redoes_no_finished_node(tmp_path):
    out = tmp_path / "results"
    grid = tmp_path / "grid.toml"
    grid.write_text(TINY)
    code = (
        "import sys; from maskkit.experiment import read_grid, run_experiment; "
        "run_experiment(read_grid(sys.argv[1]), sys.argv[2], jobs=1, threads=1)"
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", code, str(grid), str(out)], start_new_session=True
    )
    records = out / "nodes"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if records.is_dir() and len(os.listdir(records)) >= 6:
            break
        time.sleep(0.02)
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its workers, as a crash would
    runner.wait()
    before = {p.name for p in (out / "artifacts").glob("*.safetensors")}
    assert 6 <= len(before) < 38
    summary = run_experiment(parse_grid(TINY), str(out), jobs=1, threads=1)
    redone = {f"{n}.safetensors" for n in summary.executed}
    assert summary.ok and summary.ran == 38 - summary.skipped
    assert not redone & before
    assert not list((out / "artifacts").glob(".*.tmp"))


def test_a_failing_node_leaves_the_rest_done(tmp_path):
    from click.testing import CliRunner

    from maskkit_cli.main import cli

    grid = tmp_path / "grid.toml"
    grid.write_text(
        tiny('[scoring.options]\nsnip = { batching = "bogus" }\n').replace("[0, 1]", "[0]")
    )
    out = tmp_path / "results"
    result = CliRunner().invoke(
        cli, ["experiment", "run", str(grid), "-o", str(out), "--jobs", "2"]
    )
    assert result.exit_code == 1, result.output
    assert "4/8 cells done" in result.output and "1 failed" in result.output
    assert "failed: score-" in result.output and "batching" in result.output
    con = sqlite3.connect(out / "index.sqlite")
    status = dict(con.execute("SELECT method || ':' || status, count(*) FROM cells GROUP BY 1"))
    assert status == {"magnitude:done": 4, "snip:failed": 4}
    error = con.execute("SELECT error FROM cells WHERE method='snip'").fetchone()[0]
    assert error.startswith("score-") and "batching" in error
    logs = list((out / "logs").glob("score-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text()
    nodes = dict(con.execute("SELECT status, count(*) FROM nodes GROUP BY status"))
    assert nodes == {"done": 1 + 1 + 2 + 2 + 4, "failed": 1, "not-run": 2 + 2 + 4}


def test_a_damaged_artifact_is_moved_aside_and_redone(tiny_run, tmp_path):
    import shutil

    src, _ = tiny_run
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    victim = next((out / "artifacts").glob("mask-*.safetensors"))
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    events = []
    summary = run_experiment(
        parse_grid(TINY),
        str(out),
        jobs=1,
        threads=1,
        on_event=lambda kind, **k: events.append((kind, k)),
    )
    damaged = [k for kind, k in events if kind == "damaged"]
    assert [d["node_id"] for d in damaged] == [victim.stem]
    assert summary.ok and victim.stem in summary.executed
    assert len(list((out / "damaged").iterdir())) == 1  # kept, not deleted

    def results(path):  # everything but the redone node's wall time
        return [row[:12] + row[13:] for row in dump(str(path))["cells"]]

    assert results(out / "index.sqlite") == results(src / "index.sqlite")


def test_a_second_runner_is_refused(tmp_path):
    from maskkit.experiment.runner import ExperimentError, folder_lock, prepare_folder

    layout = Layout(str(tmp_path / "r"))
    prepare_folder(layout)
    with folder_lock(layout), pytest.raises(ExperimentError, match="another maskkit experiment"):
        run_experiment(parse_grid(TINY), layout.root, jobs=1)


def test_an_interrupted_run_stops_its_workers_leaves_nothing_partial_and_resumes(tmp_path):
    out = tmp_path / "results"
    grid = tmp_path / "grid.toml"
    grid.write_text(TINY)
    maskkit = os.path.join(os.path.dirname(sys.executable), "maskkit")
    runner = subprocess.Popen(
        [maskkit, "experiment", "run", str(grid), "-o", str(out), "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (out / "nodes").is_dir() and len(os.listdir(out / "nodes")) >= 4:
            break
        time.sleep(0.02)
    runner.send_signal(signal.SIGINT)  # Ctrl-C, to the coordinator alone (SIGTERM: the same)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    assert "interrupted" in err and "rerun the same command to resume" in err
    assert "Traceback" not in err
    gone = time.monotonic() + 10
    while time.monotonic() < gone:  # no worker outlives it (multiprocessing's helper exits last)
        try:
            os.killpg(runner.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("processes of the interrupted run are still alive")
    assert not list((out / "artifacts").glob(".*.tmp"))
    before = {p.name for p in (out / "artifacts").glob("*.safetensors")}
    assert len(before) < 38
    summary = run_experiment(parse_grid(TINY), str(out), jobs=1, threads=1)
    assert summary.ok and not {f"{n}.safetensors" for n in summary.executed} & before
