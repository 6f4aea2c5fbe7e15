"""``maskkit eval``: test accuracy and loss of trained weights (or of a mask applied to weights)."""

from __future__ import annotations

from typing import Any

import click

from maskkit.training.options import DEVICES
from maskkit_cli.data_options import data_options
from maskkit_cli.options import input_argument, json_option, trust
from maskkit_cli.training_options import weights_dir_option


@click.command("eval")
@input_argument
@click.option(
    "--weights",
    default=None,
    metavar="FILE",
    help="With a mask as INPUT: evaluate these weights with the mask applied "
    "(default: the mask's initial weights).",
)
@weights_dir_option
@data_options
@click.option(
    "--split",
    type=click.Choice(["test", "train"]),
    default="test",
    show_default=True,
    help="Which split to evaluate on.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Examples per forward pass.",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Where to evaluate.",
)
@json_option
def evaluate(
    input: str,
    weights: str | None,
    weights_dir: tuple[str, ...],
    split: str,
    batch_size: int,
    device: str,
    as_json: bool,
    **data_params: Any,
) -> None:
    """Report the accuracy and mean cross-entropy loss of INPUT on a dataset split.

    INPUT is a weights artifact (path or stdin), or a mask whose pruned weights are zeroed in
    --weights (or in the weights its init reference names). The dataset defaults to the one
    the weights were trained on (a synthetic one regenerated at its recorded size) or scored
    with, else the model's. A package.module:callable model or dataset that INPUT names runs
    only with --trust-code (or the same --dataset).

    \b
    Example:
      maskkit eval trained.safetensors
      maskkit train m.safetensors | maskkit eval --json
      maskkit eval m.safetensors --weights trained.safetensors --dataset cifar10 --data-dir data
    """
    from maskkit.format import Mask, load
    from maskkit.training import RunIO, evaluate_artifact
    from maskkit_cli.data_options import data_request
    from maskkit_cli.report import KeyValues, Report, emit
    from maskkit_cli.streams import read_input

    data, name = read_input(input)
    artifact = load(data, kind=("weights", "mask"), name=name)
    if weights is not None and not isinstance(artifact, Mask):
        raise click.UsageError("--weights goes with a mask as INPUT; INPUT is already weights")
    result = evaluate_artifact(
        artifact,
        data_request(data_params),
        source=name,
        weights=weights,
        split=split,
        batch_size=batch_size,
        device=device,
        io=RunIO(
            weights_dirs=weights_dir,
            trust_code=trust(data_params["trust_code"], data_params["dataset"]),
        ),
    )
    doc = {"input": name, **result.to_dict()}
    metrics, ds_name = result.metrics, result.dataset
    kept = f"{artifact.kept:,} of {artifact.numel:,} prunable weights ({artifact.density:.2%})"
    report = Report(
        [
            KeyValues(
                [
                    ("input", name),
                    ("model", str(artifact.model.name)),
                    ("kept", kept),
                    ("data", f"{ds_name} {split} split, {metrics.count:,} examples"),
                    ("accuracy", f"{metrics.accuracy:.2%} ({metrics.correct:,} correct)"),
                    ("loss", f"{metrics.loss:.4f}"),
                ]
            )
        ]
    )
    emit(doc, report, as_json=as_json)
