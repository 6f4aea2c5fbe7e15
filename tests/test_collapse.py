"""Layer collapse: every stage that makes a mask warns when a layer (or the whole mask) keeps nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from maskkit.collapse import LayerCollapseWarning, collapsed_layers
from maskkit.errors import MaskkitWarning
from maskkit.format import LayerCount, Scores, load
from maskkit.masking import make_mask
from tests.conftest import FIXTURES, run_maskkit

LENET300 = {
    "fc_layers.0.weight": (300, 784),
    "fc_layers.1.weight": (100, 300),
    "fc.weight": (10, 100),
}


def no_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    assert [w for w in caught if issubclass(w.category, MaskkitWarning)] == []
    return result


def test_collapsed_layers_from_counts():
    layers = {"b": LayerCount((3,), 0), "a": LayerCount((2, 2), 1), "c": LayerCount((0,), 0)}
    assert collapsed_layers(layers) == ["b"]  # an empty tensor keeps nothing, but loses nothing
    assert LayerCollapseWarning.__mro__[1] is MaskkitWarning


def test_a_mask_that_keeps_nothing_is_warned_about():
    rng = np.random.default_rng(0)
    scores = {name: rng.random(shape) for name, shape in LENET300.items()}
    # floor(0.99999999 * 266200 + 1/2) = 266200: every weight pruned.
    with pytest.warns(LayerCollapseWarning) as record:
        masks = make_mask(scores, 0.99999999)
    assert sum(int(m.sum()) for m in masks.values()) == 0
    assert [str(w.message) for w in record] == [
        "layer collapse: the mask keeps no weight at all (0 of 266,200)"
    ]


def test_the_collapsed_layers_are_named():
    scores = {"a": np.array([3.0, 4.0, 5.0]), "b": np.array([0.1, 0.2]), "c": np.array([0.3, 9.0])}
    # Global 0.5 prunes floor(3.5 + 1/2) = 4 of 7: the kept are 9, 5 and 4, none of b's.
    with pytest.warns(LayerCollapseWarning, match=r"prunes every weight of 1 of 3 layers \(b\)"):
        masks = make_mask(scores, 0.5)
    assert masks["b"].sum() == 0 and masks["a"].sum() == 2 and masks["c"].sum() == 1
    no_warnings(lambda: make_mask(scores, 0.2))


def test_the_stage_warns_for_per_layer_counts_too():
    from maskkit import stages

    scores = Scores({"a": np.arange(4, dtype=np.float32), "b": np.arange(3, dtype=np.float32)})
    with pytest.warns(LayerCollapseWarning, match=r"\(b\)"):
        mask = stages.make_mask(scores, densities={"a": 0.5, "b": 0.0})
    assert mask.layers["b"].kept == 0
    no_warnings(lambda: stages.make_mask(scores, densities={"a": 0.5, "b": 0.4}))


def test_convert_warns_about_an_imported_collapsed_mask(tmp_path):
    import safetensors.numpy

    from maskkit.interop import import_mask

    path = tmp_path / "foreign.safetensors"
    arrays = {"conv.weight": np.ones((2, 3), np.uint8), "fc.weight": np.zeros((4,), np.uint8)}
    safetensors.numpy.save_file(arrays, str(path))
    with pytest.warns(LayerCollapseWarning) as record:
        mask = import_mask(str(path))
    assert mask.layers["fc.weight"].kept == 0
    assert str(record[0].message).startswith(f"{path}: layer collapse: the imported mask prunes")
    assert "(fc.weight)" in str(record[0].message)


def test_the_cli_prints_one_warning_line_and_still_writes_the_mask(tmp_path):
    scores = FIXTURES / "format" / "valid" / "scores.safetensors"
    out = tmp_path / "m.safetensors"
    result = run_maskkit(["mask", "--sparsity", "0.99999999", str(scores), "-o", str(out)])
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode() == (
        "maskkit: warning: layer collapse: the mask keeps no weight at all (0 of 111)\n"
    )
    assert load(out, kind="mask").kept == 0  # a valid mask: a warning, not an error
    converted = run_maskkit(["convert", str(out), "-o", str(tmp_path / "c.safetensors")])
    assert converted.returncode == 0
    assert f"maskkit: warning: {out}: layer collapse: the imported mask keeps no weight at all" in (
        converted.stderr.decode()
    )
