"""``maskkit score``: score every prunable weight of a model (higher = keep)."""

from __future__ import annotations

from typing import Any

import click

from maskkit_cli.data_options import data_options, load_data
from maskkit_cli.options import (
    SPARSITY,
    input_argument,
    method_options,
    model_options,
    output_option,
)
from maskkit_cli.stage_io import run_stage
from maskkit_cli.streams import read_input


@click.command()
@input_argument
@click.option(
    "--method",
    required=True,
    metavar="NAME",
    help="random, magnitude, snip, grasp, grasp-abs or synflow (see spec/methods/).",
)
@model_options()
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the model's initialisation (with --model), of the scoring examples, and of random scores.",
)
@data_options
@click.option(
    "--samples-per-class",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="snip/grasp: examples of every class to score on (class-balanced, no augmentation).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="snip/grasp: examples per forward pass.",
)
@click.option(
    "--batching",
    type=click.Choice(["near-equal", "fixed", "class-halves"]),
    default=None,
    help="snip/grasp: how the examples are cut into batches (default near-equal).",
)
@click.option(
    "--combine",
    type=click.Choice(["mean", "sum"]),
    default=None,
    help="snip/grasp: batch losses weighted by size (mean, default) or added up (sum).",
)
@click.option(
    "--batchnorm",
    type=click.Choice(["train", "eval"]),
    default=None,
    help="snip/grasp: BatchNorm uses batch (train, default) or running (eval) statistics.",
)
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="grasp: logits are divided by this (default 200).",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=None,
    help="synflow: pruning rounds (default 100).",
)
@click.option(
    "--sparsity",
    type=SPARSITY,
    default=None,
    help="synflow: the sparsity its iterative pruning aims at; mask at the same sparsity.",
)
@click.option(
    "--mask",
    "current_mask",
    default=None,
    metavar="MASK",
    help="Score under this mask: its pruned weights get -inf and stay pruned (iterative pruning).",
)
@output_option
def score(
    input: str,
    method: str,
    model: str | None,
    model_arg: dict,
    input_shape: tuple[int, ...] | None,
    num_classes: int | None,
    seed: int,
    dataset: str | None,
    data_dir: str | None,
    data_option: tuple[str, ...],
    data_seed: int,
    samples_per_class: int,
    batch_size: int | None,
    batching: str | None,
    combine: str | None,
    batchnorm: str | None,
    temperature: float | None,
    rounds: int | None,
    sparsity: float | None,
    current_mask: str | None,
    output: str | None,
) -> None:
    """Score the prunable weights of a model; write a scores artifact.

    The weights come from INPUT (a weights artifact such as 'maskkit init' or 'maskkit train'
    writes, or a plain safetensors state_dict bound with --model), or, with --model and no
    INPUT, from the model initialised in-process with --seed.

    \b
    Example:
      maskkit score --model lenet300 --seed 0 --method snip --dataset mnist \\
        | maskkit mask --sparsity 0.9 > snip.safetensors
      maskkit score --model resnet20 --method synflow --sparsity 0.99 > synflow-scores.safetensors
      maskkit score --method magnitude trained.safetensors > scores.safetensors
    """
    from maskkit import stages
    from maskkit.pruners import get_method
    from maskkit_cli.progress import stage_progress
    from maskkit_cli.streams import load_input

    m = get_method(method)
    given = {
        "batch_size": batch_size,
        "batching": batching,
        "combine": combine,
        "batchnorm": batchnorm,
        "temperature": temperature,
        "rounds": rounds,
        "sparsity": sparsity,
    }
    options = method_options(m, given)
    if m.name == "synflow" and sparsity is None:
        raise click.UsageError("synflow needs --sparsity: the target of its iterative pruning")
    from_model = model is not None and input == "-"

    def make():
        if from_model:
            data = None
            if m.needs_data:
                data = _data_for_new_model(
                    dataset,
                    model,
                    model_arg,
                    input_shape,
                    num_classes,
                    data_dir,
                    data_seed,
                    data_option,
                )
            weights = stages.init_weights(
                model,
                seed=seed,
                num_classes=num_classes or (data.num_classes if data else None),
                input_shape=input_shape or (data.input_shape if data else None),
                model_args=model_arg,
            )
        else:
            weights = _read_weights(input, model, model_arg, input_shape, num_classes, seed)
            data = None
            if m.needs_data:
                data = load_data(weights.model, dataset, data_dir, data_seed, data_option)
        current = load_input(current_mask, kind="mask") if current_mask is not None else None
        return stages.score(
            weights,
            m.name,
            options=options,
            dataset=data,
            samples_per_class=samples_per_class,
            data_seed=seed,
            mask=current,
            seed=seed,
            progress=stage_progress(f"{m.name} rounds" if m.name == "synflow" else m.name),
        )

    run_stage(output, make)


def _data_for_new_model(
    name: str | None,
    model: str,
    model_arg: dict,
    input_shape: tuple[int, ...] | None,
    num_classes: int | None,
    data_dir: str | None,
    data_seed: int,
    data_option: tuple[str, ...],
) -> Any:
    """The scoring data for a model built here: a real dataset decides the model's input shape
    and classes (unless given); a synthetic one takes the model's."""
    from maskkit.data import load_dataset
    from maskkit.data.registry import canonical_name
    from maskkit.errors import OptionError
    from maskkit.models import default_dataset, model_args
    from maskkit_cli.options import parse_pairs

    name = name or default_dataset(model)
    if name is None:
        raise OptionError(f"model {model} has no default dataset: give --dataset")
    if ":" not in name and canonical_name(name) == "synthetic":
        args = model_args(
            model, num_classes=num_classes, input_shape=input_shape, overrides=model_arg
        )
        input_shape, num_classes = tuple(args["input_shape"]), args["num_classes"]
    return load_dataset(
        name,
        data_dir=data_dir,
        seed=data_seed,
        input_shape=input_shape,
        num_classes=num_classes,
        options=parse_pairs(data_option, "--data-option"),
    )


def _read_weights(
    input: str,
    model: str | None,
    model_arg: dict,
    input_shape: tuple[int, ...] | None,
    num_classes: int | None,
    seed: int,
) -> Any:
    """A weights artifact, or a plain safetensors state_dict bound to --model."""
    from maskkit.binding import new_model
    from maskkit.errors import OptionError
    from maskkit.format import load
    from maskkit.initial import is_maskkit_artifact, weights_from_plain
    from maskkit.models import prunable_names

    data, name = read_input(input)
    if is_maskkit_artifact(data, name=name):
        weights = load(data, kind="weights", name=name)
        if model is not None and model != weights.model.name:
            raise OptionError(f"{name}: holds weights of model {weights.model.name}, not {model}")
        return weights
    if model is None:
        raise OptionError(
            f"{name}: a plain safetensors file without maskkit metadata: give --model to say "
            "which model's state_dict it is"
        )
    net, binding = new_model(
        model, seed=seed, num_classes=num_classes, input_shape=input_shape, overrides=model_arg
    )
    return weights_from_plain(
        data, name=name, model=net, binding=binding, prunable=prunable_names(net)
    )
