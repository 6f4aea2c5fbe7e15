"""Masks travel: a mask's initial weights file is found, by its SHA-256, wherever the folder went.

A relative init path resolves against the mask's own folder; ``rewind`` records it relative to
the folder of ``-o``; the file is then looked up at the recorded path, by name beside the
mask, in ``--weights-dir`` / ``MASKKIT_WEIGHTS_PATH`` folders, and relative to the current
directory.
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

from maskkit import stages
from maskkit.errors import FormatError, IntegrityError
from maskkit.format import StageRecord, load
from maskkit.init_lookup import WEIGHTS_PATH_ENV, candidates, find_init_weights
from maskkit.start_weights import initial_model
from tests.conftest import invoke
from tests.training_helpers import DATA_ARGS, lenet_mask

TRAIN = [*DATA_ARGS, "--steps", "3", "--batch-size", "64"]


def ok(result) -> bytes:
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def one_line_error(result, *needles):
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maskkit: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(autouse=True)
def no_weights_path(monkeypatch):
    monkeypatch.delenv(WEIGHTS_PATH_ENV, raising=False)


@pytest.fixture
def weights():
    return stages.init_weights("lenet300", seed=3)


def rewound_to(path, *, relative_to=None):
    return stages.rewind(lenet_mask(0.5), path, relative_to=relative_to)


def first_weight(model):
    return model.state_dict()["fc.weight"].numpy()


def test_the_lookup_order(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_PATH_ENV, os.pathsep.join(["/env/one", "", "/env/two"]))
    got = candidates("old/w.safetensors", source="/lab/masks/m.safetensors", weights_dirs=["/d"])
    assert got == [
        "/lab/masks/old/w.safetensors",  # as recorded, against the mask's folder
        "/lab/masks/w.safetensors",  # the same name beside the mask
        "/d/w.safetensors",  # --weights-dir, then MASKKIT_WEIGHTS_PATH in order
        "/env/one/w.safetensors",
        "/env/two/w.safetensors",
        "old/w.safetensors",  # as recorded, against the current directory
    ]
    # From stdin the mask's folder is the current directory; repeats are dropped.
    monkeypatch.delenv(WEIGHTS_PATH_ENV)
    assert candidates("w.safetensors", source="<stdin>") == ["w.safetensors"]
    assert candidates(None, source="m.safetensors") == []


def test_a_relative_path_resolves_against_the_masks_folder_not_the_current_one(
    tmp_path, monkeypatch, weights
):
    lab = tmp_path / "lab"
    (lab / "w").mkdir(parents=True)
    weights.save(lab / "w" / "w3.safetensors")
    monkeypatch.chdir(tmp_path)
    mask = rewound_to("lab/w/w3.safetensors", relative_to="lab")
    assert mask.init.path == os.path.join("w", "w3.safetensors")
    mask.save(lab / "m.safetensors")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model, _ = initial_model(load(str(lab / "m.safetensors")), source=str(lab / "m.safetensors"))
    assert np.array_equal(first_weight(model), weights.arrays["fc.weight"])
    # The same relative name from stdin means the current directory, which lacks it.
    with pytest.raises(FormatError, match="no file has the SHA-256"):
        initial_model(mask, source="<stdin>")


def test_a_wrong_file_at_the_recorded_path_is_skipped_for_the_right_one_beside(tmp_path, weights):
    (tmp_path / "old").mkdir()
    stages.init_weights("lenet300", seed=4).save(tmp_path / "old" / "w.safetensors")
    weights.save(tmp_path / "w.safetensors")
    mask = rewound_to(tmp_path / "w.safetensors", relative_to=tmp_path)
    moved = mask.derive(
        StageRecord.of("rewind", {}, input=mask),
        init=type(mask.init)(sha256=mask.init.sha256, path="old/w.safetensors"),
    )
    found = find_init_weights(
        moved.init.sha256, moved.init.path, source=str(tmp_path / "m.safetensors")
    )
    assert found.path == str(tmp_path / "w.safetensors")
    with pytest.raises(IntegrityError, match=re.escape("old/w.safetensors does not match")):
        find_init_weights("cd" * 32, "old/w.safetensors", source=str(tmp_path / "m.safetensors"))


def test_weights_dirs_come_before_the_environment(tmp_path, monkeypatch, weights):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        weights.save(tmp_path / folder / "w.safetensors")
    monkeypatch.chdir(tmp_path)
    mask = rewound_to("a/w.safetensors", relative_to="a")
    assert mask.init.path == "w.safetensors"
    source = str(tmp_path / "masks" / "m.safetensors")  # a folder without the file
    monkeypatch.setenv(WEIGHTS_PATH_ENV, str(tmp_path / "b"))
    found = find_init_weights(mask.init.sha256, mask.init.path, source=source)
    assert found.path == str(tmp_path / "b" / "w.safetensors")
    found = find_init_weights(
        mask.init.sha256, mask.init.path, source=source, weights_dirs=[tmp_path / "a"]
    )
    assert found.path == str(tmp_path / "a" / "w.safetensors")


def test_rewind_records_the_path_relative_to_the_output_folder(tmp_path, monkeypatch, weights):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    (tmp_path / "masks").mkdir()
    weights.save(tmp_path / "store" / "w.safetensors")
    (tmp_path / "link.safetensors").symlink_to(tmp_path / "store" / "w.safetensors")
    mask = lenet_mask(0.5).to_bytes()

    def recorded(*args):
        out = ok(invoke(["rewind", *args], input=mask))
        return load(out or (tmp_path / "masks" / "m.safetensors").read_bytes()).init.path

    to = os.path.join("store", "w.safetensors")
    assert recorded("--to", to, "-o", "masks/m.safetensors") == os.path.join("..", to)
    assert recorded("--to", to) == to  # stdout: as given, relative to the current directory
    absolute = str(tmp_path / "store" / "w.safetensors")
    assert recorded("--to", absolute, "-o", "masks/m.safetensors") == os.path.join("..", to)
    assert recorded("--to", absolute) == absolute
    # A link is recorded as its target: readers do not follow a recorded link.
    assert recorded("--to", "link.safetensors", "-o", "masks/m.safetensors") == os.path.join(
        "..", to
    )
    assert recorded("--to", "link.safetensors") == to


def test_a_copied_folder_of_masks_and_weights_trains_from_inside_and_from_elsewhere(
    tmp_path, monkeypatch, weights
):
    lab = tmp_path / "lab"
    (lab / "weights").mkdir(parents=True)
    weights.save(lab / "weights" / "w3.safetensors")
    monkeypatch.chdir(tmp_path)
    ok(invoke(["rewind", "--to", "lab/weights/w3.safetensors", "-o", "lab/m.safetensors"],
              input=lenet_mask(0.5).to_bytes()))  # fmt: skip
    reference = ok(invoke(["train", "lab/m.safetensors", *TRAIN,
                           "--weights", "lab/weights/w3.safetensors"]))  # fmt: skip
    copy = tmp_path / "far" / "away" / "copy"
    shutil.copytree(lab, copy)
    shutil.rmtree(lab)  # nothing may come from the original

    monkeypatch.chdir(copy)
    inside = ok(invoke(["train", "m.safetensors", *TRAIN]))
    monkeypatch.chdir(tmp_path)
    outside = ok(invoke(["train", "far/away/copy/m.safetensors", *TRAIN]))
    piped = invoke(["train", *TRAIN], input=(copy / "m.safetensors").read_bytes())
    # From stdin the recorded path is relative to the current directory, which lacks it.
    one_line_error(piped, "no file has the SHA-256", "--weights-dir")
    want = load(reference).arrays
    for got in (load(inside).arrays, load(outside).arrays):
        assert all(np.array_equal(got[n], want[n]) for n in want)


def test_a_mask_without_its_weights_folder_finds_them_through_weights_dir(
    tmp_path, monkeypatch, weights
):
    (tmp_path / "store").mkdir()
    (tmp_path / "masks").mkdir()
    weights.save(tmp_path / "store" / "w3.safetensors")
    monkeypatch.chdir(tmp_path)
    ok(invoke(["rewind", "--to", "store/w3.safetensors", "-o", "masks/m.safetensors"],
              input=lenet_mask(0.5).to_bytes()))  # fmt: skip
    shutil.copytree(tmp_path / "masks", tmp_path / "received")
    store = str(tmp_path / "store")
    shutil.move(store, tmp_path / "shared")  # the recorded ../store no longer exists
    one_line_error(invoke(["train", "received/m.safetensors", *TRAIN]),
                   "store/w3.safetensors: no such file", "--weights-dir")  # fmt: skip
    by_option = ok(invoke(["train", "received/m.safetensors", *TRAIN, "--weights-dir", "nowhere",
                           "--weights-dir", "shared"]))  # fmt: skip
    monkeypatch.setenv(WEIGHTS_PATH_ENV, str(tmp_path / "shared"))
    by_env = ok(invoke(["train", "received/m.safetensors", *TRAIN]))
    evaluated = ok(invoke(["eval", "received/m.safetensors", *DATA_ARGS, "--json"]))
    monkeypatch.delenv(WEIGHTS_PATH_ENV)
    one_line_error(invoke(["eval", "received/m.safetensors", *DATA_ARGS]), "--weights-dir")
    by_dir = ok(invoke(["eval", "received/m.safetensors", *DATA_ARGS, "--json",
                        "--weights-dir", "shared"]))  # fmt: skip
    assert b'"accuracy"' in evaluated and by_dir == evaluated
    assert load(by_option).content_hash == load(by_env).content_hash


def test_imp_rounds_train_from_inside_their_folder_after_a_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok(invoke(["imp", "--rounds", "1", "--rewind-step", "2", "--out", "imp", *TRAIN],
              input=stages.init_weights("lenet300", seed=0).to_bytes()))  # fmt: skip
    mask = load(str(tmp_path / "imp" / "round1_mask.safetensors"))
    assert mask.init.path == "rewind_step2.safetensors"
    shutil.copytree(tmp_path / "imp", tmp_path / "moved")
    shutil.rmtree(tmp_path / "imp")
    monkeypatch.chdir(tmp_path / "moved")
    trained = load(ok(invoke(["train", "round1_mask.safetensors", *TRAIN])))
    assert trained.training["start_step"] == 2  # the step found in the looked-up file
    again = load(str(tmp_path / "moved" / "round1_weights.safetensors"))
    assert all(np.array_equal(trained.arrays[n], again.arrays[n]) for n in again.arrays)
