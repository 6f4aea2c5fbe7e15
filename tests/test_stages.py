"""The stage functions: provenance links, carried bindings, exact counts, ablations, init refs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from maskkit import stages
from maskkit.errors import IntegrityError, MaskkitWarning, ModelMismatchError, OptionError
from maskkit.format import InitRef, load
from maskkit.models import build_model
from maskkit.start_weights import initial_model


@pytest.fixture(scope="module")
def weights():
    return stages.init_weights("lenet300", seed=0)


@pytest.fixture(scope="module")
def scores(weights):
    return stages.score(weights, "magnitude")


def test_init_records_seed_and_matches_the_registry_model(weights):
    model = build_model("lenet300", dict(weights.model.args), seed=0)
    for name, tensor in model.state_dict().items():
        assert np.array_equal(weights.arrays[name], tensor.numpy())
    assert weights.init == InitRef(seed=0)
    assert [r.stage for r in weights.provenance] == ["init"]
    other = stages.init_weights("lenet300", seed=1)
    assert other.content_hash != weights.content_hash


def test_each_record_names_the_hash_of_the_stage_input(weights, scores):
    mask = stages.make_mask(scores, 0.9)
    shuffled = stages.shuffle(mask, seed=1)
    final = stages.reinit(shuffled, seed=2)
    chain = final.provenance
    assert [r.stage for r in chain] == ["init", "score", "mask", "shuffle", "reinit"]
    assert chain[1].input == weights.content_hash
    assert chain[2].input == scores.content_hash
    assert chain[3].input == mask.content_hash
    assert chain[4].input == shuffled.content_hash
    assert final.model == weights.model
    assert final.init == InitRef(seed=2) and shuffled.init == InitRef(seed=0)


def test_magnitude_mask_keeps_exactly_the_largest_weights(weights, scores):
    mask = stages.make_mask(scores, 0.9)
    n = weights.numel
    assert n - mask.kept == math.floor(0.9 * n + 0.5)
    # Independent check: the kept weights are the largest |w| over all layers together.
    flat = np.concatenate([np.abs(weights.arrays[k]).ravel() for k in sorted(mask.arrays)])
    threshold = np.sort(flat)[n - mask.kept]
    for name, keep in mask.arrays.items():
        w = np.abs(weights.arrays[name])
        assert np.all(w[keep] >= threshold) and np.all(w[~keep] <= threshold)


def test_layerwise_like_and_densities(scores):
    layerwise = stages.make_mask(scores, 0.5, rule="layerwise")
    for count in layerwise.layers.values():
        assert count.numel - count.kept == math.floor(0.5 * count.numel + 0.5)
    global_mask = stages.make_mask(scores, 0.8)
    like = stages.make_mask(
        stages.score(stages.init_weights("lenet300", seed=5), "random"), like=global_mask
    )
    assert {n: c.kept for n, c in like.layers.items()} == {
        n: c.kept for n, c in global_mask.layers.items()
    }
    wanted = {"fc.weight": 1.0, "fc_layers.0.weight": 0.25, "fc_layers.1.weight": 0.5}
    explicit = stages.make_mask(scores, densities=wanted)
    assert explicit.densities() == wanted
    with pytest.raises(OptionError):
        stages.make_mask(scores, 0.5, like=global_mask)


def test_invert_keeps_the_lowest_and_exclude_keeps_a_layer_dense(weights, scores):
    low = stages.make_mask(scores, 0.5, invert=True)
    high = stages.make_mask(scores, 0.5)
    for name in low.arrays:
        assert not np.any(low.arrays[name] & high.arrays[name])
    dense_fc = stages.make_mask(scores, 0.9, exclude=["fc.*"])
    assert dense_fc.layers["fc.weight"].kept == 1000
    assert dense_fc.numel - dense_fc.kept == math.floor(0.9 * (weights.numel - 1000) + 0.5)


def test_scoring_under_a_mask_never_unprunes(weights, scores):
    first = stages.make_mask(scores, 0.5)
    again = stages.score(weights, "random", mask=first)
    for name, keep in first.arrays.items():
        assert np.all(np.isneginf(again.arrays[name][~keep]))
    second = stages.make_mask(again, 0.8)
    for name in first.arrays:
        assert not np.any(second.arrays[name] & ~first.arrays[name])
    assert again.provenance[-1].options["mask"] == first.content_hash


def test_shuffle_keeps_counts_and_moves_positions(scores):
    mask = stages.make_mask(scores, 0.9)
    shuffled = stages.shuffle(mask, seed=1)
    assert {n: c.kept for n, c in shuffled.layers.items()} == {
        n: c.kept for n, c in mask.layers.items()
    }
    for name, keep in mask.arrays.items():
        both = np.count_nonzero(keep & shuffled.arrays[name])
        expected = keep.sum() ** 2 / keep.size  # overlap of independent masks
        assert both < keep.sum()  # positions really changed
        assert abs(both - expected) < 6 * math.sqrt(expected) + 5
    assert stages.shuffle(mask, seed=1).content_hash == shuffled.content_hash
    assert stages.shuffle(mask, seed=2).content_hash != shuffled.content_hash


def test_reinit_changes_the_initial_weights_not_the_mask(scores):
    mask = stages.make_mask(scores, 0.9)
    fresh = stages.reinit(mask, seed=7)
    assert fresh.content_hash == mask.content_hash
    before, masks = initial_model(mask, source="m")
    after, _ = initial_model(fresh, source="m")
    w0 = before.state_dict()["fc_layers.0.weight"]
    w1 = after.state_dict()["fc_layers.0.weight"]
    assert not torch.equal(w0, w1)
    assert torch.equal(
        w1,
        build_model("lenet300", dict(mask.model.args), seed=7).state_dict()["fc_layers.0.weight"],
    )
    assert masks["fc.weight"].dtype == torch.bool


def test_rewind_names_the_file_by_hash_and_refuses_a_changed_file(tmp_path, scores):
    trained = stages.init_weights("lenet300", seed=3)
    path = tmp_path / "w3.safetensors"
    trained.save(path)
    rewound = stages.rewind(stages.make_mask(scores, 0.9), path)
    assert rewound.init.sha256 and rewound.init.path == str(path)
    model, _ = initial_model(rewound, source="m")
    assert np.array_equal(model.state_dict()["fc.weight"].numpy(), trained.arrays["fc.weight"])
    other = stages.init_weights("lenet300", seed=4)
    other.save(path)
    with pytest.raises(IntegrityError, match="does not match"):
        initial_model(rewound, source="m")


def test_rewind_to_weights_of_another_model_is_refused(tmp_path, scores):
    path = tmp_path / "lenet5.safetensors"
    stages.init_weights("lenet5", seed=0).save(path)
    with pytest.raises(ModelMismatchError):
        stages.rewind(stages.make_mask(scores, 0.9), path)
    plain = tmp_path / "partial.safetensors"
    state = build_model("lenet300", {}, seed=0).state_dict()
    state.pop("fc.bias")
    save_file(state, str(plain))
    with pytest.raises(ModelMismatchError, match=r"missing fc\.bias"):
        stages.rewind(stages.make_mask(scores, 0.9), plain)


def test_synflow_scores_masked_at_another_sparsity_warn(weights):
    s = stages.score(weights, "synflow", options={"sparsity": 0.9, "rounds": 5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stages.make_mask(s, 0.9)
    with pytest.warns(MaskkitWarning, match="sparsity 0.9"):
        stages.make_mask(s, 0.5)


def test_a_module_can_be_scored_directly():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    s = stages.score(net, "magnitude")
    assert s.model.name is None and s.model.fingerprint
    assert np.array_equal(s.arrays["0.weight"], net[0].weight.detach().abs().numpy())
    with pytest.raises(ModelMismatchError, match="unknown"):
        stages.reinit(stages.make_mask(s, 0.5), seed=1)


def test_round_trip_through_bytes_keeps_everything(scores):
    mask = stages.make_mask(scores, 0.9, encoding="packbits")
    again = load(mask.to_bytes(), kind="mask")
    assert again.content_hash == mask.content_hash
    assert again.provenance == mask.provenance and again.encoding == "packbits"
