"""Layer collapse: a mask that prunes every weight of a layer, or keeps no weight at all.

No signal crosses a collapsed layer (except through skip connections), so the network's output
no longer depends on its input there; the paper's SynFlow discussion is about exactly this.
Such a mask is valid, so it is a warning, not an error. Standard library only: ``maskkit info``
marks collapsed layers from the header without numpy.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Protocol

from maskkit.errors import MaskkitWarning


class LayerCollapseWarning(MaskkitWarning):
    """A mask keeps no weight of one or more layers."""


class _Counts(Protocol):
    @property
    def numel(self) -> int: ...

    kept: int


def collapsed_layers(layers: Mapping[str, _Counts]) -> list[str]:
    """Names of the layers (with at least one weight) that keep none, in sorted order."""
    return sorted(name for name, c in layers.items() if c.numel > 0 and c.kept == 0)


def collapse_message(
    layers: Mapping[str, _Counts], *, what: str = "the mask", source: str | None = None
) -> str | None:
    """The warning text for ``layers`` (per-layer numel and kept), or None if none collapsed.

    ``source`` (a file name) starts the message, as in every maskkit message about a file.
    """
    names = collapsed_layers(layers)
    if not names:
        return None
    start = f"{source}: layer collapse" if source else "layer collapse"
    numel = sum(c.numel for c in layers.values())
    if sum(c.kept for c in layers.values()) == 0:
        return f"{start}: {what} keeps no weight at all (0 of {numel:,})"
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (
        f"{start}: {what} prunes every weight of {len(names)} of {len(layers)} "
        f"layers ({shown}); no signal passes a collapsed layer except through skip connections"
    )


def warn_if_collapsed(
    layers: Mapping[str, _Counts],
    *,
    what: str = "the mask",
    source: str | None = None,
    stacklevel: int = 2,
) -> None:
    """Issue a :class:`LayerCollapseWarning` naming the collapsed layers, if there are any."""
    message = collapse_message(layers, what=what, source=source)
    if message is not None:
        warnings.warn(message, LayerCollapseWarning, stacklevel=stacklevel + 1)
