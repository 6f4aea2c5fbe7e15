"""``maskkit score``: score every prunable weight of a model (higher = keep)."""

from __future__ import annotations

from typing import Any

import click

from maskkit_cli.data_options import data_options
from maskkit_cli.options import (
    MethodCommand,
    input_argument,
    method_options,
    model_options,
    output_option,
    parse_pairs,
    trust,
)
from maskkit_cli.streams import read_input, run_stage


@click.command(cls=MethodCommand, before="current_mask")
@input_argument
@click.option("--method", required=True, metavar="NAME", help="A registered scoring method.")
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
    help="Methods that score on data: examples of every class to score on (class-balanced, no augmentation).",
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
    current_mask: str | None,
    output: str | None,
    method_values: dict[str, Any],
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
    options = method_options(m, method_values)
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
            sample_seed=seed,
            mask=current,
            seed=seed,
            trust_code=trusted,
            name=found[1] if found is not None else "the weights",
            progress=stage_progress(f"{m.name} {m.progress_unit}".strip()),
        )

    run_stage(output, make)
