"""``maskkit reinit``: the reinitialisation ablation (same mask, fresh initial weights)."""

from __future__ import annotations

import click

from maskkit_cli.options import input_argument, output_option
from maskkit_cli.streams import run_stage


@click.command()
@input_argument
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Seed of the new draw.")
@output_option
def reinit(input: str, seed: int, output: str | None) -> None:
    """Keep the mask, and start training from a fresh draw of the initial weights.

    The mask's init reference becomes the model's own initialiser with SEED, so 'maskkit train'
    starts the kept weights from new values.

    \b
    Example:
      maskkit reinit --seed 2 snip.safetensors > snip-reinit.safetensors
    """
    from maskkit import stages
    from maskkit_cli.streams import load_input

    run_stage(output, lambda: stages.reinit(load_input(input, kind="mask"), seed))
