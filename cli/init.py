"""``maskkit init``: the initialised weights of a model, as a weights artifact."""

from __future__ import annotations

import click

from maskkit_cli.data_options import dataset_options
from maskkit_cli.options import model_options, output_option
from maskkit_cli.streams import run_stage


@click.command()
@model_options(required=True)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Initialisation seed."
)
@dataset_options
@output_option
def init(
    model: str,
    model_arg: dict,
    input_shape: tuple[int, ...] | None,
    num_classes: int | None,
    seed: int,
    dataset: str | None,
    data_dir: str | None,
    data_option: tuple[str, ...],
    data_seed: int,
    output: str | None,
) -> None:
    """Initialise MODEL with SEED and write its weights.

    The same model and seed give the same weights (and the same file) on every machine with
    the same torch version. With --dataset the model takes the dataset's classes and input
    shape, and later stages default to that dataset.

    \b
    Example:
      maskkit init --model resnet20 --seed 0 > resnet20-init.safetensors
      maskkit init --model mymodels:tabular --dataset mydata:load > w.safetensors
      maskkit score --method magnitude resnet20-init.safetensors | maskkit mask --sparsity 0.9 > m.safetensors
    """
    from maskkit import stages
    from maskkit_cli.data_options import load_model_data

    def make():
        data = None
        if dataset is not None:
            data = load_model_data(
                model,
                dataset,
                data_dir,
                data_seed,
                data_option,
                num_classes=num_classes,
                input_shape=input_shape,
                model_arg=model_arg,
            )
        return stages.init_weights(
            model,
            seed=seed,
            num_classes=num_classes,
            input_shape=input_shape,
            model_args=model_arg,
            dataset=data,
        )

    run_stage(output, make)
