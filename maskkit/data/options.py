"""Dataset options: frozen dataclasses built from a plain mapping (CLI strings or Python values)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from maskkit._options import from_mapping

T = TypeVar("T")


def parse_options(cls: type[T], dataset: str, options: Mapping[str, Any] | None) -> T:
    """Build the options dataclass ``cls`` from ``options``; unknown keys raise OptionError.

    Strings are converted by each field's type (``verify_md5=no``, ``train_size=2000``).

    Example:
        >>> parse_options(NoOptions, "mnist", {})
        NoOptions()
    """
    return from_mapping(cls, options, what=dataset)


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Datasets that take no options (MNIST, Fashion-MNIST)."""

    def to_dict(self) -> dict[str, Any]:
        return {}
