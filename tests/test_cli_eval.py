"""maskkit eval: its numbers against an independent computation, and the whole pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from maskkit import stages
from maskkit.format import StageRecord, load
from tests.conftest import ROOT, invoke
from tests.test_training_evaluate import manual_lenet
from tests.training_helpers import DATA, DATA_ARGS, dataset, lenet_mask


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    mask = folder / "m.safetensors"
    lenet_mask(0.8).save(mask)
    out = folder / "t.safetensors"
    result = invoke(
        ["train", str(mask), *DATA_ARGS, "--steps", "10", "--batch-size", "64", "-o", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    return mask, out


def manual(weights):
    import torch

    state = {n: torch.from_numpy(np.array(a)) for n, a in weights.arrays.items()}
    ds = dataset()
    return manual_lenet(state, ds.test.x.numpy(), ds.test.y.numpy())


def test_json_matches_a_manual_computation(trained):
    _, out = trained
    result = invoke(["eval", str(out), *DATA_ARGS, "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    accuracy, loss = manual(load(str(out)))
    assert (
        doc["count"] == DATA["test_size"] and doc["split"] == "test" and doc["model"] == "lenet300"
    )
    assert doc["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert doc["loss"] == pytest.approx(loss, rel=1e-5)
    # the training metadata's final metrics are the same evaluation
    assert load(str(out)).training["metrics"]["test_accuracy"] == doc["accuracy"]


def test_mask_with_weights_zeroes_the_pruned_weights(trained, tmp_path):
    mask_path, _ = trained
    dense = tmp_path / "dense.safetensors"
    stages.init_weights("lenet300", seed=4).save(dense)
    result = invoke(["eval", str(mask_path), "--weights", str(dense), *DATA_ARGS, "--json"])
    assert result.exit_code == 0, result.stderr
    mask, weights = load(str(mask_path)), load(str(dense))
    masked = weights.derive(
        StageRecord.of("test", {}),
        arrays={
            n: a * mask.arrays[n] if n in mask.arrays else a for n, a in weights.arrays.items()
        },
    )
    accuracy, loss = manual(masked)
    doc = json.loads(result.stdout)
    assert doc["accuracy"] == pytest.approx(accuracy, abs=1e-12) and doc["loss"] == pytest.approx(
        loss, rel=1e-5
    )
    assert doc["mask"] == mask.content_hash


def test_table_for_people(trained):
    _, out = trained
    result = invoke(["eval", str(out), *DATA_ARGS, "--split", "train"])
    assert result.exit_code == 0, result.stderr
    assert "accuracy:" in result.stdout and "synthetic train split, 512 examples" in result.stdout
    assert "Example:" in invoke(["eval", "--help"]).stdout


def test_weights_option_needs_a_mask(trained):
    _, out = trained
    result = invoke(["eval", str(out), "--weights", str(out), *DATA_ARGS])
    assert result.exit_code == 2


def test_pipeline_score_mask_shuffle_train_eval():
    """Real processes joined by pipes, as a user types it."""
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def stage(*args):
        return [sys.executable, "-m", "maskkit", *args]

    commands = [
        stage("score", "--model", "lenet300", "--method", "snip", "--dataset", "synthetic"),
        stage("mask", "--sparsity", "0.9"),
        stage("shuffle", "--seed", "1"),
        stage("train", *DATA_ARGS, "--steps", "20", "--batch-size", "64"),
        stage("eval", *DATA_ARGS, "--json"),
    ]
    procs, upstream = [], None
    for command in commands:
        proc = subprocess.Popen(
            command,
            stdin=upstream,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        if upstream is not None:
            upstream.close()
        upstream = proc.stdout
        procs.append(proc)
    out = procs[-1].communicate()[0]
    errors = [p.stderr.read().decode() for p in procs[:-1]]
    assert [p.wait() for p in procs] == [0] * 5, errors
    doc = json.loads(out)
    assert doc["kind"] == "weights" and doc["count"] == DATA["test_size"]
    assert 0.15 < doc["accuracy"] <= 1.0  # learned something in 20 steps at 90% sparsity
