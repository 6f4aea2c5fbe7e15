"""maskkit.report.stats: mean, std and Welch's t-test against hand values and t tables."""

from __future__ import annotations

import math

import pytest

from maskkit.report import stats


def test_mean_and_sample_std_by_hand():
    # deviations from 3: -2, -1, 3; squares 4 + 1 + 9 = 14; ddof=1: 14 / 2 = 7
    assert stats.mean([1.0, 2.0, 6.0]) == 3.0
    assert stats.std([1.0, 2.0, 6.0]) == pytest.approx(math.sqrt(7.0), rel=1e-15)
    assert stats.std([0.98, 0.97, 0.99]) == pytest.approx(0.01, rel=1e-9)
    assert stats.std([0.5]) is None  # one seed: no spread, not 0
    with pytest.raises(ValueError):
        stats.mean([])


@pytest.mark.parametrize(
    ("t", "df", "p"),
    [
        # two-sided 5% and 1% points of Student's t, from any printed table
        (12.706, 1, 0.05),
        (4.303, 2, 0.05),
        (2.776, 4, 0.05),
        (2.228, 10, 0.05),
        (2.042, 30, 0.05),
        (3.169, 10, 0.01),
        (9.925, 2, 0.01),
    ],
)
def test_p_values_match_the_t_table(t, df, p):
    assert stats.t_two_sided_p(t, df) == pytest.approx(p, abs=5e-5)


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 2.5, 40.0])
def test_p_values_match_the_closed_forms_for_one_and_two_df(t):
    # df=1 is the Cauchy distribution; df=2 has P(|T| > t) = 1 - t / sqrt(2 + t^2).
    assert stats.t_two_sided_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), abs=1e-12)
    assert stats.t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)


def test_betainc_known_values_and_symmetry():
    assert stats.betainc(2.0, 3.0, 0.4) == pytest.approx(
        6 * 0.4**2 - 8 * 0.4**3 + 3 * 0.4**4, abs=1e-13
    )
    assert stats.betainc(3.5, 1.0, 0.7) == pytest.approx(0.7**3.5, abs=1e-13)  # I_x(a, 1) = x^a
    for x in (0.1, 0.5, 0.93):
        assert stats.betainc(2.5, 7.0, x) == pytest.approx(
            1 - stats.betainc(7.0, 2.5, 1 - x), abs=1e-13
        )
    assert stats.betainc(2.0, 2.0, 0.0) == 0.0 and stats.betainc(2.0, 2.0, 1.0) == 1.0


def test_welch_statistic_and_degrees_of_freedom_by_hand():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0]
    # s_a^2 = 5/3 over n=4, s_b^2 = 4 over n=3
    va, vb = (5 / 3) / 4, 4 / 3
    t = (4.0 - 2.5) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    result = stats.welch(a, b)
    assert result is not None
    assert result.difference == pytest.approx(1.5)
    assert result.t == pytest.approx(t, rel=1e-12) and result.t == pytest.approx(1.1339, abs=1e-4)
    assert result.df == pytest.approx(df, rel=1e-12) and result.df == pytest.approx(
        3.2347, abs=1e-4
    )
    # between the table's 50% (0.765) and 20% (1.638) points at 3 df: p well above 0.05
    assert 0.2 < result.p < 0.5


def test_welch_edge_cases():
    assert stats.welch([0.9], [0.8, 0.7]) is None  # one seed: noise unknown
    same = stats.welch([0.9, 0.9], [0.9, 0.9])
    assert same is not None and same.p == 1.0
    certain = stats.welch([0.9, 0.9], [0.5, 0.5])
    assert certain is not None and certain.p == 0.0 and certain.t == -math.inf
