"""A JSON parser for untrusted headers: bounded depth, one meaning per document, printable text.

``json.loads`` alone accepts documents that parse differently elsewhere (duplicate keys: first or
last wins), values that cannot be written back (``NaN``, ``1e999``, lone surrogates) and nesting
that exhausts the recursion limit later, in whatever code walks the result. Every limit here is
stated in ``spec/format-v1.md`` (reader obligations). Standard library only.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate, repeat
from operator import sub
from typing import Any

from maskkit.errors import FormatError

#: Deepest nesting of arrays and objects accepted (the metadata document needs about 6).
MAX_DEPTH = 64
#: Integers must fit a signed or unsigned 64-bit integer.
MIN_INT, MAX_INT = -(2**63), 2**64 - 1

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# '[' and '{' -> 2, ']' and '}' -> 0: minus one gives the change of depth at each bracket.
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A lone surrogate can only come from a \uD800-\uDFFF escape or a surrogate in the text itself;
# a text with neither (almost every header) needs no walk over its strings.
_MAYBE_SURROGATE = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")


class _Refused(ValueError):
    """A valid JSON text that a maskkit reader still refuses (raised from a parse hook)."""


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside strings, computed without recursion at C speed."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    steps = brackets.encode("ascii").translate(_DEPTH_STEP)
    return max(accumulate(map(sub, steps, repeat(1))))


def loads(text: str, *, name: str, what: str) -> Any:
    """Parse ``text`` strictly; FormatError names ``name`` and ``what`` (e.g. "header").

    Refused: nesting deeper than :data:`MAX_DEPTH`, duplicate keys in any object, ``NaN`` and
    infinities (also by overflow, as in ``1e999``), integers outside 64 bits, and lone UTF-16
    surrogates in any key or string.
    """
    if nesting_depth(text) > MAX_DEPTH:
        raise FormatError(f"{name}: {what} nests arrays and objects more than {MAX_DEPTH} deep")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except _Refused as exc:
        raise FormatError(f"{name}: {what} {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{name}: {what} is not valid JSON ({_first_line(exc)})") from None
    bad = _find_surrogate(value) if _MAYBE_SURROGATE.search(text) else None
    if bad is not None:
        raise FormatError(f"{name}: {what} holds a lone UTF-16 surrogate in {bad}")
    return value


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a UTF-16 surrogate (Python strings keep only unpaired ones)."""
    return _SURROGATE.search(text) is not None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        # Parsers disagree on duplicates (first or last wins): such a file means different
        # things to different readers, so it is refused outright.
        raise _Refused(f"holds the key {_show(key)} twice in one object")
    return doc


def _no_constant(name: str) -> Any:
    raise _Refused(f"holds the non-finite number {name} (JSON has no NaN or infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is nan; any finite value gives 0
        raise _Refused(f"holds the number {_show(text[:40])}, which overflows a double")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 21:
        raise _Refused(f"holds an integer of {len(text)} digits (at most 64 bits)")
    value = int(text)
    if not MIN_INT <= value <= MAX_INT:
        raise _Refused(f"holds the integer {text}, outside 64 bits")
    return value


def _find_surrogate(value: Any) -> str | None:
    """Where a lone surrogate occurs (a key or a string value), walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return f"the string {_show(item)}"
        elif isinstance(item, dict):
            for key in item:
                if _SURROGATE.search(key):
                    return f"the key {_show(key)}"
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _show(text: str) -> str:
    shown = ascii(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
