"""Finding and calling the user's own code named ``package.module:callable`` (models, datasets).

A name the caller passes (``--model``, ``--dataset``, a Python argument) is the caller's choice.
A name read from a file is not: it is imported only when the caller trusts it, with
:func:`require_trusted` as the one gate every such name passes (spec/format-v1.md §6.1).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Collection, Iterator
from typing import Any

from maskkit.errors import MaskkitError, OptionError, UntrustedCodeError, UserCodeError

#: ``True`` trusts every name a file gives; a collection trusts those names only.
Trust = bool | Collection[str]


def is_user_code(name: str | None) -> bool:
    """True for a ``package.module:callable`` name (registry names never contain a colon)."""
    return name is not None and ":" in name


def require_trusted(name: str | None, what: str, trust: Trust, *, source: str) -> None:
    """Refuse a ``package.module:callable`` that ``source`` (a file) names, unless trusted.

    Registry names pass: they run only maskkit's own code. ``what`` is "user model" or
    "user dataset"; the message says how to trust the name.
    """
    if not is_user_code(name):
        return
    if trust is True or (not isinstance(trust, bool) and name in trust):
        return
    # train, eval and imp take no --model, so only a dataset can be named again.
    again = "the same --dataset, or " if what == "user dataset" else ""
    found = f"{source}: names the {what} {name!r}, code that maskkit would import and run"
    raise UntrustedCodeError(
        f"{found}; it runs only when you name it: pass trust_code=True (or a collection "
        "holding the name) if you trust this file",
        cli_message=f"{found}; it runs only when you name it: give {again}--trust-code if you "
        "trust this file",
    )


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
    _remember(what, name, module_name, obj)
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


#: The user's source files (real paths) -> (what, name), to name them in error messages.
_USER_FILES: dict[str, tuple[str, str]] = {}


def _remember(what: str, name: str, module_name: str, obj: Any) -> None:
    for thing in (sys.modules.get(module_name), obj):
        try:
            path = inspect.getsourcefile(thing) or inspect.getfile(thing)
        except (TypeError, OSError):  # built in, or no file
            continue
        _USER_FILES.setdefault(os.path.realpath(path), (what, name))


def user_code_error(exc: BaseException) -> UserCodeError | None:
    """The one-line error for ``exc`` when it was raised inside the user's code, else None.

    The location is the innermost traceback frame in a file of a resolved user model or dataset:
    the user's line, even when the exception itself comes from torch further in.
    """
    import traceback

    found = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        owner = _USER_FILES.get(os.path.realpath(frame.f_code.co_filename))
        if owner is not None:
            found = owner, frame.f_code.co_filename, line
    if found is None:
        return None
    (what, name), path, line = found
    return UserCodeError(f"{_describe(what, name, exc)} (at {_shown(path)}:{line})")


@contextlib.contextmanager
def calling_user_code(what: str, name: str) -> Iterator[None]:
    """Turn an exception raised by the user's callable into a UserCodeError naming its line."""
    try:
        yield
    except MaskkitError:
        raise
    except Exception as exc:
        raise (user_code_error(exc) or UserCodeError(_describe(what, name, exc))) from exc


def _describe(what: str, name: str, exc: BaseException) -> str:
    message = " ".join(str(exc).split())  # one line, whatever the user's message holds
    kind = type(exc).__name__
    return f"{what} {name!r}: {kind}: {message}" if message else f"{what} {name!r}: {kind}"


def _shown(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative
