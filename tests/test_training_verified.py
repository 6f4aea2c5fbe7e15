"""Verified checkpoints: damaged files are refused, other data is refused, one trainer per folder."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import warnings

import pytest
import torch

from maskkit.data.types import Dataset, Split
from maskkit.errors import MaskkitWarning, TrainingError
from maskkit.start_weights import initial_model
from maskkit.training import RunIO, TrainOptions, train
from maskkit.training.checkpoint import CheckpointDir
from maskkit.training.loop import model_state
from tests.training_helpers import dataset, lenet_mask

OPTS = TrainOptions(steps=30, batch_size=64, lr=0.05, momentum=0.9, weight_decay=1e-3)


class Stop(Exception):
    pass


def run(ds, folder=None, *, stop_at=None, mask=None, **kwargs):
    """Train; with ``stop_at`` the run is interrupted right after that step's checkpoint."""
    model, masks = initial_model(mask or lenet_mask(0.8), source="test")

    def progress(step, total, loss):
        # Called after the loss sync of a step, i.e. once the previous step's checkpoint exists.
        if stop_at is not None and step == stop_at + 1:
            raise Stop

    result = train(
        model,
        ds,
        OPTS,
        masks=masks,
        io=RunIO(checkpoint_dir=folder, checkpoint_every=5, progress=progress),
        **kwargs,
    )
    return model_state(model), result


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


@pytest.fixture(scope="module")
def ds():
    return dataset()


@pytest.fixture(scope="module")
def reference(ds):
    return run(ds)[0]


@pytest.fixture(scope="module")
def interrupted(ds, tmp_path_factory):
    """A checkpoint folder of a run stopped after step 17 (checkpoints of steps 15 and 10)."""
    folder = tmp_path_factory.mktemp("interrupted") / "ckpt"
    with pytest.raises(Stop):
        run(ds, folder, stop_at=17)
    listed = json.loads((folder / "checkpoints.json").read_text())["checkpoints"]
    assert [e["step"] for e in listed] == [15, 10]
    assert sorted(p.name for p in folder.glob("checkpoint_step*.pt")) == [
        "checkpoint_step10.pt",
        "checkpoint_step15.pt",
    ]
    return folder


def copy(folder, tmp_path):
    target = tmp_path / "ckpt"
    shutil.copytree(folder, target)
    return target


def flip(path, offset, bit=0):
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def test_an_intact_folder_resumes_to_bitwise_the_uninterrupted_weights(
    ds, reference, interrupted, tmp_path
):
    state, result = run(ds, copy(interrupted, tmp_path))
    assert result.resumed_from == 15 and same(state, reference)


@pytest.mark.parametrize("where", [0, 0.1, 0.37, 0.5, 0.81, -1])
def test_a_flipped_bit_falls_back_to_the_previous_checkpoint(
    ds, reference, interrupted, tmp_path, where
):
    folder = copy(interrupted, tmp_path)
    newest = folder / "checkpoint_step15.pt"
    size = newest.stat().st_size
    flip(newest, int(where * size) if where >= 0 else size - 1, bit=3)
    with pytest.warns(MaskkitWarning, match=r"checkpoint_step15.pt does not verify.*step 10"):
        state, result = run(ds, folder)
    # Resumed from step 10, never from the damaged bytes: the same weights as without a stop.
    assert result.resumed_from == 10 and same(state, reference)
    listed = json.loads((folder / "checkpoints.json").read_text())["checkpoints"]
    assert [e["step"] for e in listed] == [30, 25]


def test_both_checkpoints_damaged_is_refused(ds, interrupted, tmp_path):
    folder = copy(interrupted, tmp_path)
    flip(folder / "checkpoint_step15.pt", 1000)
    (folder / "checkpoint_step10.pt").write_bytes(b"")
    with pytest.raises(TrainingError, match=r"no checkpoint verifies .*15.*10.*0 bytes"):
        run(ds, folder)


@pytest.mark.parametrize("offset", [3, 60, 120, 200])
def test_a_damaged_manifest_never_resumes_to_other_weights(
    ds, reference, interrupted, tmp_path, offset
):
    folder = copy(interrupted, tmp_path)
    manifest = folder / "checkpoints.json"
    flip(manifest, min(offset, manifest.stat().st_size - 1), bit=1)
    # Refused, or resumed from a checkpoint that verifies: never other weights.
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            state, _ = run(ds, folder)
        except TrainingError as exc:
            assert str(folder) in str(exc)
        else:
            assert same(state, reference)


def test_other_labels_are_refused_naming_the_data(ds, interrupted, tmp_path):
    folder = copy(interrupted, tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    shifted = Dataset(
        name=ds.name,
        train=Split(ds.train.x, (ds.train.y + 1) % ds.num_classes),
        test=ds.test,
        num_classes=ds.num_classes,
        input_shape=ds.input_shape,
    )
    with pytest.raises(TrainingError, match="belongs to another run") as err:
        run(shifted, folder)
    message = str(err.value)
    assert "different training data" in message and "\n" not in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_second_trainer_is_refused_at_once(ds, interrupted, tmp_path):
    folder = copy(interrupted, tmp_path)
    # Another holder of the lock, through its own open file description.
    fd = os.open(folder / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        began = time.monotonic()
        with pytest.raises(TrainingError, match="another process is using"):
            run(ds, folder)
        assert time.monotonic() - began < 5
        assert json.loads((folder / "checkpoints.json").read_text())["checkpoints"][0]["step"] == 15
    finally:
        os.close(fd)
    # Released by its holder, the folder resumes; the finished run releases it in turn.
    assert run(ds, folder)[1].resumed_from == 15
    assert run(ds, folder)[1].resumed_from == 30


def test_stray_files_of_a_killed_write_are_removed(ds, reference, interrupted, tmp_path):
    folder = copy(interrupted, tmp_path)
    strays = [
        folder / ".checkpoint_step20.pt.k2j4x9.tmp",  # killed inside the atomic write
        folder / ".checkpoints.json.a8f1q0.tmp",
        folder / "checkpoint_step20.pt",  # killed before the manifest named it
    ]
    for path in strays:
        path.write_bytes(b"partial")
    mine = folder / "notes.txt"
    mine.write_text("not ours")
    state, result = run(ds, folder)
    assert result.resumed_from == 15 and same(state, reference)
    assert not any(p.exists() for p in strays) and mine.exists()


def test_divergence_names_only_a_checkpoint_that_verifies(ds, tmp_path, monkeypatch):
    bad = OPTS.replace(lr=1e10, momentum=0.0)
    original = CheckpointDir.save

    def damaging_save(self, state):
        original(self, state)
        flip(self.path / f"checkpoint_step{state['step']}.pt", 500)

    monkeypatch.setattr(CheckpointDir, "save", damaging_save)
    model, masks = initial_model(lenet_mask(0.5), source="test")
    with pytest.raises(TrainingError, match="diverged") as err:
        train(
            model, ds, bad, masks=masks, io=RunIO(checkpoint_dir=tmp_path / "c", checkpoint_every=1)
        )
    assert "no checkpoint in" in str(err.value) and "last" not in str(err.value)


def test_last_good_skips_a_damaged_newest(interrupted, tmp_path):
    folder = copy(interrupted, tmp_path)
    parts = json.loads((folder / "run.json").read_text())["parts"]
    checkpoints = CheckpointDir(folder, parts)
    assert checkpoints.last_good() == 15
    flip(folder / "checkpoint_step15.pt", 77)
    assert checkpoints.last_good() == 10
    flip(folder / "checkpoint_step10.pt", 77)
    assert checkpoints.last_good() is None
