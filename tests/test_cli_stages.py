"""The stage commands: pipelines, byte-identical reruns, options, and refusals of bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from maskkit.format import load
from maskkit.models import build_model
from tests.conftest import invoke, run_maskkit


def pipeline(stages: list[list[str]], cwd) -> bytes:
    """Run maskkit stages joined by real pipes; returns the last stage's stdout."""
    procs, prev = [], None
    for args in stages:
        p = subprocess.Popen(
            [sys.executable, "-m", "maskkit", *args],
            stdin=prev.stdout if prev else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
        )
        if prev:
            prev.stdout.close()
        procs.append(p)
        prev = p
    out = procs[-1].stdout.read()
    for p in procs:
        p.wait()
        assert p.returncode == 0, p.stderr.read().decode()
    return out


SNIP_PIPELINE = [
    ["score", "--model", "lenet300", "--seed", "0", "--method", "snip", "--dataset", "mnist"],
    ["mask", "--sparsity", "0.9"],
    ["shuffle", "--seed", "1"],
    ["reinit", "--seed", "2"],
]


def test_the_readme_pipeline_is_byte_identical_when_repeated(tmp_path):
    first = pipeline(SNIP_PIPELINE, tmp_path)
    second = pipeline(SNIP_PIPELINE, tmp_path)
    assert first == second
    mask = load(first, kind="mask")
    assert [r.stage for r in mask.provenance] == ["init", "score", "mask", "shuffle", "reinit"]
    assert mask.numel - mask.kept == math.floor(0.9 * 266_200 + 0.5)
    assert mask.provenance[1].options["dataset"] == "mnist"
    assert mask.provenance[1].options["samples_per_class"] == 10


def test_init_then_score_from_a_file_equals_score_from_the_model(tmp_path):
    init = invoke(
        ["init", "--model", "lenet5", "--seed", "3", "-o", str(tmp_path / "w.safetensors")]
    )
    assert init.exit_code == 0, init.stderr
    from_file = invoke(
        ["score", "--method", "magnitude", "--seed", "3", str(tmp_path / "w.safetensors")]
    )
    from_model = invoke(["score", "--method", "magnitude", "--model", "lenet5", "--seed", "3"])
    assert from_file.exit_code == 0 and from_model.exit_code == 0
    assert from_file.stdout_bytes == from_model.stdout_bytes


def test_plain_safetensors_state_dict_is_scored_when_bound_with_model(tmp_path):
    state = build_model("lenet5", {}, seed=0).state_dict()
    plain = tmp_path / "plain.safetensors"
    save_file(state, str(plain))
    refused = invoke(["score", "--method", "magnitude", str(plain)])
    assert refused.exit_code == 2 and "--model" in refused.stderr  # a usage mistake
    result = invoke(["score", "--method", "magnitude", "--model", "lenet5", str(plain)])
    assert result.exit_code == 0, result.stderr
    scores = load(result.stdout_bytes, kind="scores")
    assert scores.init.sha256 and scores.init.path == str(plain)
    assert [r.stage for r in scores.provenance] == ["score"]
    name = "conv1.weight"
    assert np.array_equal(scores.arrays[name], state[name].abs().numpy())
    state.pop("fc.weight")
    save_file(state, str(plain))
    missing = invoke(["score", "--method", "magnitude", "--model", "lenet5", str(plain)])
    assert missing.exit_code == 1 and "missing fc.weight" in missing.stderr


def test_mask_options_through_the_cli(tmp_path):
    scores = tmp_path / "s.safetensors"
    assert (
        invoke(
            ["score", "--model", "lenet300", "--method", "magnitude", "-o", str(scores)]
        ).exit_code
        == 0
    )
    layerwise = load(invoke(["mask", "--layerwise", "--sparsity", "0.5", str(scores)]).stdout_bytes)
    assert all(c.kept == c.numel - math.floor(c.numel / 2 + 0.5) for c in layerwise.layers.values())
    erk = load(invoke(["mask", "--rule", "erk", "--sparsity", "0.9", str(scores)]).stdout_bytes)
    assert erk.numel - erk.kept == math.floor(0.9 * erk.numel + 0.5)
    glob = tmp_path / "g.safetensors"
    assert invoke(["mask", "--sparsity", "0.8", str(scores), "-o", str(glob)]).exit_code == 0
    like = load(invoke(["mask", "--like", str(glob), str(scores)]).stdout_bytes)
    assert like.densities() == load(glob).densities()
    wanted = {"fc.weight": 0.5, "fc_layers.0.weight": 0.1, "fc_layers.1.weight": 0.2}
    (tmp_path / "d.json").write_text(json.dumps(wanted))
    explicit = load(
        invoke(["mask", "--densities", str(tmp_path / "d.json"), str(scores)]).stdout_bytes
    )
    assert explicit.densities() == wanted
    (tmp_path / "partial.json").write_text(json.dumps({"fc.weight": 0.5}))
    partial = invoke(["mask", "--densities", str(tmp_path / "partial.json"), str(scores)])
    assert partial.exit_code == 1
    assert (
        str(tmp_path / "partial.json") in partial.stderr and "fc_layers.0.weight" in partial.stderr
    )
    packed = load(
        invoke(["mask", "--sparsity", "0.8", "--encoding", "packbits", str(scores)]).stdout_bytes
    )
    assert packed.encoding == "packbits" and packed.content_hash == load(glob).content_hash


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "--model", "lenet300", "--method", "prune-everything"], "known: "),
        (["score", "--model", "resnet9000", "--method", "magnitude"], "resnet20"),
        (["score", "--model", "lenet300", "--method", "synflow"], "--sparsity"),
    ],
)
def test_bad_stage_options_are_one_line_errors(args, message):
    result = invoke(args)
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_sparsity_outside_the_range_is_a_usage_error(tmp_path):
    result = invoke(["mask", "--sparsity", "1.0", "-"], input=b"x")
    assert result.exit_code == 2


