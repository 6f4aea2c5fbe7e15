"""A progress bar on stderr for a long stage that reports ``(done, total)`` (SynFlow's rounds)."""

from __future__ import annotations

import sys
from typing import Any


class StageProgress:
    """``progress(done, total)`` for a library call: a transient rich bar, started on the first
    report (a method that reports nothing shows nothing), stopped by ``close()``."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=total, completed=done)
        else:
            self.bar.update(self.task, total=total, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def stage_progress(description: str, *, enabled: bool | None = None) -> StageProgress | None:
    """A bar for ``description`` when stderr is a terminal (or ``enabled``), else None."""
    on = sys.stderr.isatty() if enabled is None else enabled
    return StageProgress(description) if on else None
