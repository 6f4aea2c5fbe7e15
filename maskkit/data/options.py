"""Dataset options: frozen dataclasses built from a plain mapping (CLI strings or Python values)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from maskkit.errors import OptionError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(dataset: str, key: str, value: Any, kind: str) -> Any:
    """Turn ``value`` into an int or bool; strings are accepted so CLI options work unchanged."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise OptionError(f"{dataset}: option {key} must be true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise OptionError(f"{dataset}: option {key} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise OptionError(f"{dataset}: option {key} must be an integer, got {value!r}")
    return value


def parse_options(cls: type[T], dataset: str, options: Mapping[str, Any] | None) -> T:
    """Build the options dataclass ``cls`` from ``options``; unknown keys raise OptionError.

    Example:
        >>> parse_options(NoOptions, "mnist", {})
        NoOptions()
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in (options or {}).items():
        name = str(key).replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise OptionError(f"{dataset}: unknown option {key!r} (known options: {known})")
        kind = fields[name].metadata.get("kind", "")
        values[name] = _coerce(dataset, name, value, kind)
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Datasets that take no options (MNIST, Fashion-MNIST)."""

    def to_dict(self) -> dict[str, Any]:
        return {}
