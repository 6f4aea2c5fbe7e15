"""maskkit train: the artifact it writes, --save-at, rewinding, and one-line refusals."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

from maskkit import stages
from maskkit.format import InitRef, Mask, ModelBinding, Weights, load
from tests.conftest import ROOT, invoke
from tests.terminal import stderr_on_a_terminal
from tests.training_helpers import DATA_ARGS, lenet_mask, pruned_values

FAST = [
    *DATA_ARGS,
    "--steps",
    "12",
    "--batch-size",
    "64",
    "--momentum",
    "0.9",
    "--weight-decay",
    "1e-3",
]


@pytest.fixture
def mask_file(tmp_path):
    path = tmp_path / "m.safetensors"
    lenet_mask(0.8).save(path)
    return path


def one_line_error(result, *needles, code=1):
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maskkit: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_writes_trained_weights_with_training_metadata(mask_file):
    mask = load(str(mask_file))
    result = invoke(["train", *FAST, "--eval-every", "6"], input=mask_file.read_bytes())
    assert result.exit_code == 0, result.stderr
    trained = load(result.stdout_bytes, kind="weights")
    t = trained.training
    assert t["mask"] == mask.content_hash and t["step"] == 12 and t["start_step"] == 0
    assert (
        t["options"]["momentum"] == 0.9
        and t["options"]["steps"] == 12
        and t["options"]["lr"] == 0.1
    )
    assert t["dataset"]["name"] == "synthetic" and t["dataset"]["train_size"] == 512
    assert 0.0 <= t["metrics"]["test_accuracy"] <= 1.0 and t["metrics"]["test_count"] == 200
    assert [r.stage for r in trained.provenance] == [*(r.stage for r in mask.provenance), "train"]
    assert trained.provenance[-1].input == mask.content_hash
    assert trained.model == mask.model and trained.init == mask.init
    assert np.count_nonzero(pruned_values(trained.arrays, mask)) == 0
    assert "test accuracy" in result.stderr


def test_save_at_writes_stem_step_files(tmp_path, mask_file):
    out = tmp_path / "run.safetensors"
    result = invoke(["train", str(mask_file), *FAST, "--save-at", "0,5", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    step0 = load(str(tmp_path / "run_step0.safetensors"), kind="weights")
    step5 = load(str(tmp_path / "run_step5.safetensors"), kind="weights")
    assert step0.training["step"] == 0 and step5.training["step"] == 5
    # step 0 is the initial weights with the mask applied
    init = stages.init_weights("lenet300", seed=0)
    mask = load(str(mask_file))
    for name, value in step0.arrays.items():
        expected = (
            init.arrays[name] * mask.arrays[name] if name in mask.arrays else init.arrays[name]
        )
        assert np.array_equal(value, expected)
    # with stdout as output the files need a folder
    refused = invoke(["train", str(mask_file), *FAST, "--save-at", "3"])
    assert refused.exit_code == 2 and "--save-dir" in refused.stderr


def test_rewound_mask_continues_from_the_saved_step(tmp_path, mask_file):
    """score | mask | rewind --to run_step5 | train starts at step 5 and ends where a straight
    run of the same plain-SGD schedule ends (no optimizer state to lose)."""
    plain = [*DATA_ARGS, "--steps", "12", "--batch-size", "64", "--milestones", "8"]
    straight = tmp_path / "straight.safetensors"
    assert (
        invoke(["train", str(mask_file), *plain, "--save-at", "5", "-o", str(straight)]).exit_code
        == 0
    )
    rewound = invoke(
        ["rewind", "--to", str(tmp_path / "straight_step5.safetensors")],
        input=mask_file.read_bytes(),
    )
    assert rewound.exit_code == 0, rewound.stderr
    result = invoke(["train", *plain], input=rewound.stdout_bytes)
    assert result.exit_code == 0, result.stderr
    trained, reference = load(result.stdout_bytes), load(str(straight))
    assert trained.training["start_step"] == 5
    assert all(np.array_equal(trained.arrays[n], reference.arrays[n]) for n in reference.arrays)
    scratch = load(
        invoke(["train", *plain, "--start-step", "0"], input=rewound.stdout_bytes).stdout_bytes
    )
    assert scratch.training["start_step"] == 0


def test_dense_training_from_weights(tmp_path):
    init = stages.init_weights("lenet300", seed=3)
    result = invoke(["train", *FAST], input=init.to_bytes())
    assert result.exit_code == 0, result.stderr
    trained = load(result.stdout_bytes, kind="weights")
    assert trained.training["mask"] is None and trained.density > 0.99


def test_weights_override_records_its_hash(tmp_path, mask_file):
    other = tmp_path / "w.safetensors"
    stages.init_weights("lenet300", seed=9).save(other)
    result = invoke(["train", str(mask_file), *FAST, "--weights", str(other)])
    assert result.exit_code == 0, result.stderr
    trained = load(result.stdout_bytes)
    import hashlib

    assert trained.init == InitRef(
        sha256=hashlib.sha256(other.read_bytes()).hexdigest(), path=str(other)
    )


def test_bad_inputs_fail_in_one_line_and_write_nothing(tmp_path, mask_file):
    out = tmp_path / "out.safetensors"
    base = ["train", *FAST, "-o", str(out)]
    mask = load(str(mask_file))
    unknown = Mask(
        mask.arrays,
        model=ModelBinding("nosuchnet", {}, mask.model.fingerprint),
        init=InitRef(seed=0),
    )
    # The model name comes from the file, not the command line: bad data, exit 1.
    one_line_error(invoke(base, input=unknown.to_bytes()), "unknown model 'nosuchnet'")

    weights = tmp_path / "w.safetensors"
    stages.init_weights("lenet300", seed=1).save(weights)
    rewound = stages.rewind(mask, weights)
    weights.write_bytes(stages.init_weights("lenet300", seed=2).to_bytes())  # changed afterwards
    one_line_error(invoke(base, input=rewound.to_bytes()), "does not match")

    wrong = tmp_path / "wrong.safetensors"
    stages.init_weights("lenet300", seed=0, model_args={"hidden": [50, 20]}).save(wrong)
    one_line_error(invoke([*base, str(mask_file), "--weights", str(wrong)]), "fingerprint")

    empty = tmp_path / "nodata"
    empty.mkdir()
    one_line_error(
        invoke(
            [
                "train",
                str(mask_file),
                "--dataset",
                "cifar10",
                "--data-dir",
                str(empty),
                "-o",
                str(out),
            ]
        ),
        "cifar",
    )
    one_line_error(invoke([*base, str(mask_file), "--lr", "1e10"]), "diverged", "step")
    one_line_error(
        invoke(base, input=stages.score(stages.init_weights("lenet300"), "magnitude").to_bytes()),
        "scores",
    )
    assert not out.exists() and list(tmp_path.glob(".out*")) == []


def test_help_has_an_example_and_the_defaults():
    text = invoke(["train", "--help"]).stdout
    assert "Example:" in text and "maskkit train" in text and "160 epochs" in text


def test_unwritable_save_dir_fails_before_any_data_is_read(tmp_path, mask_file, monkeypatch):
    folder = tmp_path / "saves"
    folder.mkdir()
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        # Stands in for a read-only folder (root, which runs the tests, may write anywhere).
        if mode & os.W_OK and os.fspath(path) == str(folder):
            return False
        return real_access(path, mode, *args, **kwargs)

    def no_data(*args, **kwargs):
        raise AssertionError("the dataset was read before --save-dir was checked")

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr("maskkit.training.artifact_runs.DataRequest.load_for", no_data)
    result = invoke(["train", str(mask_file), *FAST, "--save-at", "3", "--save-dir", str(folder)])
    one_line_error(result, "--save-dir", str(folder), "not writable")
    assert list(folder.iterdir()) == []


def test_a_failed_save_at_write_is_one_line(tmp_path, mask_file, monkeypatch):
    def refuse(self, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Weights, "save", refuse)
    out = tmp_path / "run.safetensors"
    result = invoke(["train", str(mask_file), *FAST, "--save-at", "3", "-o", str(out)])
    one_line_error(result, "run_step3.safetensors", "Permission denied")
    assert not out.exists()


def test_final_metrics_are_printed_once(mask_file):
    result = invoke(
        ["train", *FAST, "--eval-every", "6", "--no-progress"], input=mask_file.read_bytes()
    )
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "test accuracy" in line]
    # step 6 from the evaluation log, step 12 (the last) once, in the final line
    assert len(lines) == 2 and "step 6 " in lines[0] and lines[1].startswith("maskkit: trained")
    assert "to step 12" in lines[1]


ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def test_log_lines_go_through_the_live_bar_on_a_terminal(tmp_path, mask_file):
    """On a real terminal (a pty) every log line starts a line of its own, never mid-bar."""
    env = dict(os.environ, OMP_NUM_THREADS="1", TERM="xterm", COLUMNS="120")
    args = [*FAST, "--steps", "40", "--eval-every", "10", "--save-at", "5,15,25"]
    code, output = stderr_on_a_terminal(
        [sys.executable, "-m", "maskkit", "train", str(mask_file), *args, "--progress",
         "-o", str(tmp_path / "out.safetensors")],
        env=env, cwd=ROOT,
    )  # fmt: skip
    assert code == 0, output.decode(errors="replace")
    segments = [s.strip() for s in re.split(rb"[\r\n]", ANSI.sub(b"", output)) if s.strip()]
    logged = [s for s in segments if b"maskkit: " in s]
    assert sum(b"saved the weights of step" in s for s in logged) == 3
    assert all(s.startswith(b"maskkit: ") for s in logged), logged


def test_library_refusals_name_the_flags_on_the_command_line(tmp_path, mask_file):
    """The library names parameters (save_at, checkpoint_every); the command line its flags."""
    out = str(tmp_path / "out.safetensors")
    late = invoke(["train", str(mask_file), *FAST, "--save-at", "999", "-o", out])
    one_line_error(late, "--save-at step 999 is after the last step", code=2)
    zero = invoke(
        ["train", str(mask_file), *FAST, "--checkpoint-dir", str(tmp_path / "c"),
         "--checkpoint-every", "0", "-o", out]
    )  # fmt: skip
    one_line_error(zero, "--checkpoint-every must be at least one step", code=2)
    assert not os.path.exists(out)


def test_nproc_hands_torchrun_the_same_command_with_the_input_file_or_the_piped_bytes(
    tmp_path, mask_file, monkeypatch
):
    calls = []
    monkeypatch.setattr(
        "maskkit.training.distributed.launch",
        lambda nproc, argv, stdin=None: calls.append((nproc, list(argv), stdin)),
    )
    out = str(tmp_path / "o.safetensors")
    args = ["train", *FAST, "--nproc", "2", "-o", out]
    assert invoke([*args, str(mask_file)]).exit_code == 0
    assert invoke(args, input=mask_file.read_bytes()).exit_code == 0
    (n1, argv1, stdin1), (n2, argv2, stdin2) = calls
    assert n1 == n2 == 2
    assert argv1[0] == "train" and argv1[-2:] == ["--", str(mask_file)] and stdin1 is None
    assert argv2[-1] == "-" and stdin2 == mask_file.read_bytes()
    for argv in (argv1, argv2):
        assert "--nproc" not in argv and argv[argv.index("--steps") + 1] == "12"
        flag = "-o" if "-o" in argv else "--output"
        assert argv[argv.index(flag) + 1] == out
