"""Resumable runs: a real SIGKILL mid-run, then the same command again, gives the same bytes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from maskkit.errors import TrainingError
from maskkit.format import load
from maskkit.start_weights import initial_model
from maskkit.training import RunIO, TrainOptions, train
from tests.conftest import ROOT
from tests.training_helpers import DATA_ARGS, dataset, lenet_mask

# Momentum, weight decay, a milestone, augmentation and several epochs: all the state a resume
# has to restore (optimizer buffers, schedule position, data order and augmentation draws).
TRAIN_ARGS = [
    *DATA_ARGS,
    "--steps", "30", "--batch-size", "64", "--lr", "0.05", "--momentum", "0.9",
    "--weight-decay", "1e-3", "--milestones", "20", "--augment", "--eval-every", "8",
    "--checkpoint-every", "5",
]  # fmt: skip

# Runs the CLI in this process, killing it with SIGKILL right after optimizer step KILL_AT.
KILLER = """
import os, signal, sys, torch
kill_at, count, step = int(sys.argv[1]), [0], torch.optim.SGD.step
def counted(self, *args, **kwargs):
    out = step(self, *args, **kwargs)
    count[0] += 1
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
torch.optim.SGD.step = counted
from maskkit_cli.main import cli
cli(sys.argv[2:], prog_name="maskkit")
"""


def maskkit(args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "maskkit", *args], capture_output=True, env=env, cwd=ROOT, **kwargs
    )


def test_sigkill_then_rerun_gives_bitwise_the_uninterrupted_result(tmp_path):
    mask = tmp_path / "m.safetensors"
    lenet_mask(0.8).save(mask)
    reference = tmp_path / "reference.safetensors"
    done = maskkit(
        [
            "train",
            str(mask),
            *TRAIN_ARGS,
            "--log",
            str(tmp_path / "ref.jsonl"),
            "-o",
            str(reference),
        ]
    )
    assert done.returncode == 0, done.stderr.decode()

    out, ckpt, log = tmp_path / "out.safetensors", tmp_path / "ckpt", tmp_path / "run.jsonl"
    args = [
        "train",
        str(mask),
        *TRAIN_ARGS,
        "--checkpoint-dir",
        str(ckpt),
        "--log",
        str(log),
        "-o",
        str(out),
    ]
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, "17", *args],
        capture_output=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        cwd=ROOT,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert not out.exists()
    assert torch.load(ckpt / "checkpoint_step15.pt", weights_only=True)["step"] == 15

    resumed = maskkit(args)
    assert resumed.returncode == 0, resumed.stderr.decode()
    # Said when the run resumes, before the evaluations that follow; the final metrics once.
    said = resumed.stderr
    assert said.index(b"resumed from the checkpoint of step 15") < said.index(b"step 16 (")
    assert said.count(b"test accuracy") == 3  # steps 16 and 24, then the final line (step 30)
    a, b = load(str(reference)), load(str(out))
    assert a.arrays.keys() == b.arrays.keys()
    assert all(a.arrays[n].tobytes() == b.arrays[n].tobytes() for n in a.arrays)
    assert reference.read_bytes() == out.read_bytes()  # metrics and metadata too
    assert log.read_text() == (tmp_path / "ref.jsonl").read_text()

    # A finished run rerun resumes at its end: no training, the same output again.
    out.unlink()
    again = maskkit(args)
    assert again.returncode == 0 and b"step 30" in again.stderr
    assert reference.read_bytes() == out.read_bytes()


def test_a_folder_from_another_run_is_refused(tmp_path):
    ds, mask = dataset(), lenet_mask(0.8)
    options = TrainOptions(steps=4, batch_size=64)
    folder = tmp_path / "ckpt"
    model, masks = initial_model(mask, source="m")
    train(model, ds, options, masks=masks, io=RunIO(checkpoint_dir=folder))
    before = (folder / "checkpoint_step4.pt").read_bytes()
    for other_options, other_mask in (
        (options.replace(lr=0.2), mask),
        (options, lenet_mask(0.8, seed=5)),
    ):
        model, masks = initial_model(other_mask, source="m")
        with pytest.raises(TrainingError, match="belongs to another run"):
            train(model, ds, other_options, masks=masks, io=RunIO(checkpoint_dir=folder))
    assert (folder / "checkpoint_step4.pt").read_bytes() == before
    assert json.loads((folder / "run.json").read_text())["parts"]["options"]["lr"] == 0.1


def test_cli_refuses_another_run_in_one_line(tmp_path):
    mask = tmp_path / "m.safetensors"
    lenet_mask(0.8).save(mask)
    args = [
        "train",
        str(mask),
        *DATA_ARGS,
        "--steps",
        "3",
        "--batch-size",
        "64",
        "--checkpoint-dir",
        str(tmp_path / "c"),
    ]
    assert maskkit([*args, "-o", str(tmp_path / "a.safetensors")]).returncode == 0
    other = maskkit([*args, "--lr", "0.3", "-o", str(tmp_path / "b.safetensors")])
    assert other.returncode == 1
    lines = other.stderr.decode().strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("maskkit: error: ")
        and "belongs to another run" in lines[0]
    )
    assert not (tmp_path / "b.safetensors").exists()
