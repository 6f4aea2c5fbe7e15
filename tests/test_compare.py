"""Mask overlap against chance: exact hypergeometric moments, Monte Carlo, and real pruners."""

from __future__ import annotations

import math

import numpy as np
import pytest

import maskkit
from maskkit.format import InitRef, Mask
from maskkit.masking.overlap import CHANCE_Z, LayerOverlap, compare_masks, hypergeometric_moments


def exact_moments(n: int, a: int, b: int) -> tuple[float, float]:
    """Mean and variance summed over the hypergeometric pmf C(a,k) C(n-a,b-k) / C(n,b)."""
    total = math.comb(n, b)
    pmf = {k: math.comb(a, k) * math.comb(n - a, b - k) / total for k in range(min(a, b) + 1)}
    mean = sum(k * p for k, p in pmf.items())
    return mean, sum((k - mean) ** 2 * p for k, p in pmf.items())


@pytest.mark.parametrize(
    "n,a,b", [(8, 4, 3), (10, 1, 1), (37, 20, 11), (50, 50, 7), (5, 0, 3), (1, 1, 1)]
)
def test_moments_match_the_pmf(n, a, b):
    mean, variance = hypergeometric_moments(n, a, b)
    want_mean, want_variance = exact_moments(n, a, b)
    assert mean == pytest.approx(want_mean, abs=1e-12)
    assert variance == pytest.approx(want_variance, abs=1e-12)


def test_large_layers_and_numpy_counts_do_not_overflow():
    # A ResNet-50 conv layer: 2,359,296 weights; counts as numpy int64, as np.count_nonzero gives.
    n, a, b = np.int64(2_359_296), np.int64(471_859), np.int64(235_930)
    mean, variance = hypergeometric_moments(n, a, b)
    fn, fa, fb = float(n), float(a), float(b)
    assert mean == pytest.approx(fa * fb / fn, rel=1e-12)
    assert variance == pytest.approx(
        (fa / fn) * (fb / fn) * (fn - fa) * (fn - fb) / (fn - 1), rel=1e-12
    )


def test_hand_computed_layer():
    # 8 weights, A keeps 4, B keeps 3, both 2: mean 4*3/8 = 1.5, variance 4*3*4*5/(64*7) = 15/28.
    x = LayerOverlap("w", 8, 4, 3, 2)
    assert x.expected_both == 1.5 and x.variance_both == pytest.approx(15 / 28)
    assert x.overlap_ratio == pytest.approx(2 / 1.5)
    assert x.z == pytest.approx(0.5 / math.sqrt(15 / 28))
    assert x.chance == "at"


def test_counts_that_fix_the_overlap_have_no_z():
    full = LayerOverlap("w", 10, 10, 4, 4)  # A keeps everything: B is inside A, whatever B is
    assert full.variance_both == 0 and full.z is None and full.chance == "at"
    assert full.overlap_ratio == 1.0
    empty = LayerOverlap("w", 10, 0, 4, 0)
    assert empty.expected_both == 0 and empty.overlap_ratio is None and empty.chance == "at"


def test_pooled_statistics_add_means_and_variances():
    a = {"w": np.array([1, 1, 1, 1, 0, 0, 0, 0], bool), "v": np.array([1, 1, 0, 0, 0, 0], bool)}
    b = {"w": np.array([1, 1, 1, 0, 0, 0, 0, 0], bool), "v": np.array([0, 0, 1, 1, 0, 0], bool)}
    total = compare_masks(Mask(a), Mask(b)).total
    # w: k=3, mean 1.5, var 15/28; v: k=0, mean 2*2/6, var 2*2*4*4/(36*5).
    mean, variance = 1.5 + 4 / 6, 15 / 28 + 64 / 180
    assert total.both == 3
    assert total.expected_both == pytest.approx(mean)
    assert total.variance_both == pytest.approx(variance)
    assert total.z == pytest.approx((3 - mean) / math.sqrt(variance))
    assert total.overlap_ratio == pytest.approx(3 / mean)


