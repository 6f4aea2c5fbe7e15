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


def test_plain_report_has_a_verdict_and_a_row_per_layer(pair):
    out = invoke(["diff", *pair]).stdout
    assert "verdict: different densities in 2 of 2 layers" in out
    row = next(line for line in out.splitlines() if line.startswith("w "))
    assert row.split() == ["w", "8", "50.00%", "37.50%", "-12.50%", "0.4000", "0.2727", "50.00%", "37.50%"]


def test_fail_on_diff_exit_codes(pair, tmp_path):
    a, b = pair
    assert invoke(["diff", a, b, "--fail-on-diff"]).exit_code == 3
    copy = save(tmp_path, "copy.safetensors", [1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1])
    same = invoke(["diff", a, copy, "--fail-on-diff"])
    assert same.exit_code == 0 and "verdict: identical masks" in same.stdout


def test_same_densities_different_weights(tmp_path):
    a = save(tmp_path, "a.safetensors", [1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0])
    b = save(tmp_path, "b.safetensors", [0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 1])
    out = invoke(["diff", a, "-"], input=Path(b).read_bytes()).stdout
    assert "verdict: same per-layer densities, different weights" in out


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
    assert result.exit_code == 1 and "give --sparsity" in result.stderr
    weights = str(FIXTURES / "format/valid/weights.safetensors")
    result = invoke(["diff", weights, pair[0]])
    assert result.exit_code == 1 and "is a weights artifact, expected mask or scores" in result.stderr


def test_both_stdin_is_a_usage_error():
    assert invoke(["diff", "-", "-"], input=b"x").exit_code == 2
