"""ERK densities and kept counts against hand computations and a float64 RigL-style loop."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from maskkit.masking import erk_densities, erk_kept_counts, make_mask
from maskkit.masking.erk import largest_remainder


def rigl_style_densities(shapes, kept_total):
    """RigL's loop in float64: make the largest-raw layer(s) dense one step at a time."""
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    raw = {name: sum(shape) / sizes[name] for name, shape in shapes.items()}
    dense = set()
    while True:
        rhs = kept_total - sum(sizes[name] for name in dense)
        divisor = sum(raw[name] * sizes[name] for name in raw if name not in dense)
        eps = rhs / divisor
        largest = max(raw[name] for name in raw if name not in dense)
        if eps * largest > 1:
            dense |= {name for name in raw if name not in dense and raw[name] == largest}
        else:
            return {name: 1.0 if name in dense else eps * raw[name] for name in raw}


def test_two_layer_hand_case():
    # a: raw 20/100, b: raw 4/4; N = 104, prune 52, keep 52. eps = 52/24 makes b exceed 1;
    # b dense (4), then eps = 48/20 and a's density 12/25 (48 of 100).
    shapes = {"a": (10, 10), "b": (2, 2)}
    assert erk_densities(shapes, 0.5) == {"a": Fraction(12, 25), "b": Fraction(1)}
    assert erk_kept_counts(shapes, 0.5) == {"a": 48, "b": 4}


def test_iterative_capping_hand_case():
    # raw: big 50/600 = 1/12, mid 8/16 = 1/2, small 4/4 = 1. N = 620, 0.8 prunes 496, keeps 124.
    # Step 1: eps = 124 / (50 + 8 + 4) = 2: small 2 > 1 goes dense; mid 2 * 1/2 = 1, not above.
    # Step 2: eps = 120 / 58 = 60/29: mid 30/29 > 1 goes dense.
    # Step 3: eps = 104 / 50 = 52/25: big 52/25 / 12 = 13/75, i.e. 104 of 600.
    shapes = {"big": (20, 30), "mid": (4, 4), "small": (2, 2)}
    densities = erk_densities(shapes, 0.8)
    assert densities == {"big": Fraction(13, 75), "mid": Fraction(1), "small": Fraction(1)}
    assert erk_kept_counts(shapes, 0.8) == {"big": 104, "mid": 16, "small": 4}


def test_largest_remainder_ties_go_in_name_order():
    # Sizes 15, 15, 16 with raw 8/15, 8/15, 8/16: every quota is 8 * 23/24 = 23/3.
    # Floors 7, 7, 7 leave 2 weights: to a and b (equal remainders, name order).
    shapes = {"c": (4, 4), "b": (5, 3), "a": (3, 5)}
    assert erk_densities(shapes, 0.5) == {
        "c": Fraction(23, 48),
        "b": Fraction(23, 45),
        "a": Fraction(23, 45),
    }
    assert erk_kept_counts(shapes, 0.5) == {"c": 7, "b": 8, "a": 8}


def test_largest_remainder_by_hand():
    quotas = {"x": Fraction(10, 3), "y": Fraction(17, 6), "z": Fraction(23, 6)}  # sum 10
    # floors 3, 2, 3 = 8; remainders 1/3, 5/6, 5/6: y and z get one each
    assert largest_remainder(quotas, 10) == {"x": 3, "y": 3, "z": 4}


CONV_SHAPES = {
    "conv1.weight": (16, 3, 3, 3),
    "layer1.0.conv1.weight": (16, 16, 3, 3),
    "layer2.0.conv1.weight": (32, 16, 3, 3),
    "layer2.0.shortcut.weight": (32, 16, 1, 1),
    "layer3.0.conv2.weight": (64, 64, 3, 3),
    "fc.weight": (10, 64),
}


@pytest.mark.parametrize("sparsity", [0.0, 0.2, 0.5, 0.8, 0.9, 0.95, 0.99])
def test_densities_match_float64_rigl_loop_and_totals_are_exact(sparsity):
    sizes = {name: math.prod(shape) for name, shape in CONV_SHAPES.items()}
    total = sum(sizes.values())
    kept_total = total - math.floor(Fraction(sparsity) * total + Fraction(1, 2))
    expected = rigl_style_densities(CONV_SHAPES, kept_total)
    densities = erk_densities(CONV_SHAPES, sparsity)
    for name in CONV_SHAPES:
        assert float(densities[name]) == pytest.approx(expected[name], rel=1e-12)
    kept = erk_kept_counts(CONV_SHAPES, sparsity)
    assert sum(kept.values()) == kept_total
    for name, count in kept.items():
        quota = densities[name] * sizes[name]
        assert math.floor(quota) <= count <= math.ceil(quota) <= sizes[name]


def test_conv_raw_density_is_sum_over_product():
    # No layer dense: densities proportional to (n_out + n_in + kh + kw) / (n_out n_in kh kw).
    shapes = {"a": (64, 64, 3, 3), "b": (128, 64, 3, 3)}
    densities = erk_densities(shapes, 0.9)
    assert densities["a"] / densities["b"] == Fraction(134, 64 * 64 * 9) / Fraction(
        198, 128 * 64 * 9
    )


def test_make_mask_erk_uses_the_counts_and_scores():
    generator = torch.Generator().manual_seed(4)
    scores = {name: torch.randn(shape, generator=generator) for name, shape in CONV_SHAPES.items()}
    kept = erk_kept_counts(CONV_SHAPES, 0.9)
    masks = make_mask(scores, 0.9, rule="erk")
    for name, mask in masks.items():
        assert int(mask.sum()) == kept[name]
        if 0 < kept[name] < mask.size:
            # the kept weights are exactly the top scores of the layer
            score = scores[name].numpy()
            lowest_kept = score[mask].min()
            assert (score[~mask] < lowest_kept).all()


def test_sparsity_zero_keeps_everything():
    assert erk_kept_counts(CONV_SHAPES, 0.0) == {
        name: math.prod(shape) for name, shape in CONV_SHAPES.items()
    }


def test_empty_and_scalar_tensors():
    shapes = {"empty": (0, 5), "scalar": (), "w": (10, 10)}
    kept = erk_kept_counts(shapes, 0.5)
    assert kept["empty"] == 0
    assert sum(kept.values()) == 101 - 51
