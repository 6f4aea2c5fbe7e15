"""maskkit imp: the same masks and weights as the loop written with the individual stages."""

from __future__ import annotations

import json

import numpy as np

from maskkit import stages
from maskkit.format import load
from maskkit.training import round_sparsity
from tests.conftest import invoke
from tests.training_helpers import DATA_ARGS

TRAIN = [
    *DATA_ARGS,
    "--steps",
    "16",
    "--batch-size",
    "64",
    "--momentum",
    "0.9",
    "--milestones",
    "12",
]


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def test_imp_equals_the_stage_pipeline(tmp_path):
    start = tmp_path / "init.safetensors"
    stages.init_weights("lenet300", seed=0).save(start)
    out = tmp_path / "imp"
    summary = json.loads(
        ok(
            invoke(
                [
                    "imp",
                    str(start),
                    "--rounds",
                    "2",
                    "--rewind-step",
                    "4",
                    "--out",
                    str(out),
                    *TRAIN,
                    "--json",
                ]
            )
        )
    )

    # The same loop, one stage at a time.
    manual = tmp_path / "manual"
    manual.mkdir()
    ok(
        invoke(
            ["train", str(start), *TRAIN, "--save-at", "4", "-o", str(manual / "w0.safetensors")]
        )
    )
    rewind_to = str(manual / "w0_step4.safetensors")
    previous_mask = None
    for r in (1, 2):
        score_args = ["score", "--method", "magnitude", str(manual / f"w{r - 1}.safetensors")]
        if previous_mask:
            score_args += ["--mask", previous_mask]
        scores = ok(invoke(score_args))
        mask = ok(invoke(["mask", "--sparsity", repr(round_sparsity(r, 0.2))], input=scores))
        mask = ok(invoke(["rewind", "--to", rewind_to], input=mask))
        previous_mask = str(manual / f"m{r}.safetensors")
        (manual / f"m{r}.safetensors").write_bytes(mask)
        ok(invoke(["train", *TRAIN, "-o", str(manual / f"w{r}.safetensors")], input=mask))

    for r in (0, 1, 2):
        got = load(str(out / f"round{r}_weights.safetensors"))
        want = load(str(manual / f"w{r}.safetensors"))
        assert all(np.array_equal(got.arrays[n], want.arrays[n]) for n in want.arrays), r
        assert got.training["start_step"] == (0 if r == 0 else 4)
        if r:
            got_mask = load(str(out / f"round{r}_mask.safetensors"))
            assert got_mask.content_hash == load(str(manual / f"m{r}.safetensors")).content_hash

    rewind = load(str(out / "rewind_step4.safetensors"))
    assert all(np.array_equal(rewind.arrays[n], load(rewind_to).arrays[n]) for n in rewind.arrays)
    rows = summary["rounds"]
    assert [row["kept"] for row in rows] == [266200, 212960, 170368]  # 80% of 80% of the rest
    assert json.loads((out / "summary.json").read_text())["rounds"] == rows
    assert (
        rows[2]["test_accuracy"]
        == load(str(out / "round2_weights.safetensors")).training["metrics"]["test_accuracy"]
    )


def test_table_and_help(tmp_path):
    start = stages.init_weights("lenet300", seed=1).to_bytes()
    result = invoke(["imp", "--rounds", "1", "--out", str(tmp_path / "o"), *TRAIN], input=start)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:4] == ["round", "sparsity", "kept", "density"]
    assert lines[3].split()[:4] == ["1", "0.2000", "212,960", "80.00%"]
    assert "Example:" in invoke(["imp", "--help"]).stdout
