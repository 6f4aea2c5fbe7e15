"""Names for pluggable parts (methods, rules, models, datasets, layouts, commands).

A target is either the object itself or a ``"package.module:attribute"`` string imported on the
first :meth:`Registry.get`, so that listing the names (``maskkit list``, ``--help``) never
imports the modules behind them, and with them torch.

>>> methods = Registry("pruning method", {"random": "maskkit.pruners.random_scores:RandomMethod"})
>>> methods.names()
['random']
>>> methods.get("randon")
Traceback (most recent call last):
...
maskkit.errors.OptionError: unknown pruning method 'randon'; known: random
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from maskkit.errors import OptionError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names in registration order, each with a lazily imported target.

    ``aliases`` map other spellings to registered names, and ``fold`` normalises what users
    type (case, spaces) before any lookup. The one error for an unknown name reads
    ``unknown <kind> 'x'; known: a, b, c`` followed by ``hint``; ``listed`` changes which
    names that message offers (a command may accept more values than the registry holds).
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, str | T] | None = None,
        *,
        aliases: Mapping[str, str] | None = None,
        fold: Callable[[str], str] | None = None,
        hint: str = "",
        listed: Callable[[list[str]], Sequence[str]] | None = None,
    ) -> None:
        self.kind = kind
        self._targets: dict[str, str | T] = {}
        self._loaded: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._fold = fold
        self._hint = hint
        self._listed = listed
        for name, target in (entries or {}).items():
            self.register(name, target)
        for alias, name in (aliases or {}).items():
            self.alias(alias, name)

    def register(self, name: str, target: str | T) -> None:
        """Add ``name``; a name registered twice is a programming error (ValueError)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, not {name!r}")
        if name in self._targets or name in self._aliases:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._targets[name] = target

    def unregister(self, name: str) -> None:
        """Remove ``name`` and its aliases (for tests and plugins that register temporarily)."""
        del self._targets[name]
        self._loaded.pop(name, None)
        for alias in [a for a, n in self._aliases.items() if n == name]:
            del self._aliases[alias]

    def alias(self, alias: str, name: str) -> None:
        """Let ``alias`` name the registered ``name``."""
        if name not in self._targets:
            raise ValueError(f"alias {alias!r} names no registered {self.kind} {name!r}")
        if alias in self._targets or alias in self._aliases:
            raise ValueError(f"{self.kind} {alias!r} is registered already")
        self._aliases[alias] = name

    def names(self) -> list[str]:
        """The registered names (aliases left out), in registration order."""
        return list(self._targets)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._targets)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def lookup(self, name: str) -> str | None:
        """The registered name that ``name`` stands for (folded, aliases followed), or None."""
        if not isinstance(name, str):
            return None
        key = self._fold(name) if self._fold is not None else name
        key = self._aliases.get(key, key)
        return key if key in self._targets else None

    def canonical(self, name: str) -> str:
        """The registered name that ``name`` stands for; OptionError listing the known ones."""
        key = self.lookup(name)
        if key is None:
            raise self.unknown(name)
        return key

    def target(self, name: str) -> str | T:
        """What ``name`` was registered with, without importing anything."""
        return self._targets[self.canonical(name)]

    def get(self, name: str) -> T:
        """The object registered as ``name`` (imported on first use); OptionError if unknown."""
        key = self.canonical(name)
        if key not in self._loaded:
            target = self._targets[key]
            self._loaded[key] = _resolve(target) if isinstance(target, str) else target
        return self._loaded[key]

    __getitem__ = get

    def unknown(self, name: object) -> OptionError:
        """The error for a name this registry does not hold."""
        names = self.names()
        listed = self._listed(names) if self._listed is not None else names
        return OptionError(f"unknown {self.kind} {name!r}; known: {', '.join(listed)}{self._hint}")

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()!r})"


def _resolve(target: str) -> Any:
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"registry target {target!r} is not 'package.module:attribute'")
    value: Any = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value
