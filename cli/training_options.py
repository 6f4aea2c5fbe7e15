"""The training options shared by ``train`` and ``imp``, and what they parse into.

Every option keeps the raw text the user typed (parsed in the command body, not by click
callbacks), so that ``--nproc`` can rebuild the command line for torchrun from the parsed values
(:mod:`maskkit_cli.torchrun`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

from maskkit.training.options import DEVICES

if TYPE_CHECKING:
    from maskkit.data import Dataset
    from maskkit.format import ModelBinding
    from maskkit.training import RunIO, TrainOptions
    from maskkit.training.run_io import Progress


def family_defaults_help() -> str:
    """The training defaults per model family, written from the library's defaults table."""
    import textwrap

    from maskkit.models import known_models, model_family
    from maskkit.training.options import defaults_table

    lines = ["\b", "Defaults per model family (OpenLTH's, as in the paper):"]
    for row, values in defaults_table():
        family, _, dataset = row.partition("/")
        models = [m for m in known_models() if model_family(m) == family]
        where = f" on {dataset}" if dataset else ""
        head = f"{', '.join(models)}{where}:"
        lines += textwrap.wrap(
            f"{head} {_describe(values)}", width=78, initial_indent="  ", subsequent_indent="    "
        )
    lines.append("Durations are steps (500) or epochs (80ep); the lr is set every step.")
    return "\n".join(lines)


def _describe(values: Mapping[str, Any]) -> str:
    words = {"batch_size": "batch", "weight_decay": "weight decay", "lr": "SGD lr"}
    parts = []
    for key, value in values.items():
        if key == "epochs":
            parts.append(f"{value} epochs")
        elif key == "milestones":
            parts.append(f"lr x{values.get('gamma', 0.1):g} at {','.join(map(str, value))}")
        elif key == "warmup":
            parts.append(f"{value} warmup")
        elif key != "gamma":
            shown = f"{value:g}" if isinstance(value, float) else value
            parts.append(f"{words.get(key, key)} {shown}")
    return ", ".join(parts)


FAMILY_DEFAULTS_HELP = family_defaults_help()


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
            type=click.Choice(DEVICES),
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


def run_io(
    params: Mapping[str, Any], *, progress: Progress | None = None, run_id: str = ""
) -> RunIO:
    """The run's files (checkpoints, log, weights folders) and trust, as the options give them."""
    from maskkit.training import RunIO, parse_duration
    from maskkit_cli.options import trust

    every = params.get("checkpoint_every")
    return RunIO(
        checkpoint_dir=params.get("checkpoint_dir"),
        checkpoint_every=None
        if every is None
        else parse_duration(every, what="--checkpoint-every"),
        log_path=params.get("log_path"),
        progress=progress,
        run_id=run_id,
        weights_dirs=params.get("weights_dir", ()),
        trust_code=trust(bool(params.get("trust_code")), params.get("dataset")),
    )
