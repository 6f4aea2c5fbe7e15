"""``maskkit score``: score every prunable weight of a model (higher = keep)."""

from __future__ import annotations

import click

from maskkit_cli.data_options import data_options
from maskkit_cli.options import (
    SPARSITY,
    input_argument,
    method_options,
    model_options,
    output_option,
    parse_pairs,
    trust,
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
    trust_code: bool,
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

    The weights come from INPUT or stdin (a weights artifact such as 'maskkit init' or
    'maskkit train' writes, checked against --model when both are given, or a plain safetensors
    state_dict bound with --model), or, with --model and nothing on stdin (a terminal, /dev/null
    or an empty pipe), from the model initialised in-process with --seed. The dataset, when
    given, fixes the classes and input shape of a model built here.

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
    from maskkit_cli.streams import load_input, read_optional_input

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
    trusted = trust(trust_code, model, dataset)

    def make():
        found = read_optional_input(input)
        if found is None and model is None:
            read_input(input)  # says why there is no input
        weights, data = stages.weights_and_data(
            found,
            model=model,
            seed=seed,
            num_classes=num_classes,
            input_shape=input_shape,
            model_args=model_arg,
            dataset=dataset,
            data_dir=data_dir,
            data_seed=data_seed,
            data_options=parse_pairs(data_option, "--data-option"),
            needs_data=m.needs_data,
            trust_code=trusted,
        )
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
            trust_code=trusted,
            source=found[1] if found is not None else "the weights",
            progress=stage_progress(f"{m.name} rounds" if m.name == "synflow" else m.name),
        )

    run_stage(output, make)
