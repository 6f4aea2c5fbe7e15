"""The per-input statistics of a 2-D mask, against counts worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maskkit.masking.inputs import (
    kept_fraction_on,
    kept_per_input,
    shuffle_each_column,
    shuffle_each_row,
    shuffle_within_columns,
)

# 3 outputs x 4 inputs; kept per column: 3, 0, 1, 2 (6 kept in all).
MASK = np.array(
    [
        [True, False, False, True],
        [True, False, True, False],
        [True, False, False, True],
    ]
)


def test_kept_per_input_counts_each_column() -> None:
    assert kept_per_input(MASK).tolist() == [3, 0, 1, 2]


def test_fraction_on_indices_and_on_a_bool_selection_agree() -> None:
    # columns 1 and 3 hold 0 + 2 of the 6 kept weights
    assert kept_fraction_on(MASK, [1, 3]) == pytest.approx(2 / 6)
    assert kept_fraction_on(MASK, np.array([False, True, False, True])) == pytest.approx(2 / 6)
    assert kept_fraction_on(MASK, []) == 0.0
    assert kept_fraction_on(MASK, range(4)) == 1.0


def test_fraction_of_an_empty_mask_is_nan() -> None:
    assert math.isnan(kept_fraction_on(np.zeros((2, 3), dtype=bool), [0]))


@pytest.mark.parametrize(
    "bad",
    [np.ones(4, dtype=bool), np.ones((2, 2, 2), dtype=bool), np.ones((2, 2), dtype=np.int8)],
)
def test_refuses_anything_but_a_2d_bool_mask(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        kept_per_input(bad)


def test_refuses_columns_out_of_range_or_of_the_wrong_length() -> None:
    with pytest.raises(ValueError):
        kept_fraction_on(MASK, [4])
    with pytest.raises(ValueError):
        kept_fraction_on(MASK, np.array([True, False]))


def test_shuffle_within_columns_moves_only_the_selected_columns() -> None:
    rng = np.random.default_rng(0)
    big = rng.random((50, 20)) < 0.3
    chosen = np.zeros(20, dtype=bool)
    chosen[5:15] = True
    out = shuffle_within_columns(big, chosen, np.random.default_rng(1))
    assert out.dtype == np.bool_ and out.shape == big.shape
    # the other columns are untouched; the selection keeps its count but not its positions
    assert np.array_equal(out[:, ~chosen], big[:, ~chosen])
    assert int(out[:, chosen].sum()) == int(big[:, chosen].sum())
    assert not np.array_equal(out[:, chosen], big[:, chosen])
    # seeded: the same generator seed gives the same mask
    again = shuffle_within_columns(big, chosen, np.random.default_rng(1))
    assert np.array_equal(out, again)


def test_shuffle_each_column_keeps_every_columns_count_and_moves_rows() -> None:
    rng = np.random.default_rng(2)
    big = rng.random((40, 30)) < 0.2
    out = shuffle_each_column(big, np.random.default_rng(3))
    assert kept_per_input(out).tolist() == kept_per_input(big).tolist()
    assert not np.array_equal(out, big)
    # the per-unit (row) counts are what it redraws
    assert out.sum(axis=1).tolist() != big.sum(axis=1).tolist()


def test_shuffle_each_row_keeps_every_units_count_and_moves_columns() -> None:
    rng = np.random.default_rng(4)
    big = rng.random((30, 40)) < 0.2
    out = shuffle_each_row(big, np.random.default_rng(5))
    assert out.sum(axis=1).tolist() == big.sum(axis=1).tolist()
    assert kept_per_input(out).tolist() != kept_per_input(big).tolist()
