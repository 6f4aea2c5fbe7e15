"""Progress on stderr: a bar for a stage that reports ``(done, total)`` (SynFlow's rounds), a
training bar with a line per evaluation, and plain log lines. Never stdout: it carries artifacts.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click


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


def progress_enabled(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


class ProgressBar:
    """Training progress on stderr: a rich bar (steps, loss, rate, ETA) when ``bar`` is on, and
    one line per evaluation either way, printed through the bar while it is live.

    The evaluation of the last step is left to the caller's final line, so the final metrics
    appear once; a resume is reported when it happens (``checkpoint_dir`` names the folder).
    """

    def __init__(
        self, description: str, *, bar: bool = True, checkpoint_dir: str | None = None
    ) -> None:
        self.description = description
        self.bar: Any = _rich_bar() if bar else None
        self.task: Any = None
        self.total: int | None = None
        self.checkpoint_dir = checkpoint_dir

    def __call__(self, step: int, total: int, loss: float | None) -> None:
        self.total = total
        if self.bar is None:
            return
        text = "-" if loss is None else f"{loss:.4f}"
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=total, completed=step, loss=text)
            # Rate and ETA from the steps done in this process, not the resumed ones.
            self.bar.reset(self.task, total=total, completed=step, loss=text)
        else:
            self.bar.update(self.task, completed=step, loss=text)

    def note(self, message: str) -> None:
        """A log line that does not collide with the live bar."""
        if self.bar is not None and self.task is not None:
            from maskkit_cli.printable import printable

            self.bar.console.print(f"maskkit: {printable(message)}", highlight=False, markup=False)
        else:
            note(message)

    def resumed(self, step: int) -> None:
        where = f" in {self.checkpoint_dir}" if self.checkpoint_dir else ""
        self.note(f"resumed from the checkpoint of step {step}{where}")

    def evaluation(self, record: Mapping[str, Any]) -> None:
        if record["step"] == self.total:
            return
        train_loss = record.get("train_loss")
        line = (
            f"{self.description} step {record['step']} ({record['epoch']:.2f} epochs): "
            f"test accuracy {record['test_accuracy']:.2%}, test loss {record['test_loss']:.4f}"
            + (f", train loss {train_loss:.4f}" if train_loss is not None else "")
        )
        self.note(line)

    def close(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.stop()


def _rich_bar() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} steps/s" if speed else "- steps/s")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        Rate(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def note(message: str) -> None:
    """A log line on stderr (never stdout), escaped: it may quote names from files."""
    from maskkit_cli.printable import printable

    click.echo(f"maskkit: {printable(message)}", err=True)
