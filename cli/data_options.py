"""The dataset options shared by score, train, eval and imp, and loading the data they name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from maskkit_cli.options import parse_pairs

if TYPE_CHECKING:
    from maskkit.data import Dataset
    from maskkit.format import ModelBinding


def data_options(f: Callable) -> Callable:
    """--dataset, --data-dir, --data-option, --data-seed."""
    f = click.option(
        "--data-seed",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Seed of generated datasets (synthetic); files are read as they are.",
    )(f)
    f = click.option(
        "--data-option",
        "data_option",
        multiple=True,
        metavar="KEY=VALUE",
        help="Dataset option (repeatable), e.g. train_size=2000 for synthetic.",
    )(f)
    f = click.option(
        "--data-dir", default=None, metavar="DIR", help="Where the dataset's files are."
    )(f)
    return click.option(
        "--dataset",
        default=None,
        metavar="NAME",
        help="mnist, fashion-mnist, cifar10, cifar100, synthetic or package.module:callable "
        "(default: the model's dataset).",
    )(f)


def load_data(
    binding: ModelBinding,
    name: str | None,
    data_dir: str | None,
    data_seed: int,
    data_option: tuple[str, ...],
    *,
    recorded: str | None = None,
) -> Dataset:
    """The dataset for the bound model, shaped like the model.

    Unless named: ``recorded`` (the dataset trained weights were trained on), else the model's.
    """
    from maskkit.binding import check_dataset
    from maskkit.data import load_dataset
    from maskkit.errors import OptionError
    from maskkit.models import default_dataset

    if name is None and recorded:
        name = recorded
    if name is None and binding.name is not None:
        name = default_dataset(binding.name)
    if name is None:
        raise OptionError(
            f"model {binding.name or '(unknown)'} has no default dataset: give --dataset"
        )
    shape = binding.args.get("input_shape")
    classes = binding.args.get("num_classes")
    data = load_dataset(
        name,
        data_dir=data_dir,
        seed=data_seed,
        input_shape=tuple(shape) if shape else None,
        num_classes=classes,
        options=parse_pairs(data_option, "--data-option"),
    )
    check_dataset(binding, data)
    return data
