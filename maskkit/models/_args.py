"""Checking and normalising model construction arguments into JSON-friendly values."""

from __future__ import annotations

from typing import Any

from maskkit import _options
from maskkit.errors import OptionError


def positive_int(key: str, value: Any) -> int:
    """``value`` as an int >= 1 (bools and floats are refused), else OptionError."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise OptionError(f"model argument {key}={value!r}: expected a positive integer")


def int_list(key: str, value: Any, length: int | None = None) -> list[int]:
    """A list of positive ints from a sequence or a string such as ``"3,32,32"`` or ``"3x32x32"``.

    >>> int_list("input_shape", "3x32x32", 3)
    [3, 32, 32]
    """
    items: Any = value
    if isinstance(value, str):
        try:
            items = list(_options.coerce(value, tuple[int, ...], key=key))
        except OptionError:
            items = None  # refused below, in the words of a model argument
    ok = isinstance(items, (list, tuple)) and len(items) > 0
    ok = ok and all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in items)
    ok = ok and (length is None or len(items) == length)
    if not ok:
        size = f"{length} " if length else ""
        raise OptionError(f"model argument {key}={value!r}: expected {size}positive integers")
    return [int(i) for i in items]


def coerce(key: str, value: Any, default: Any) -> Any:
    """Check an override against the type of the built-in default it replaces."""
    if isinstance(default, (tuple, list)):
        return int_list(key, value)
    if isinstance(default, int):
        return positive_int(key, value)
    raise TypeError(f"no checker for default {default!r}")  # a registry entry needs one
