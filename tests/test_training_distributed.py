"""Data-parallel training on 2 CPU processes (gloo): same weights on every rank, mask kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import torch

from maskkit.format import load
from maskkit.start_weights import initial_model
from maskkit.training import train
from maskkit.training.loop import model_state
from tests import _ddp_worker
from tests.conftest import ROOT
from tests.training_helpers import DATA_ARGS, lenet_mask, pruned_values

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def test_two_gloo_ranks_agree_keep_the_mask_and_match_one_process(tmp_path):
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(ROOT / "tests" / "_ddp_worker.py"),
            str(tmp_path),
        ],
        capture_output=True,
        env=ENV,
        cwd=ROOT,
    )
    assert launched.returncode == 0, launched.stderr.decode()[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, mask, ds, options in _ddp_worker.runs():
        a, b = ranks[0][name], ranks[1][name]
        assert a["world_size"] == b["world_size"] == 2
        # parameters and BatchNorm buffers: bitwise the same on both ranks
        assert a["state"].keys() == b["state"].keys()
        assert all(torch.equal(a["state"][n], b["state"][n]) for n in a["state"]), name
        assert np.count_nonzero(pruned_values(a["state"], mask)) == 0
        assert a["accuracy"] == b["accuracy"]
        if name == "lenet":
            # Without BatchNorm, two halves of each batch averaged = the whole batch.
            model, masks = initial_model(mask, source=name)
            single = train(model, ds, options, masks=masks)
            assert abs(single.metrics.accuracy - a["accuracy"]) <= 0.03
            state = model_state(model)
            for n in state:
                torch.testing.assert_close(a["state"][n], state[n], rtol=1e-3, atol=1e-4)


def test_nproc_launches_torchrun_and_pipes_work(tmp_path):
    mask = lenet_mask(0.8)
    args = ["train", *DATA_ARGS, "--steps", "16", "--batch-size", "64", "--momentum", "0.9"]
    run = subprocess.run(
        [sys.executable, "-m", "maskkit", *args, "--nproc", "2"],
        input=mask.to_bytes(),
        capture_output=True,
        env=ENV,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    trained = load(run.stdout, kind="weights")
    assert trained.training["world_size"] == 2 and trained.training["step"] == 16
    assert np.count_nonzero(pruned_values(trained.arrays, mask)) == 0
    single = subprocess.run(
        [sys.executable, "-m", "maskkit", *args],
        input=mask.to_bytes(),
        capture_output=True,
        env=ENV,
        cwd=ROOT,
    )
    reference = load(single.stdout, kind="weights")
    got, want = trained.training["metrics"], reference.training["metrics"]
    assert abs(got["test_accuracy"] - want["test_accuracy"]) <= 0.03, json.dumps([got, want])
