"""Options and helpers shared by ``train``, ``imp`` and ``eval``: data, schedule, progress.

Every option keeps the raw text the user typed (parsed in the command body, not by click
callbacks), so that ``--nproc`` can rebuild the command line for torchrun from the parsed values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from maskkit.data import Dataset
    from maskkit.format import ModelBinding
    from maskkit.training import TrainOptions

FAMILY_DEFAULTS_HELP = """\b
Defaults per model family (OpenLTH's, as in the paper):
  lenet*         SGD lr 0.1, batch 128, 40 epochs
  resnet20..110  SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch 128,
  vgg11..19      160 epochs, lr x0.1 at 80ep and 120ep, random crop + flip
  resnet18/50    momentum 0.9, wd 1e-4, 5ep warmup; tiny-imagenet: batch 256,
                 lr 0.2, 200 epochs, drops at 100ep,150ep; otherwise batch 1024,
                 lr 0.4, 90 epochs, drops at 30ep,60ep,80ep
Durations are steps (500) or epochs (80ep); the lr is set every step."""


weights_dir_option = click.option(
    "--weights-dir",
    "weights_dir",
    multiple=True,
    metavar="DIR",
    help="Also look for the mask's initial weights file (by name, checked by SHA-256) in DIR; "
    "repeatable, searched before MASKKIT_WEIGHTS_PATH.",
)


def training_options(f: Callable) -> Callable:
    """The optimisation options shared by train and imp (defaults: the model family's)."""
    options = [
        click.option(
            "--epochs", type=click.IntRange(min=0), default=None, help="Training length in epochs."
        ),
        click.option(
            "--steps",
            type=click.IntRange(min=0),
            default=None,
            help="Training length in optimizer steps (instead of --epochs).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=None,
            help="Examples per step, over all processes.",
        ),
        click.option(
            "--lr", type=click.FloatRange(min=0), default=None, help="Base learning rate (SGD)."
        ),
        click.option(
            "--momentum", type=click.FloatRange(min=0), default=None, help="SGD momentum."
        ),
        click.option(
            "--weight-decay", type=click.FloatRange(min=0), default=None, help="L2 weight decay."
        ),
        click.option(
            "--milestones",
            default=None,
            metavar="D[,D...]",
            help="Steps or epochs where the lr is multiplied by --gamma, e.g. 80ep,120ep.",
        ),
        click.option(
            "--gamma",
            type=click.FloatRange(min=0),
            default=None,
            help="lr factor at each milestone (0.1).",
        ),
        click.option(
            "--warmup", default=None, metavar="D", help="Linear lr warmup length, e.g. 500 or 5ep."
        ),
        click.option(
            "--seed",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Seed of the data order and augmentation.",
        ),
        click.option(
            "--augment/--no-augment",
            default=None,
            help="Random crop + flip (default: on for CIFAR).",
        ),
        click.option(
            "--eval-every",
            default=None,
            metavar="D",
            help="Evaluate on the test split every D steps (or Nep); always at the end.",
        ),
        click.option(
            "--device",
            type=click.Choice(["auto", "cpu", "cuda", "mps"]),
            default="auto",
            show_default=True,
            help="Where to train.",
        ),
        click.option(
            "--amp/--no-amp",
            default=None,
            help="Mixed precision (default: on with CUDA; CUDA only).",
        ),
        click.option(
            "--checkpoint-dir",
            default=None,
            metavar="DIR",
            help="Save resumable checkpoints here; rerunning the same command resumes.",
        ),
        click.option(
            "--checkpoint-every",
            default=None,
            metavar="D",
            help="Checkpoint interval (default: every epoch).",
        ),
        click.option(
            "--weights",
            default=None,
            metavar="FILE",
            help="Start from these weights instead of the mask's init reference.",
        ),
        weights_dir_option,
        click.option(
            "--progress/--no-progress",
            default=None,
            help="Progress bar on stderr (default: when stderr is a terminal).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def make_options(
    binding: ModelBinding, dataset: Dataset, params: Mapping[str, Any]
) -> TrainOptions:
    """TrainOptions: the family's defaults, overridden by the options the user gave."""
    from maskkit.models import model_family
    from maskkit.training import default_options

    if params.get("epochs") is not None and params.get("steps") is not None:
        raise click.UsageError("give --epochs or --steps, not both")
    family = model_family(binding.name) if binding.name else "user"
    keys = (
        "epochs", "steps", "batch_size", "lr", "momentum", "weight_decay", "milestones",
        "gamma", "warmup", "seed", "augment", "eval_every", "device", "amp",
    )  # fmt: skip
    overrides = {key: params.get(key) for key in keys}
    return default_options(family, dataset.name, **overrides)


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


def child_argv(ctx: click.Context, skip: set[str]) -> list[str]:
    """The command line that gives ``ctx``'s parsed parameters again, minus ``skip``.

    Only parameters the user set are repeated; every value here is the raw text or number.
    """
    from click.core import ParameterSource

    argv = [ctx.info_name or ""]
    positional: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if name in skip or ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            continue
        value = ctx.params.get(name)
        if isinstance(param, click.Argument):
            positional.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            if param.secondary_opts and not value:
                argv.append(param.secondary_opts[0])
            elif value:
                argv.append(param.opts[-1])
        elif isinstance(param, click.Option) and param.multiple:
            for item in value or ():
                argv += [param.opts[-1], str(item)]
        elif value is not None:
            argv += [param.opts[-1], str(value)]
    return [*argv, "--", *positional] if positional else argv