def random_subsets(rng: np.random.Generator, draws: int, n: int, kept: int) -> np.ndarray:
    """``draws`` boolean rows, each with exactly ``kept`` Trues at uniformly random places."""
    order = np.argsort(rng.random((draws, n)), axis=1)
    return order < kept


def test_mean_and_sd_agree_with_monte_carlo():
    rng = np.random.default_rng(0)
    n, a, b, draws = 300, 90, 40, 20_000
    overlaps = np.count_nonzero(
        random_subsets(rng, draws, n, a) & random_subsets(rng, draws, n, b), axis=1
    )
    x = LayerOverlap("w", n, a, b, 0)
    # Standard error of the sample mean is sd/sqrt(draws); of the sample sd about sd/sqrt(2 draws).
    assert abs(overlaps.mean() - x.expected_both) < 4 * x.sd_both / math.sqrt(draws)
    assert abs(overlaps.std(ddof=1) - x.sd_both) < 4 * x.sd_both / math.sqrt(2 * draws)
    zs = np.array([LayerOverlap("w", n, a, b, int(k)).z for k in overlaps])
    assert abs(zs.mean()) < 0.05 and abs(zs.std() - 1) < 0.05
    assert np.mean(np.abs(zs) >= CHANCE_Z) < 0.01  # the verdict threshold rarely fires by chance


def test_a_reinit_is_the_same_mask_with_other_initial_weights():
    arrays = {"w": np.array([1, 0, 1, 0], bool)}
    same = compare_masks(Mask(arrays, init=InitRef(seed=1)), Mask(arrays, init=InitRef(seed=1)))
    assert same.difference == "none" and same.identical and same.same_init
    other = compare_masks(Mask(arrays, init=InitRef(seed=1)), Mask(arrays, init=InitRef(seed=2)))
    assert other.difference == "init" and other.identical and not other.same_init
    # A weights file is named by its SHA-256: where it was found does not make it other weights.
    digest = "0" * 64
    moved = compare_masks(
        Mask(arrays, init=InitRef(sha256=digest, path="a/w.safetensors")),
        Mask(arrays, init=InitRef(sha256=digest, path="b/w.safetensors")),
    )
    assert moved.difference == "none"


@pytest.fixture(scope="module")
def lenet():

    shape = (1, 28, 28)
    data = maskkit.load_dataset(
        "synthetic", input_shape=shape, num_classes=10, options={"train_size": 200, "test_size": 20}
    )
    weights = maskkit.init_weights("lenet300", seed=0, num_classes=10, input_shape=shape)
    return maskkit, weights, data


def test_snip_against_its_shuffle_is_at_chance(lenet):
    maskkit, weights, data = lenet
    snip = maskkit.make_mask(maskkit.score(weights, "snip", dataset=data), 0.9)
    result = compare_masks(snip, maskkit.shuffle(snip, seed=1))
    assert result.difference == "weights"
    assert result.total.chance == "at" and abs(result.total.z) < CHANCE_Z
    assert all(x.chance == "at" for x in result.layers)


def test_correlated_and_anticorrelated_masks_are_beyond_chance(lenet):
    maskkit, weights, data = lenet
    snip_scores = maskkit.score(weights, "snip", dataset=data)
    snip = maskkit.make_mask(snip_scores, 0.9)
    grasp = maskkit.make_mask(maskkit.score(weights, "grasp", dataset=data), like=snip)
    result = compare_masks(snip, grasp)
    assert result.difference == "weights"
    assert result.total.chance == "above" and result.total.overlap_ratio > 1.5
    # Keeping the lowest SNIP scores at density 1/2 shares no weight with keeping the highest.
    top, bottom = (maskkit.make_mask(snip_scores, 0.5, invert=flag) for flag in (False, True))
    opposite = compare_masks(top, bottom)
    assert opposite.total.both == 0 and opposite.total.chance == "below"
