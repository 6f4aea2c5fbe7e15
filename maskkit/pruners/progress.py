"""Progress of a long scoring method (SynFlow's rounds), reported to whoever asked for it.

:meth:`maskkit.pruners.base.Method.score` installs the caller's callback for the duration of
one scoring; a method's inner loop calls :func:`report` without knowing who listens, so the
methods' signatures stay as they are. Nothing is reported when nobody asked.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

ScoreProgress = Callable[[int, int], Any]
"""Called as ``progress(done, total)``; if it has a ``close()`` method, that is called when the
scoring ends, whether it succeeded or not."""

_current: contextvars.ContextVar[ScoreProgress | None] = contextvars.ContextVar(
    "maskkit_score_progress", default=None
)


@contextlib.contextmanager
def reporting(progress: ScoreProgress | None) -> Iterator[None]:
    """Send :func:`report` calls to ``progress`` inside the block (closing it at the end)."""
    token = _current.set(progress)
    try:
        yield
    finally:
        _current.reset(token)
        close = getattr(progress, "close", None)
        if close is not None:
            close()


def report(done: int, total: int) -> None:
    """``done`` of ``total`` units of the current scoring are finished."""
    progress = _current.get()
    if progress is not None:
        progress(done, total)
