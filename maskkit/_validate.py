"""Argument checks shared by the library's public functions."""

from __future__ import annotations

import operator
from typing import Any

from maskkit.errors import OptionError


def check_seed(seed: Any) -> int:
    """``seed`` as an int; OptionError unless it is a non-negative integer (bool refused)."""
    if isinstance(seed, bool):
        raise OptionError(f"seed must be a non-negative integer, not {seed!r}")
    try:
        value = operator.index(seed)
    except TypeError:
        raise OptionError(f"seed must be a non-negative integer, not {seed!r}") from None
    if value < 0:
        raise OptionError(f"seed must be a non-negative integer, not {seed!r}")
    return value
