"""Errors about one parameter: named as the parameter for Python, as its flag for the CLI."""

from __future__ import annotations

from maskkit.errors import MaskkitError, OptionError


def about(name: str, flag: str, rest: str, cls: type[MaskkitError] = OptionError) -> MaskkitError:
    """``cls(name + rest)`` whose ``cli_message`` is ``flag + rest`` (see MaskkitError)."""
    return cls(f"{name}{rest}", cli_message=f"{flag}{rest}")
