"""maskkit imp: the same masks and weights as the loop written with the individual stages."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from maskkit import stages
from maskkit.format import load
from maskkit.masking.select import n_to_prune
from maskkit.training import round_sparsity
from maskkit.training.imp import round_target
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


def imp(out, *args, rounds=2):
    start = stages.init_weights("lenet300", seed=0).to_bytes()
    return invoke(
        ["imp", "--rounds", str(rounds), "--rewind-step", "4", "--out", str(out), *TRAIN, *args],
        input=start,
    )


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "lock"}


def contents(folder):
    """Each artifact's content hash and the summary's rows (paths inside files name the folder)."""
    hashes = {p.name: load(str(p)).content_hash for p in sorted(folder.glob("*.safetensors"))}
    return hashes, json.loads((folder / "summary.json").read_text())["rounds"]


@pytest.mark.parametrize(
    ("numel", "start_kept", "rate", "rounds"),
    [(266200, 266200, 0.2, 6), (1000, 1000, 0.2, 8), (7, 7, 0.5, 3), (999, 400, 0.35, 5)],
)
def test_round_targets_are_exact_counts_with_short_reproducing_decimals(
    numel, start_kept, rate, rounds
):
    p, q = Fraction(repr(rate)).numerator, Fraction(repr(rate)).denominator
    for r in range(1, rounds + 1):
        # Integers only: pruned = floor(N - k0 ((q - p) / q)^r + 1/2).
        qr = q**r
        want = (2 * (numel * qr - start_kept * (q - p) ** r) + qr) // (2 * qr)
        pruned, sparsity = round_target(r, rate, start_kept, numel)
        assert pruned == want
        assert n_to_prune(sparsity, numel) == pruned
        assert len(repr(sparsity)) <= len(str(2 * numel)) + 2  # digits of N suffice, no noise
    assert round_target(2, 0.2, 266200, 266200) == (95832, 0.36)


def test_recorded_sparsity_reruns_by_hand_to_the_same_bytes(tmp_path):
    out = tmp_path / "imp"
    result = imp(out, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rounds"]
    assert [row["sparsity"] for row in rows] == [0.0, 0.2, 0.36]
    assert "0.3599999" not in (out / "summary.json").read_text()
    assert [row["kept"] for row in rows] == [266200, 212960, 170368]  # 266200 * 0.8^r
    # Round 2 by hand, with the decimal the summary gives.
    scores = ok(
        invoke(
            [
                "score", "--method", "magnitude", "--mask", str(out / "round1_mask.safetensors"),
                str(out / "round1_weights.safetensors"),
            ]
        )
    )  # fmt: skip
    mask = ok(invoke(["mask", "--sparsity", "0.36"], input=scores))
    hand = out / "hand_mask.safetensors"
    ok(
        invoke(
            ["rewind", "--to", str(out / "rewind_step4.safetensors"), "-o", str(hand)], input=mask
        )
    )
    assert hand.read_bytes() == (out / "round2_mask.safetensors").read_bytes()


def test_rerun_into_the_same_folder_resumes_after_the_last_complete_round(tmp_path):
    fresh = tmp_path / "fresh"
    assert imp(fresh).exit_code == 0
    out = tmp_path / "imp"
    assert imp(out, rounds=1).exit_code == 0
    first = files(out)
    # A damaged round 1 is redone; round 0 is reused as it is.
    weights1 = out / "round1_weights.safetensors"
    data = bytearray(weights1.read_bytes())
    data[-5] ^= 0x10
    weights1.write_bytes(bytes(data))
    stamp = (out / "round0_weights.safetensors").stat().st_mtime_ns
    again = imp(out)
    assert again.exit_code == 0, again.stderr
    assert (out / "round0_weights.safetensors").stat().st_mtime_ns == stamp
    assert contents(out) == contents(fresh)
    assert first["round1_weights.safetensors"] == files(out)["round1_weights.safetensors"]
    # Everything done: a rerun trains nothing and changes nothing.
    before = files(out)
    assert imp(out).exit_code == 0 and files(out) == before


def test_another_run_in_the_folder_is_refused_in_one_line(tmp_path):
    out = tmp_path / "imp"
    assert imp(out, rounds=1).exit_code == 0
    before = files(out)
    other = imp(out, "--lr", "0.05", rounds=1)
    assert other.exit_code == 1
    lines = other.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds another IMP run (different training options)" in lines[0]
    assert files(out) == before

    strays = tmp_path / "strays"
    strays.mkdir()
    (strays / "round2_weights.safetensors").write_bytes(b"from some other run")
    refused = imp(strays, rounds=1)
    assert refused.exit_code == 1 and "no summary.json" in refused.stderr
    assert files(strays) == {"round2_weights.safetensors": b"from some other run"}
