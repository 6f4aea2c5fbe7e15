"""maskkit diff: per-layer overlap against a hand-computed case, verdicts and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from maskkit.format import Mask, ModelBinding, fingerprint
from tests.conftest import FIXTURES, invoke

BINDING = ModelBinding("toy", {}, fingerprint([("w", (8,)), ("v", (2, 2))]))


def save(tmp_path, name, w, v, binding=BINDING):
    path = tmp_path / name
    Mask({"w": np.array(w, bool), "v": np.array(v, bool).reshape(2, 2)}, model=binding).save(path)
    return str(path)


@pytest.fixture
def pair(tmp_path):
    a = save(tmp_path, "a.safetensors", [1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1])
    b = save(tmp_path, "b.safetensors", [0, 0, 1, 1, 1, 0, 0, 0], [1, 0, 0, 0])
    return a, b


def test_overlap_numbers_match_a_hand_computation(pair):
    result = invoke(["diff", *pair, "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    layers = {x["name"]: x for x in doc["layers"]}
    w, v, total = layers["w"], layers["v"], doc["total"]
    # w: A keeps 4 of 8, B keeps 3, both keep 2; independent masks would share 4*3/8 = 1.5.
    assert (w["kept_a"], w["kept_b"], w["both"]) == (4, 3, 2)
    assert w["jaccard"] == pytest.approx(2 / 5)
    assert w["a_in_b"] == pytest.approx(2 / 4)
    assert w["expected_jaccard"] == pytest.approx(1.5 / 5.5)
    assert w["expected_a_in_b"] == pytest.approx(3 / 8)
    assert w["density_diff"] == pytest.approx(3 / 8 - 4 / 8)
    # v: A keeps all 4, B keeps 1: any B is inside A, as independence predicts.
    assert v["jaccard"] == pytest.approx(1 / 4) and v["expected_jaccard"] == pytest.approx(1 / 4)
    # Pooled: expectations add per layer (1.5 + 1), they are not recomputed from pooled densities.
    assert total["both"] == 3 and total["jaccard"] == pytest.approx(3 / 9)
    assert total["expected_jaccard"] == pytest.approx(2.5 / 9.5)
    assert total["expected_a_in_b"] == pytest.approx(2.5 / 8)
    assert doc["identical"] is False and doc["same_densities"] is False
    assert doc["difference"] == "densities" and doc["z_threshold"] == 3.0
    # The statistics: w's overlap 2 against mean 1.5 and variance 4*3*4*5 / (8^2 * 7) = 15/28.
    assert w["expected_both"] == 1.5 and w["sd_both"] == pytest.approx((15 / 28) ** 0.5)
    assert w["overlap_ratio"] == pytest.approx(2 / 1.5)
    assert w["z"] == pytest.approx(0.5 / (15 / 28) ** 0.5) and w["chance"] == "at"
    # v: A keeps all 4, so B's 1 is inside A whatever it is: no spread, no z.
    assert v["sd_both"] == 0 and v["z"] is None and v["overlap_ratio"] == 1.0
    assert total["sd_both"] == pytest.approx((15 / 28) ** 0.5)
    assert total["z"] == pytest.approx((3 - 2.5) / (15 / 28) ** 0.5)
    assert doc["verdict"].startswith(
        "different densities in 2 of 2 layers; weights overlap at chance"
    )


def test_plain_report_has_a_verdict_and_a_row_per_layer(pair):
    out = invoke(["diff", *pair]).stdout
    assert "verdict: different densities in 2 of 2 layers; weights overlap at chance (1.20x" in out
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("layer "))
    assert head.split("  ")[0] == "layer" and head.count("indep") == 0
    assert [c.strip() for c in head.split("  ") if c.strip()] == [
        "layer",
        "numel",
        "dens A",
        "dens B",
        "diff",
        "jaccard",
        "chance jaccard",
        "A in B",
        "chance A in B",
        "x chance",
        "z",
    ]
    row = next(line for line in lines if line.startswith("w "))
    assert row.split() == [
        "w",
        "8",
        "50.00%",
        "37.50%",
        "-12.50%",
        "0.4000",
        "0.2727",
        "50.00%",
        "37.50%",
        "1.33x",
        "+0.7",
    ]
    v = next(line for line in lines if line.startswith("v "))
    assert v.split()[-2:] == ["1.00x", "-"]
    assert any("|z| < 3 is overlap at chance" in line for line in lines)


def test_fail_on_diff_exit_codes_say_which_difference(pair, tmp_path):
    a, b = pair
    differ = invoke(["diff", a, b, "--fail-on-diff"])
    assert differ.exit_code == 3
    assert differ.stderr == (
        "maskkit: --fail-on-diff: the masks keep different counts: "
        "different densities in 2 of 2 layers\n"
    )
    copy = save(tmp_path, "copy.safetensors", [1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1])
    same = invoke(["diff", a, copy, "--fail-on-diff"])
    assert same.exit_code == 0 and "verdict: identical masks\n" in same.stdout
    assert same.stderr == ""
    moved = save(tmp_path, "moved.safetensors", [0, 0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 1])
    result = invoke(["diff", a, moved, "--fail-on-diff"])
    assert (
        result.exit_code == 3 and "same per-layer densities, but different weights" in result.stderr
    )


def test_a_reinit_is_reported_as_the_same_mask_with_other_initial_weights(tmp_path):
    mask = FIXTURES / "format/valid/mask_bool.safetensors"
    reinit = invoke(["reinit", "--seed", "3", str(mask)])
    assert reinit.exit_code == 0, reinit.stderr
    result = invoke(["diff", str(mask), "-", "--fail-on-diff"], input=reinit.stdout_bytes)
    assert result.exit_code == 3
    assert "verdict: identical masks, different initial weights\n" in result.stdout
    assert "the mask tensors are equal but the initial weights differ" in result.stderr
    doc = json.loads(invoke(["diff", str(mask), "-", "--json"], input=reinit.stdout_bytes).stdout)
    assert doc["difference"] == "init" and doc["identical"] is True and doc["same_init"] is False


def test_verdicts_beyond_chance(tmp_path):
    rng = np.random.default_rng(3)
    shapes = {"w": (40, 50), "v": (30, 30)}
    base = {n: rng.random(s) < 0.3 for n, s in shapes.items()}
    binding = ModelBinding("toy", {}, fingerprint(sorted(shapes.items())))

    def write(name, arrays):
        path = tmp_path / name
        Mask(arrays, model=binding).save(path)
        return str(path)

    def permuted(arrays):
        return {n: rng.permutation(x.ravel()).reshape(x.shape) for n, x in arrays.items()}

    a = write("a.safetensors", base)
    shuffled = write("s.safetensors", permuted(base))
    out = invoke(["diff", a, shuffled]).stdout
    assert "verdict: same densities; weights overlap at chance (" in out
    # Move a fifth of A's kept weights each: the same counts, but most positions shared.
    close = {}
    for n, x in base.items():
        flat = x.ravel().copy()
        on, off = np.flatnonzero(flat), np.flatnonzero(~flat)
        k = len(on) // 5
        flat[rng.choice(on, k, replace=False)] = False
        flat[rng.choice(off, k, replace=False)] = True
        close[n] = flat.reshape(x.shape)
    more = invoke(["diff", a, write("c.safetensors", close), "--json"])
    doc = json.loads(more.stdout)
    total = doc["total"]
    assert doc["difference"] == "weights" and total["chance"] == "above" and total["z"] > 3
    want = f"same densities; weights overlap {total['overlap_ratio']:.2f}x more than chance"
    assert doc["verdict"].startswith(want)
    inverse = write("i.safetensors", {n: ~x for n, x in base.items()})
    less = json.loads(invoke(["diff", a, inverse, "--json"]).stdout)
    assert less["total"]["both"] == 0 and less["total"]["chance"] == "below"
    # A and its complement never overlap; chance: sum of a(n-a)/n, variance a^2 (n-a)^2 / (n^2 (n-1)).
    counts = [(x.size, int(x.sum())) for x in base.values()]
    mean = sum(k * (n - k) / n for n, k in counts)
    sd = sum(k * k * (n - k) ** 2 / (n * n * (n - 1)) for n, k in counts) ** 0.5
    assert less["verdict"] == (
        "different densities in 2 of 2 layers; weights overlap less than chance "
        f"(0.00x chance, z = {-mean / sd:+.1f}; |z| >= 3)"
    )


def test_same_densities_different_weights(tmp_path):
    a = save(tmp_path, "a.safetensors", [1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0])
    b = save(tmp_path, "b.safetensors", [0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 1])
    out = invoke(["diff", a, "-"], input=Path(b).read_bytes()).stdout
    assert "verdict: same densities; weights overlap at chance (" in out


def test_masks_of_different_models_are_refused(tmp_path, pair):
    other = ModelBinding("other", {}, fingerprint([("w", (8,)), ("v", (2, 2)), ("x", (1,))]))
    c = save(tmp_path, "c.safetensors", [1] * 8, [1] * 4, binding=other)
    result = invoke(["diff", pair[0], c])
    assert result.exit_code == 1 and "the masks fit different models" in result.stderr
    d = tmp_path / "d.safetensors"
    Mask({"w": np.ones(8, bool)}).save(d)
    result = invoke(["diff", pair[0], str(d)])
    assert result.exit_code == 1 and "v (only in A)" in result.stderr


def test_scores_need_a_sparsity_and_weights_are_refused(pair):
    scores = str(FIXTURES / "format/valid/scores.safetensors")
    result = invoke(["diff", scores, pair[0]])
    assert result.exit_code == 2 and "give --sparsity" in result.stderr  # a usage mistake
    weights = str(FIXTURES / "format/valid/weights.safetensors")
    result = invoke(["diff", weights, pair[0]])
    assert (
        result.exit_code == 1 and "is a weights artifact, expected mask or scores" in result.stderr
    )


def test_both_stdin_is_a_usage_error():
    assert invoke(["diff", "-", "-"], input=b"x").exit_code == 2
