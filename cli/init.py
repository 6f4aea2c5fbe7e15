"""``maskkit init``: the initialised weights of a model, as a weights artifact."""

from __future__ import annotations

import click

from maskkit_cli.options import model_options, output_option
from maskkit_cli.stage_io import run_stage


@click.command()
@model_options(required=True)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Initialisation seed."
)
@output_option
def init(
    model: str,
    model_arg: dict,
    input_shape: tuple[int, ...] | None,
    num_classes: int | None,
    seed: int,
    output: str | None,
) -> None:
    """Initialise MODEL with SEED and write its weights.

    The same model and seed give the same weights (and the same file) on every machine with
    the same torch version.

    \b
    Example:
      maskkit init --model resnet20 --seed 0 > resnet20-init.safetensors
      maskkit score --method magnitude resnet20-init.safetensors | maskkit mask --sparsity 0.9 > m.safetensors
    """
    from maskkit import stages

    run_stage(
        output,
        lambda: stages.init_weights(
            model,
            seed=seed,
            num_classes=num_classes,
            input_shape=input_shape,
            model_args=model_arg,
        ),
    )
