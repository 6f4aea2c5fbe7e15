"""``maskkit mask``: scores in, a mask with an exact pruned count out."""

from __future__ import annotations

import click

from maskkit_cli.options import SPARSITY, LiveChoice, encodings, input_argument, output_option
from maskkit_cli.streams import run_stage

#: Rules that take more than a sparsity, each given by its own flag rather than --rule.
RULE_FLAGS = {"like": "--like", "densities": "--densities"}


def sparsity_rules() -> list[str]:
    """The --rule choices: the registered rules that need only the sparsity."""
    from maskkit.masking.rules import known_rules

    return [name for name in known_rules() if name not in RULE_FLAGS]


@click.command()
@input_argument
@click.option(
    "--sparsity",
    type=SPARSITY,
    default=None,
    help="Fraction of prunable weights to prune: exactly floor(S*N + 1/2) of the N.",
)
@click.option(
    "--rule",
    type=LiveChoice(sparsity_rules),
    default=None,
    help="How the pruned count is spread over layers: one global threshold (default), the same "
    "sparsity in every layer, or Erdos-Renyi-Kernel densities.",
)
@click.option("--layerwise", is_flag=True, help="Same as --rule layerwise.")
@click.option(
    "--like",
    "like",
    default=None,
    metavar="MASK",
    help="Keep as many weights per layer as MASK does (weights chosen by these scores).",
)
@click.option(
    "--densities",
    "densities_file",
    default=None,
    metavar="FILE.json",
    help='Explicit per-layer densities: {"layer.weight": 0.1, ...} listing every layer.',
)
@click.option("--invert", is_flag=True, help="Keep the lowest-scoring weights instead.")
@click.option(
    "--exclude",
    multiple=True,
    metavar="PATTERN",
    help="Keep tensors matching this glob dense (repeatable), e.g. 'fc.*'.",
)
@click.option(
    "--encoding",
    type=LiveChoice(encodings),
    default="bool",
    show_default=True,
    help="How the mask is stored; packbits is 8x smaller.",
)
@output_option
def mask(
    input: str,
    sparsity: float | None,
    rule: str | None,
    layerwise: bool,
    like: str | None,
    densities_file: str | None,
    invert: bool,
    exclude: tuple[str, ...],
    encoding: str,
    output: str | None,
) -> None:
    """Turn scores (higher = keep) into a mask.

    Exactly floor(S*N + 1/2) of the N prunable weights are pruned; equal scores are broken in
    a fixed order (sorted tensor names, then C order, the first pruned first), and weights the
    scores mark as already pruned (-inf) stay pruned. See spec/masking.md.

    \b
    Example:
      maskkit mask --sparsity 0.9 scores.safetensors > m.safetensors
      maskkit mask --like snip.safetensors grasp-scores.safetensors > grasp-like-snip.safetensors
      maskkit mask --sparsity 0.9 --invert scores.safetensors > inverted.safetensors
    """
    from maskkit import stages
    from maskkit.errors import MaskkitError, OptionError
    from maskkit_cli.streams import load_input

    if layerwise:
        if rule not in (None, "layerwise"):
            raise click.UsageError("--layerwise conflicts with --rule " + rule)
        rule = "layerwise"
    if like and densities_file:
        raise click.UsageError("give --like or --densities, not both")
    if like or densities_file:
        if rule or sparsity is not None:
            raise click.UsageError(
                "--like and --densities set the per-layer counts: drop --rule/--sparsity"
            )
    elif sparsity is None:
        raise click.UsageError("give --sparsity (or --like / --densities)")

    def make():
        scores = load_input(input, kind="scores")
        other = load_input(like, kind="mask") if like else None
        densities = _read_densities(densities_file) if densities_file else None
        try:
            return stages.make_mask(
                scores,
                sparsity,
                rule=rule,
                like=other,
                densities=densities,
                invert=invert,
                exclude=exclude,
                encoding=encoding,
            )
        except OptionError as exc:
            if densities_file and "densit" in str(exc):  # the file's content: bad data, exit 1
                raise MaskkitError(f"{densities_file}: {exc}") from None
            raise

    run_stage(output, make)


#: A densities file lists one number per layer: far below this even for ImageNet models.
_MAX_DENSITIES_BYTES = 16 << 20


def _read_densities(path: str) -> dict[str, float]:
    import json

    from maskkit.errors import MaskkitError

    try:
        with open(path, "rb") as f:
            text = f.read(_MAX_DENSITIES_BYTES + 1)
    except OSError as exc:
        raise MaskkitError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(text) > _MAX_DENSITIES_BYTES:
        raise MaskkitError(
            f"{path}: larger than {_MAX_DENSITIES_BYTES >> 20} MB: not a densities file"
        )
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise MaskkitError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise MaskkitError(f"{path}: expected a JSON object mapping layer names to densities")
    return doc
