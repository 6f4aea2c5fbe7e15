"""``maskkit diff``: do two masks agree on weights, or only on per-layer densities?"""

from __future__ import annotations

from typing import Any

import click

from maskkit_cli.options import json_option
from maskkit_cli.report import KeyValues, Lines, Report, Table, emit

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
    help=f"Exit with code {EXIT_DIFFERENT} when the masks or their initial weights differ, "
    "saying which on stderr.",
)
@json_option
def diff(a: str, b: str, sparsity: float | None, fail_on_diff: bool, as_json: bool) -> None:
    """Compare two masks of the same model, layer by layer, against chance.

    For each layer: density of A and B, their difference, the overlap of kept weights (Jaccard,
    and the fraction of A's kept weights that B keeps), and what independent random masks with
    the same per-layer kept counts would give ('chance'). The overlap is tested against that
    (hypergeometric) distribution: 'x chance' is the overlap over its chance mean, 'z' its
    distance from the mean in standard deviations; |z| < 3 is overlap at chance, meaning the
    masks agree on layer densities only, not on weights. One of A and B may be '-' (stdin).

    \b
    Example:
      maskkit diff snip.safetensors snip-shuffled.safetensors
      maskkit diff --sparsity 0.9 snip-scores.safetensors grasp-scores.safetensors
    """
    from maskkit.masking.overlap import compare_masks

    if a == "-" and b == "-":
        raise click.UsageError("only one of A and B can be stdin ('-')")
    mask_a, mask_b = _as_mask(a, sparsity), _as_mask(b, sparsity)
    result = compare_masks(mask_a, mask_b)
    document = {
        "a": a,
        "b": b,
        "model": mask_a.model.name,
        "verdict": verdict(result),
        **result.to_dict(),
    }
    emit(document, render(a, b, mask_a, result), as_json=as_json)
    if fail_on_diff and result.difference != "none":
        click.echo(f"maskkit: --fail-on-diff: {failure(result)}", err=True)
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


def verdict(result: Any) -> str:
    """One line: what differs, and whether the kept weights overlap beyond chance."""
    if result.difference == "none":
        return "identical masks"
    if result.difference == "init":
        return "identical masks, different initial weights"
    if result.difference == "weights":
        return f"same densities; weights overlap {chance_text(result.total)}"
    return f"{_changed(result)}; weights overlap {chance_text(result.total)}"


def chance_text(x: Any) -> str:
    from maskkit.masking.overlap import CHANCE_Z

    stats = f"{_ratio(x.overlap_ratio)} chance, z = {_z(x.z)}"
    if x.chance == "at":
        return f"at chance ({stats}; |z| < {CHANCE_Z:g})"
    if x.chance == "above":
        return f"{_ratio(x.overlap_ratio)} more than chance (z = {_z(x.z)}; |z| >= {CHANCE_Z:g})"
    return f"less than chance ({stats}; |z| >= {CHANCE_Z:g})"


def failure(result: Any) -> str:
    """Why --fail-on-diff fails: the kind of difference, most fundamental first."""
    if result.difference == "init":
        return "the mask tensors are equal but the initial weights differ"
    if result.difference == "weights":
        return "same per-layer densities, but different weights are kept"
    return f"the masks keep different counts: {_changed(result)}"


def _changed(result: Any) -> str:
    changed = sum(x.kept_a != x.kept_b for x in result.layers)
    return f"different densities in {changed} of {len(result.layers)} layers"


def render(a: str, b: str, mask_a: Any, result: Any) -> Report:
    from maskkit.masking.overlap import CHANCE_Z

    total = result.total
    above = sum(x.chance == "above" for x in result.layers)
    below = sum(x.chance == "below" for x in result.layers)
    pairs = [
        ("A", a),
        ("B", b),
        ("model", mask_a.model.name or "unknown"),
        ("verdict", verdict(result)),
        (
            "overlap",
            f"{total.both:,} weights kept by both; chance {total.expected_both:,.1f} "
            f"± {total.sd_both:,.1f} ({_ratio(total.overlap_ratio)}, z = {_z(total.z)})",
        ),
        (
            "layers",
            f"{above} of {len(result.layers)} overlap more than chance, {below} less",
        ),
        (
            "jaccard",
            f"{total.jaccard:.4f} (chance {total.expected_jaccard:.4f}); B keeps "
            f"{_pct(total.a_in_b)} of A's kept weights (chance {_pct(total.expected_a_in_b)})",
        ),
    ]
    rows = [_row(x) for x in result.layers]
    table = Table(
        [
            "layer",
            "numel",
            "dens A",
            "dens B",
            "diff",
            "jaccard",
            "chance jaccard",
            "A in B",
            "chance A in B",
            "x chance",
            "z",
        ],
        rows,
        footer=_row(total),
    )
    note = [
        "chance: independent random masks with the same per-layer kept counts (the overlap is "
        "hypergeometric); x chance = overlap / its chance mean; "
        f"z = (overlap - mean) / sd; |z| < {CHANCE_Z:g} is overlap at chance"
    ]
    return Report([KeyValues(pairs), table, Lines("", note)])


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
        _ratio(x.overlap_ratio),
        _z(x.z),
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _z(value: float | None) -> str:
    # None: the kept counts fix the overlap (zero variance), so there is no spread to measure.
    return "-" if value is None else f"{value:+.1f}"
