"""make_mask: the global, layerwise, like and densities rules, invert and exclude."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
import torch

from maskkit.errors import ModelMismatchError, OptionError
from maskkit.masking import RULES, make_mask


def exact_count(sparsity: float, n: int) -> int:
    return math.floor(Fraction(sparsity) * n + Fraction(1, 2))


def reference_pruned(scores, n_prune, invert=False):
    """Full stable sort: already pruned first, then (negated if invert) score, canonical index."""
    items, index = [], 0
    for name in sorted(scores):
        for value in scores[name].reshape(-1).tolist():
            alive = value != -math.inf
            key = -value if (invert and alive) else value
            items.append(((alive, key, index), name))
            index += 1
    chosen = {item[0][2] for item in sorted(items, key=lambda item: item[0])[:n_prune]}
    flags = {name: [] for name in sorted(scores)}
    for (_, _, idx), name in items:
        flags[name].append(idx in chosen)
    return flags


def pruned_lists(masks):
    return {name: (~masks[name]).reshape(-1).tolist() for name in sorted(masks)}


def n_pruned(mask):
    return int((~mask).sum())


@pytest.fixture
def scores():
    generator = torch.Generator().manual_seed(5)
    return {
        "conv1.weight": torch.randint(0, 6, (4, 3, 3, 3), generator=generator).float(),
        "layer1.conv.weight": torch.randn(8, 4, 3, 3, generator=generator),
        "fc.weight": torch.randint(0, 3, (10, 8), generator=generator).float(),
        "fc.bias": torch.randn(10, generator=generator),
    }


# --- global ----------------------------------------------------------------------------------


def test_global_is_the_default_and_matches_reference(scores):
    total = sum(t.numel() for t in scores.values())
    for sparsity in (0.0, 0.1, 0.29, 0.5, 0.9, 0.99):
        masks = make_mask(scores, sparsity)
        n = exact_count(sparsity, total)
        assert sum(n_pruned(m) for m in masks.values()) == n
        assert pruned_lists(masks) == reference_pruned(scores, n)


def test_rule_registry_and_unknown_rule(scores):
    assert set(RULES) == {"global", "layerwise", "erk", "like", "densities"}
    with pytest.raises(OptionError, match=r"'Global'.*global, layerwise, erk, like, densities"):
        make_mask(scores, 0.5, rule="Global")


def test_bad_sparsity(scores):
    for bad in (1.0, -0.5, math.nan):
        with pytest.raises(OptionError, match="sparsity"):
            make_mask(scores, bad)


# --- layerwise -------------------------------------------------------------------------------


def test_layerwise_prunes_each_layer_by_its_own_count(scores):
    for sparsity in (0.0, 0.3, 0.5, 0.9):
        masks = make_mask(scores, sparsity, rule="layerwise")
        for name, mask in masks.items():
            n = exact_count(sparsity, mask.size)
            assert n_pruned(mask) == n
            assert pruned_lists({name: mask}) == reference_pruned({name: scores[name]}, n)


def test_layerwise_hand_case():
    scores = {"a": torch.tensor([3.0, 1.0, 2.0]), "b": torch.tensor([0.0, 9.0, 9.0, 0.0])}
    masks = make_mask(scores, 0.5, rule="layerwise")  # a: round(1.5) = 2, b: 2
    assert masks["a"].tolist() == [True, False, False]
    assert masks["b"].tolist() == [False, True, True, False]


def test_layerwise_unprune_names_the_layer():
    scores = {"a": torch.tensor([-math.inf, -math.inf, 1.0, 2.0]), "b": torch.zeros(10)}
    # global: 0.25 of 14 is 4 >= the 2 -inf; per layer, a (4 weights) prunes only 1
    masks = make_mask(scores, 0.25)
    assert masks["a"].tolist() == [False, False, True, True]
    assert n_pruned(masks["b"]) == 2
    with pytest.raises(OptionError, match=r"un-prune in 'a'.*2 of 4"):
        make_mask(scores, 0.25, rule="layerwise")


# --- like --------------------------------------------------------------------------------------


def test_like_keeps_the_given_counts_chosen_by_scores(scores):
    like = {"conv1.weight": 100, "layer1.conv.weight": 0, "fc.weight": 37, "fc.bias": 10}
    masks = make_mask(scores, 0.0, rule="like", like=like)
    for name, kept in like.items():
        n = scores[name].numel() - kept
        assert int(masks[name].sum()) == kept
        assert pruned_lists({name: masks[name]}) == reference_pruned({name: scores[name]}, n)


def test_like_accepts_numpy_and_tensor_counts():
    import numpy as np

    scores = {"a": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([2.0, 1.0])}
    masks = make_mask(scores, 0.0, rule="like", like={"a": np.int64(1), "b": torch.tensor(1)})
    assert masks["a"].tolist() == [False, False, True]
    assert masks["b"].tolist() == [True, False]


def test_like_name_mismatch_lists_the_differences(scores):
    like = {"conv1.weight": 1, "fc.weight": 1, "fc.bias": 1, "extra.weight": 3}
    with pytest.raises(
        ModelMismatchError, match=r"missing \['layer1\.conv\.weight'\].*unexpected \['extra"
    ):
        make_mask(scores, 0.0, rule="like", like=like)


def test_like_count_larger_than_layer(scores):
    like = {"conv1.weight": 109, "layer1.conv.weight": 1, "fc.weight": 1, "fc.bias": 1}
    with pytest.raises(ModelMismatchError, match=r"109.*'conv1\.weight'.*only 108"):
        make_mask(scores, 0.0, rule="like", like=like)
    like["conv1.weight"] = -1
    with pytest.raises(OptionError, match="negative"):
        make_mask(scores, 0.0, rule="like", like=like)


def test_like_and_densities_go_with_their_rule(scores):
    with pytest.raises(OptionError, match="like"):
        make_mask(scores, 0.5, like={"fc.weight": 1})
    with pytest.raises(OptionError, match="like"):
        make_mask(scores, 0.5, rule="like")
    with pytest.raises(OptionError, match="densities"):
        make_mask(scores, 0.5, rule="densities")
    with pytest.raises(OptionError, match="densities"):
        make_mask(scores, 0.5, rule="erk", densities={})


# --- densities ---------------------------------------------------------------------------------


def test_densities_rounding_by_hand():
    scores = {
        "a": torch.tensor([5.0, 4.0, 3.0]),  # d = 0.5: prune floor(1.5 + 0.5) = 2, keep 1
        "b": torch.tensor([1.0, 2.0, 3.0, 4.0]),  # d = 0.375: prune floor(2.5 + .5) = 3, keep 1
        "c": torch.tensor([1.0, 2.0]),  # d = 1: keep all
        "d": torch.tensor([1.0, 2.0]),  # d = 0: keep none
        "e": torch.arange(10.0),  # d = 0.1: prune floor(9 - tiny + 0.5) = 9
    }
    densities = {"a": 0.5, "b": 0.375, "c": 1.0, "d": 0.0, "e": 0.1}
    masks = make_mask(scores, 0.0, rule="densities", densities=densities)
    assert masks["a"].tolist() == [True, False, False]
    assert masks["b"].tolist() == [False, False, False, True]
    assert masks["c"].tolist() == [True, True]
    assert masks["d"].tolist() == [False, False]
    assert int(masks["e"].sum()) == 1 and bool(masks["e"][9])


def test_densities_counts_match_exact_formula(scores):
    rng = random.Random(2)
    for _ in range(20):
        densities = {name: rng.random() for name in scores}
        masks = make_mask(scores, 0.0, rule="densities", densities=densities)
        for name, mask in masks.items():
            n = mask.size
            expected_pruned = math.floor((1 - Fraction(densities[name])) * n + Fraction(1, 2))
            assert n_pruned(mask) == expected_pruned


def test_densities_missing_unknown_and_range(scores):
    with pytest.raises(OptionError, match=r"missing \['fc\.bias'\].*unknown tensors \['nope'\]"):
        make_mask(
            scores,
            0.0,
            rule="densities",
            densities={"conv1.weight": 1, "layer1.conv.weight": 1, "fc.weight": 1, "nope": 1},
        )
    bad = dict.fromkeys(scores, 0.5)
    for value in (1.5, -0.1, math.nan, "x"):
        bad["fc.weight"] = value
        with pytest.raises(OptionError, match=r"'fc\.weight'"):
            make_mask(scores, 0.0, rule="densities", densities=bad)


# --- invert ------------------------------------------------------------------------------------


def test_invert_hand_case():
    scores = {"w": torch.tensor([3.0, -math.inf, 1.0, 2.0, 1.0, 0.0])}
    # 3 pruned: the -inf first, then the highest scores: 3.0, then 2.0.
    assert make_mask(scores, 0.5, invert=True)["w"].tolist() == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]
    # 4 pruned (0.6 * 6 = 3.6): the tied 1.0s next, the first in C order goes first.
    assert make_mask(scores, 0.6, invert=True)["w"].tolist() == [
        False,
        False,
        False,
        False,
        True,
        True,
    ]


def test_invert_is_not_reciprocal_and_handles_zero_and_signs():
    scores = {"w": torch.tensor([-2.0, 0.0, 0.5, -0.5])}
    # keep the two lowest: -2.0 and -0.5 (1/score would keep 0.5 and -0.5 and NaN on 0.0)
    assert make_mask(scores, 0.5, invert=True)["w"].tolist() == [True, False, False, True]


def test_invert_plus_inf_is_pruned_first_among_survivors():
    scores = {"a": torch.tensor([math.inf, 5.0, -math.inf]), "b": torch.tensor([math.inf, 1.0])}
    # 5 weights; 0.6 -> 3 pruned: the -inf, then both +inf (a before b).
    assert make_mask(scores, 0.6, invert=True)["a"].tolist() == [False, True, False]
    assert make_mask(scores, 0.6, invert=True)["b"].tolist() == [False, True]
    # 2 pruned: the -inf, then the first +inf in canonical order.
    assert make_mask(scores, 0.4, invert=True)["a"].tolist() == [False, True, False]
    assert make_mask(scores, 0.4, invert=True)["b"].tolist() == [True, True]


def test_invert_matches_reference_on_random_cases():
    rng = random.Random(9)
    generator = torch.Generator().manual_seed(9)
    for _ in range(60):
        scores = {}
        for i in range(rng.randrange(1, 4)):
            shape = (rng.randrange(1, 6), rng.randrange(1, 6))
            values = torch.randint(-2, 3, shape, generator=generator).float()
            special = torch.rand(shape, generator=generator)
            values[special < 0.1] = -math.inf
            values[special > 0.95] = math.inf
            scores[f"t{i}"] = values
        total = sum(t.numel() for t in scores.values())
        n_inf = sum(int(torch.isneginf(t).sum()) for t in scores.values())
        sparsity = rng.uniform(n_inf / total, 0.999)
        n = exact_count(sparsity, total)
        if n < n_inf:
            continue
        masks = make_mask(scores, sparsity, invert=True)
        assert pruned_lists(masks) == reference_pruned(scores, n, invert=True)
        per_layer = make_mask(scores, 0.0, rule="like", like=_kept(masks), invert=True)
        assert pruned_lists(per_layer) == pruned_lists(masks)


def _kept(masks):
    return {name: int(mask.sum()) for name, mask in masks.items()}


# --- exclude -----------------------------------------------------------------------------------


def test_exclude_keeps_dense_and_leaves_out_of_n(scores):
    scores = dict(scores)
    scores["fc.bias"] = scores["fc.bias"].clone()
    scores["fc.bias"][3] = -math.inf
    masks = make_mask(scores, 0.5, exclude=["fc.*"])
    assert masks["fc.weight"].all()
    assert masks["fc.bias"].tolist() == [i != 3 for i in range(10)]  # never un-prune
    rest = {name: scores[name] for name in ("conv1.weight", "layer1.conv.weight")}
    n = exact_count(0.5, 108 + 288)
    assert pruned_lists({k: masks[k] for k in rest}) == reference_pruned(rest, n)
    assert list(masks) == list(scores)


def test_exclude_several_patterns_and_per_layer_rules(scores):
    masks = make_mask(scores, 0.5, rule="layerwise", exclude=("conv1.*", "*.bias"))
    assert masks["conv1.weight"].all() and masks["fc.bias"].all()
    assert n_pruned(masks["fc.weight"]) == 40
    # excluded tensors may be listed (and are ignored) or left out of densities
    densities = {"conv1.weight": 1.0, "layer1.conv.weight": 0.25, "fc.weight": 0.5, "fc.bias": 0}
    masks = make_mask(scores, 0.0, rule="densities", densities=densities, exclude=["*.bias"])
    assert masks["fc.bias"].all()
    assert n_pruned(masks["fc.weight"]) == 40
    assert n_pruned(masks["layer1.conv.weight"]) == 216
    with pytest.raises(OptionError, match="missing"):
        make_mask(scores, 0.0, rule="densities", densities={"fc.weight": 0.5}, exclude=["c*"])


def test_exclude_pattern_matching_nothing_is_an_error(scores):
    with pytest.raises(OptionError, match=r"'classifier\.\*' matches no.*conv1\.weight"):
        make_mask(scores, 0.5, exclude=["classifier.*"])


def test_exclude_everything_prunes_nothing(scores):
    masks = make_mask(scores, 0.9, exclude=["*"])
    assert all(m.all() for m in masks.values())


# --- never un-prune across rules -------------------------------------------------------------


@pytest.mark.parametrize("rule", ["global", "layerwise", "erk", "like", "densities"])
@pytest.mark.parametrize("invert", [False, True])
def test_minus_inf_stays_pruned_under_every_rule(rule, invert):
    generator = torch.Generator().manual_seed(1)
    scores = {
        "a": torch.randn(20, 30, generator=generator),
        "b": torch.randn(9, 40, generator=generator),
    }
    for tensor in scores.values():
        tensor[torch.rand(tensor.shape, generator=generator) < 0.2] = -math.inf
    options = {
        "like": {"like": {"a": 100, "b": 200}},
        "densities": {"densities": {"a": 0.3, "b": 0.5}},
    }.get(rule, {})
    masks = make_mask(scores, 0.6, rule=rule, invert=invert, **options)
    for name, tensor in scores.items():
        assert not masks[name][torch.isneginf(tensor)].any()
        assert masks[name].sum() > 0


def test_erk_layer_that_goes_dense_cannot_un_prune():
    scores = {"big": torch.randn(50, 60), "small": torch.randn(2, 2)}
    scores["small"][0, 0] = -math.inf
    with pytest.raises(OptionError, match=r"un-prune in 'small'.*1 of 4"):
        make_mask(scores, 0.5, rule="erk")


def test_nan_names_the_tensor_even_if_excluded(scores):
    scores = dict(scores)
    scores["fc.bias"] = scores["fc.bias"].clone()
    scores["fc.bias"][0] = math.nan
    with pytest.raises(OptionError, match=r"'fc\.bias'.*NaN"):
        make_mask(scores, 0.5, exclude=["fc.bias"])
