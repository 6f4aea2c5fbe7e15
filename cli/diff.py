"""``maskkit diff``: do two masks agree on weights, or only on per-layer densities?"""

from __future__ import annotations

from typing import Any

import click

from maskkit_cli.options import json_option
from maskkit_cli.report import KeyValues, Report, Table, emit

#: exit code of --fail-on-diff when the masks differ (1 is bad input, 2 usage).
EXIT_DIFFERENT = 3


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option(
    "--sparsity",
    type=float,
    default=None,
    help="Compare scores files by the masks they imply at this sparsity (global rule).",
)
@click.option(
    "--fail-on-diff",
    is_flag=True,
    help=f"Exit with code {EXIT_DIFFERENT} when the masks are not identical.",
)
@json_option
def diff(a: str, b: str, sparsity: float | None, fail_on_diff: bool, as_json: bool) -> None:
    """Compare two masks of the same model, layer by layer.

    For each layer: density of A and B, their difference, the overlap of kept weights (Jaccard,
    and the fraction of A's kept weights that B keeps), and the overlap expected if the masks
    were independent random masks with the same per-layer densities. Overlap close to that
    expectation means the masks agree on layer densities only, not on weights. One of A and B
    may be '-' (stdin).

    \b
    Example:
      maskkit diff snip.safetensors snip-shuffled.safetensors
      maskkit diff --sparsity 0.9 snip-scores.safetensors grasp-scores.safetensors
    """
    from maskkit.compare import compare_masks

    if a == "-" and b == "-":
        raise click.UsageError("only one of A and B can be stdin ('-')")
    mask_a, mask_b = _as_mask(a, sparsity), _as_mask(b, sparsity)
    result = compare_masks(mask_a, mask_b)
    document = {"a": a, "b": b, "model": mask_a.model.name, **result.to_dict()}
    emit(document, render(a, b, mask_a, result), as_json=as_json)
    if fail_on_diff and not result.identical:
        click.get_current_context().exit(EXIT_DIFFERENT)


def _as_mask(path: str, sparsity: float | None) -> Any:
    """The mask of a mask file, or the mask a scores file implies at ``sparsity``."""
    from maskkit.errors import OptionError
    from maskkit_cli.streams import load_input

    artifact = load_input(path, kind=("mask", "scores"))
    if artifact.kind == "mask":
        return artifact
    if sparsity is None:
        raise OptionError(
            f"{path}: is a scores file: give --sparsity to compare the masks it implies"
        )
    from maskkit.stages import make_mask

    return make_mask(artifact, sparsity=sparsity)


def render(a: str, b: str, mask_a: Any, result: Any) -> Report:
    total = result.total
    if result.identical:
        verdict = "identical masks"
    elif result.same_densities:
        verdict = "same per-layer densities, different weights"
    else:
        changed = sum(x.kept_a != x.kept_b for x in result.layers)
        verdict = f"different densities in {changed} of {len(result.layers)} layers"
    pairs = [
        ("A", a),
        ("B", b),
        ("model", mask_a.model.name or "unknown"),
        ("verdict", verdict),
        (
            "overlap",
            f"Jaccard {total.jaccard:.4f} (independent masks: {total.expected_jaccard:.4f}); "
            f"B keeps {_pct(total.a_in_b)} of A's kept weights (independent: {_pct(total.expected_a_in_b)})",
        ),
    ]
    rows = [_row(x) for x in result.layers]
    table = Table(
        ["layer", "numel", "dens A", "dens B", "diff", "jaccard", "indep", "A in B", "indep"],
        rows,
        footer=_row(total),
    )
    return Report([KeyValues(pairs), table])


def _row(x: Any) -> list[str]:
    return [
        x.name,
        f"{x.numel:,}",
        f"{x.density_a:.2%}",
        f"{x.density_b:.2%}",
        f"{x.density_b - x.density_a:+.2%}",
        f"{x.jaccard:.4f}",
        f"{x.expected_jaccard:.4f}",
        _pct(x.a_in_b),
        _pct(x.expected_a_in_b),
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"
