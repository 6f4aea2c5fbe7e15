"""The scalar checks of the library's public arguments: integers in a range, fractions.

One place, so that a seed or a count is refused with the same words wherever it is given. Each
check returns the value in its canonical type (``int``, ``float``) for the caller to keep.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

from maskkit.errors import OptionError


def check_int(value: Any, what: str, *, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int; OptionError unless it is an integer (a bool is not) in [low, high).

    >>> check_int(3, "count")
    3
    >>> check_int(True, "seed")
    Traceback (most recent call last):
    maskkit.errors.OptionError: seed must be a non-negative integer, not True
    """
    if high is not None:
        shown = "2**64" if high == 2**64 else str(high)
        wanted = f"an integer in [{low}, {shown})"
    else:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(
            low, f"an integer >= {low}"
        )
    if isinstance(value, bool):
        raise OptionError(f"{what} must be {wanted}, not {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise OptionError(f"{what} must be {wanted}, not {value!r}") from None
    if number < low or (high is not None and number >= high):
        raise OptionError(f"{what} must be {wanted}, not {value!r}")
    return number


def check_seed(seed: Any, what: str = "seed") -> int:
    """A seed: any non-negative integer (the derivations hash its decimal text, so no bound)."""
    return check_int(seed, what)


def check_fraction(value: Any, what: str, *, meaning: str = "") -> float:
    """``value`` as a float; OptionError unless it is a finite real number in [0, 1).
    ``meaning`` ("0 keeps every weight") follows the range in the message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OptionError(f"{what} must be a number in [0, 1); got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number < 1.0):
        detail = f" ({meaning})" if meaning else ""
        raise OptionError(f"{what} must be in [0, 1){detail}; got {value!r}")
    return number
