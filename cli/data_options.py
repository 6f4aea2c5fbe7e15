"""The dataset options shared by score, train, eval and imp, and loading the data they name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

from maskkit_cli.options import parse_pairs, trust_option

if TYPE_CHECKING:
    from maskkit.data import Dataset
    from maskkit.training import DataRequest


def data_options(f: Callable) -> Callable:
    """--dataset, --data-dir, --data-option, --data-seed, and --trust-code (for the code that
    an input file names)."""
    return dataset_options(trust_option(f))


def dataset_options(f: Callable) -> Callable:
    """--dataset, --data-dir, --data-option, --data-seed."""
    from maskkit.data.registry import known_datasets

    f = click.option(
        "--data-seed",
        type=click.IntRange(min=0),
        default=None,
        help="Seed of generated datasets (synthetic; default: the input's recorded one, else 0); "
        "files are read as they are.",
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
        help=f"{', '.join(known_datasets())} or package.module:callable "
        "(default: the one the input was made with, else the model's).",
    )(f)


def data_request(params: Mapping[str, Any]) -> DataRequest:
    """The dataset the --dataset, --data-dir, --data-seed and --data-option values ask for."""
    from maskkit.training import DataRequest

    return DataRequest(
        name=params["dataset"],
        data_dir=params["data_dir"],
        seed=params["data_seed"],
        options=parse_pairs(params["data_option"], "--data-option"),
    )


def load_model_data(
    model: str,
    name: str | None,
    data_dir: str | None,
    data_seed: int | None,
    data_option: tuple[str, ...],
    *,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    model_arg: Mapping[str, Any] | None = None,
) -> Dataset:
    """The dataset for a model about to be built (see ``maskkit.models.binding.dataset_for_model``)."""
    from maskkit.models.binding import dataset_for_model

    return dataset_for_model(
        model,
        name,
        num_classes=num_classes,
        input_shape=input_shape,
        model_args=model_arg,
        data_dir=data_dir,
        seed=data_seed,
        options=parse_pairs(data_option, "--data-option"),
    )