def test_wrong_kind_on_stdin_writes_nothing(tmp_path):
    mask = invoke(["score", "--model", "lenet5", "--method", "random"]).stdout_bytes
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"precious")
    result = invoke(["shuffle", "--seed", "1", "-o", str(out)], input=mask)
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "is a scores artifact, expected mask" in result.stderr
    assert out.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.safetensors"]


def test_a_mask_for_another_model_is_refused_by_score(tmp_path):
    lenet5 = tmp_path / "m5.safetensors"
    scores = invoke(["score", "--model", "lenet5", "--method", "random"]).stdout_bytes
    assert invoke(["mask", "--sparsity", "0.5", "-o", str(lenet5)], input=scores).exit_code == 0
    result = invoke(
        ["score", "--model", "lenet300", "--method", "magnitude", "--mask", str(lenet5)]
    )
    assert result.exit_code == 1 and "model" in result.stderr


def test_synflow_warns_when_masked_at_another_sparsity():
    scores = invoke(
        ["score", "--model", "lenet5", "--method", "synflow", "--sparsity", "0.9", "--rounds", "5"]
    )
    assert scores.exit_code == 0, scores.stderr
    same = run_maskkit(["mask", "--sparsity", "0.9"], input=scores.stdout_bytes)
    other = run_maskkit(["mask", "--sparsity", "0.5"], input=scores.stdout_bytes)
    assert same.returncode == 0 and b"warning" not in same.stderr
    assert other.returncode == 0 and b"maskkit: warning:" in other.stderr


def test_nan_scores_file_is_refused(tmp_path):
    # A scores file whose header is honest but whose data holds NaN (hand-built with safetensors).
    scores = load(invoke(["score", "--model", "lenet5", "--method", "random"]).stdout_bytes)
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in scores.arrays.items()}
    tensors["fc.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan.safetensors"
    save_file(tensors, str(bad), metadata={"maskkit": scores.metadata.to_json()})
    result = invoke(["mask", "--sparsity", "0.5", str(bad)])
    assert result.exit_code == 1 and str(bad) in result.stderr and "NaN" in result.stderr


def test_stage_refuses_a_terminal_on_stdout():
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child: stdout is the pty
        os.execv(sys.executable, [sys.executable, "-m", "maskkit", "init", "--model", "lenet5"])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert b"refusing to write a binary artifact to a terminal" in output


def test_too_few_examples_per_class_and_a_missing_dataset_are_clear_errors(tmp_path):
    short = invoke(
        [
            "score",
            "--model",
            "lenet300",
            "--method",
            "snip",
            "--dataset",
            "synthetic",
            "--samples-per-class",
            "100000",
        ]
    )
    assert short.exit_code == 1 and "class" in short.stderr
    missing = invoke(
        ["score", "--model", "resnet20", "--method", "grasp", "--data-dir", str(tmp_path)]
    )
    assert missing.exit_code == 1
    assert "cifar" in missing.stderr.lower() and str(tmp_path) in missing.stderr
    assert "Traceback" not in missing.stderr + short.stderr


def test_snip_on_synthetic_data_takes_the_models_shape():
    result = invoke(
        [
            "score",
            "--model",
            "resnet20",
            "--method",
            "snip",
            "--dataset",
            "synthetic",
            "--samples-per-class",
            "2",
        ]
    )
    assert result.exit_code == 0, result.stderr
    scores = load(result.stdout_bytes, kind="scores")
    assert scores.provenance[-1].options["dataset"] == "synthetic"
    assert scores.numel == 270_896
