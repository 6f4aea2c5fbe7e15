"""Finding and calling the user's own code named ``package.module:callable`` (models, datasets)."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from maskkit.errors import OptionError


def resolve_callable(name: str, what: str) -> Callable[..., Any]:
    """Import ``package.module`` and return its ``callable`` (dotted attributes allowed).

    The module is looked up in the current directory and on ``PYTHONPATH``; ``what`` ("user
    model", "user dataset") starts every error message.
    """
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise OptionError(f"{what} {name!r}: expected the form package.module:callable")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # a module written after start-up must still be found
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise OptionError(
            f"{what} {name!r}: cannot import module {module_name!r} "
            f"({type(exc).__name__}: {exc}); it must be importable from {cwd} or PYTHONPATH"
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise OptionError(f"{what} {name!r}: module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise OptionError(f"{what} {name!r}: {attr!r} is not callable")
    return obj


def keyword_params(fn: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """The parameters ``fn`` takes by keyword, and whether it takes ``**kwargs``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass everything
        return {}, True
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {p.name: p for p in params if p.kind in kinds}
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
