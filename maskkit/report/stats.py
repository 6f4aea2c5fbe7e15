"""Summary statistics over seeds and Welch's t-test, in plain Python (no scipy, no numpy).

The report compares a handful of seeds per cell, so exactness matters more than speed: the
p-value comes from the regularised incomplete beta function, evaluated by its continued
fraction (modified Lentz), which is accurate to about 1e-12 for the degrees of freedom a grid
has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 500


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean of a non-empty sequence.

    >>> mean([1.0, 2.0, 6.0])
    3.0
    """
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


def std(values: Sequence[float]) -> float | None:
    """The sample standard deviation (ddof=1), or None for fewer than two values.

    None rather than 0 or NaN: one seed says nothing about the spread, and JSON has no NaN.

    >>> std([1.0, 2.0, 6.0])  # variance ((-2)^2 + (-1)^2 + 3^2) / 2 = 7
    2.6457513110645907
    >>> std([5.0]) is None
    True
    """
    if len(values) < 2:
        return None
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of mean(b) - mean(a)."""

    difference: float  # mean(b) - mean(a)
    t: float  # +-inf when both samples have no spread and the means differ
    df: float  # Welch-Satterthwaite degrees of freedom (nan-free: 0 spread gives n_a+n_b-2)
    p: float  # two-sided p-value


def welch(a: Sequence[float], b: Sequence[float]) -> Welch | None:
    """Welch's t-test between two samples; None when either has fewer than two values.

    t = (mean_b - mean_a) / sqrt(s_a^2/n_a + s_b^2/n_b), and the Welch-Satterthwaite
    df = (s_a^2/n_a + s_b^2/n_b)^2 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)).
    """
    if len(a) < 2 or len(b) < 2:
        return None
    va = std(a) ** 2 / len(a)  # type: ignore[operator]
    vb = std(b) ** 2 / len(b)  # type: ignore[operator]
    difference = mean(b) - mean(a)
    se2 = va + vb
    if se2 == 0.0:
        # Every seed gave the same accuracy on both sides: any difference is certain.
        df = float(len(a) + len(b) - 2)
        if difference == 0.0:
            return Welch(0.0, 0.0, df, 1.0)
        return Welch(difference, math.copysign(math.inf, difference), df, 0.0)
    t = difference / math.sqrt(se2)
    df = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return Welch(difference, t, df, t_two_sided_p(t, df))


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2).

    >>> round(t_two_sided_p(12.706, 1), 4)   # the table's 5% point at 1 df
    0.05
    >>> round(t_two_sided_p(2.228, 10), 4)
    0.05
    """
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1.

    >>> betainc(1.0, 1.0, 0.3)   # I_x(1, 1) = x
    0.3
    >>> round(betainc(2.0, 3.0, 0.4), 10)   # 6x^2 - 8x^3 + 3x^4 at 0.4
    0.5248
    """
    if a <= 0 or b <= 0:
        raise ValueError("betainc needs a > 0 and b > 0")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs 0 <= x <= 1, not {x}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry
    # I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITERATIONS + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            delta = c * d
            h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    return h  # not reached for the arguments a t-test gives; the value is still close
