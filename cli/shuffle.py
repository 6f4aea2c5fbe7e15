"""``maskkit shuffle``: the shuffle ablation (per-layer densities kept, positions redrawn)."""

from __future__ import annotations

import click

from maskkit_cli.options import input_argument, output_option
from maskkit_cli.streams import run_stage


@click.command()
@input_argument
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Seed of the permutations.")
@output_option
def shuffle(input: str, seed: int, output: str | None) -> None:
    """Permute each layer's mask independently at random.

    Every layer keeps exactly as many weights as before, at new positions: what survives is the
    per-layer density the pruning method chose, not its choice of weights. Each layer's
    permutation depends only on the seed and the layer's name.

    \b
    Example:
      maskkit shuffle --seed 1 snip.safetensors > snip-shuffled.safetensors
      maskkit diff snip.safetensors snip-shuffled.safetensors
    """
    from maskkit import stages
    from maskkit_cli.streams import load_input

    run_stage(output, lambda: stages.shuffle(load_input(input, kind="mask"), seed))
