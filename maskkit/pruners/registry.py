"""The scoring methods by name: one registration line per method."""

from __future__ import annotations

from maskkit.errors import OptionError
from maskkit.pruners.base import Method
from maskkit.pruners.grasp import GraspAbsMethod, GraspMethod
from maskkit.pruners.magnitude import MagnitudeMethod
from maskkit.pruners.random_scores import RandomMethod
from maskkit.pruners.snip import SnipMethod
from maskkit.pruners.synflow import SynflowMethod

_METHODS: dict[str, Method] = {
    "random": RandomMethod(),
    "magnitude": MagnitudeMethod(),
    "snip": SnipMethod(),
    "grasp": GraspMethod(),
    "grasp-abs": GraspAbsMethod(),
    "synflow": SynflowMethod(),
}


def known_methods() -> list[str]:
    """The registered method names, in registration order."""
    return list(_METHODS)


def get_method(name: str) -> Method:
    """The method called ``name``; OptionError listing the known names otherwise.

    Example: ``get_method("snip").needs_data`` is True.
    """
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise OptionError(
            f"unknown pruning method {name!r}; known: {', '.join(_METHODS)}"
        ) from None
