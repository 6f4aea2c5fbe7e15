"""Frozen option records built from plain mappings: Python values, or ``KEY=VALUE`` strings.

One helper for every options dataclass (methods, datasets, training): unknown keys are listed
with the known ones, required fields are checked, strings are coerced by the field's type, and
each field's help lives once, in ``field(metadata={"help": ...})`` (``"choices"`` too, where
the field takes one of a few words), where the CLI reads it.

>>> import dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class Opts:
...     size: int = dataclasses.field(default=4, metadata={"help": "how many"})
...     shape: tuple[int, ...] = (1,)
>>> from_mapping(Opts, {"size": "8", "shape": "3,32,32"}, what="demo")
Opts(size=8, shape=(3, 32, 32))
>>> to_dict(Opts())
{'size': 4, 'shape': [1]}
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from maskkit.errors import OptionError

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NONE = frozenset({"none", "null"})
# Plain ASCII digits: int() would also take "1_000" and other scripts' digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")


def from_mapping(
    cls: type[T],
    values: Mapping[str, Any] | None,
    *,
    what: str = "",
    noun: str = "option",
) -> T:
    """``cls(**values)`` after checking the keys and coercing string values by field type.

    ``what`` names the owner in messages (``"snip: unknown option 'bs'; known: ..."``);
    ``noun`` says what a key is (``"training option"``). Keys may use ``-`` for ``_``.
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise OptionError(
            f"{_prefix(what)}options must be a {cls.__name__} or a mapping, "
            f"not {type(values).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    given = {str(key).replace("-", "_"): value for key, value in values.items()}
    unknown = [str(key) for key in values if str(key).replace("-", "_") not in fields]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise OptionError(
            f"{_prefix(what)}unknown {noun}{plural} {', '.join(map(repr, sorted(unknown)))}; "
            f"known: {', '.join(fields) or '(none)'}"
        )
    missing = [name for name, f in fields.items() if name not in given and is_required(f)]
    if missing:
        raise OptionError(f"{_prefix(what)}missing required {noun}(s) {', '.join(missing)}")
    hints = field_types(cls)
    coerced = {
        name: coerce(value, hints.get(name, Any), what=what, key=name)
        for name, value in given.items()
    }
    return cls(**coerced)


def to_dict(record: Any) -> dict[str, Any]:
    """The record's fields as a JSON-ready dict (tuples become lists), in field order."""
    return {
        f.name: _plain(getattr(record, f.name))
        for f in dataclasses.fields(record)  # type: ignore[arg-type]
    }


def field_names(cls: type) -> list[str]:
    """The option names of ``cls``, in field order."""
    return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]


def is_required(f: dataclasses.Field) -> bool:
    """Whether the field has no default."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def default_of(f: dataclasses.Field) -> Any:
    """The field's default value (``dataclasses.MISSING`` when it is required)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def field_types(cls: type) -> dict[str, Any]:
    """Each field's resolved type (annotations are strings under ``from __future__``)."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # a name only imported under TYPE_CHECKING: no coercion
        return {}


def coerce(value: Any, annotation: Any, *, what: str = "", key: str = "") -> Any:
    """``value`` as the type ``annotation`` names when it is a string (from the command line).

    ints and bools are checked when given as Python values too: ``True`` is no count and ``1``
    no flag. Other values are left for the record's own checks.
    """
    annotation, optional = optional_inner(annotation)
    if optional and value is None:
        return None
    if optional and isinstance(value, str) and value.strip().lower() in _NONE:
        return None
    if annotation is bool:
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise OptionError(f"{_prefix(what)}option {key} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value.strip())
        raise OptionError(f"{_prefix(what)}option {key} must be an integer, got {value!r}")
    if not isinstance(value, str):
        return value
    if annotation is float:
        try:
            return float(value.strip())
        except ValueError:
            raise OptionError(
                f"{_prefix(what)}option {key} must be a number, got {value!r}"
            ) from None
    origin = typing.get_origin(annotation)
    if origin is tuple:
        args = typing.get_args(annotation)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        # Sizes may be written 3,32,32 or 3x32x32 (or with spaces); other items by commas.
        text = value.strip().strip("()[]")
        parts = re.split(r"[,x\s]+" if item is int else r",", text)
        return tuple(coerce(p.strip(), item, what=what, key=key) for p in parts if p.strip())
    return value


def optional_inner(annotation: Any) -> tuple[Any, bool]:
    """(X, True) for ``X | None``; the annotation and False otherwise."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else annotation), optional
    return annotation, False


def _prefix(what: str) -> str:
    return f"{what}: " if what else ""


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value
