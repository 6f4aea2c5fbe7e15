"""``maskkit report``: the paper's tables and figures from one or more experiment folders.

The numbers come from :mod:`maskkit.report` (sqlite index only: no torch); this module only
parses options, turns the views into report tables, and writes --csv and --plot files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from maskkit_cli.options import FiniteFloatRange, json_option
from maskkit_cli.report import KeyValues, Lines, Report, Table, bar, emit, stdout_is_terminal

if TYPE_CHECKING:
    from maskkit.report.tables import AblationEntry, LayerView, Matching, ReportData, Summary

FORMATS = ("png", "svg", "pdf")


@click.command()
@click.argument("folders", nargs=-1, required=True, metavar="DIR [DIR...]")
@click.option(
    "--sparsity",
    type=FiniteFloatRange(0, 1, max_open=True),
    default=None,
    help="The sparsity of the per-layer density view: one of the grid's (default: the highest that most methods have).",
)
@click.option(
    "--tolerance",
    type=FiniteFloatRange(0, 100),
    default=0.5,
    show_default=True,
    help="Percentage points below dense that still match, when dense has a single seed.",
)
@click.option(
    "--allow-mixed",
    is_flag=True,
    help="Pool folders of different models or datasets (refused otherwise).",
)
@click.option(
    "--csv",
    "csv_path",
    metavar="FILE",
    default=None,
    help="Also write one row per grid point to FILE.",
)
@click.option(
    "--plot",
    "plot_dir",
    metavar="DIR",
    default=None,
    help="Draw the figures into DIR (needs matplotlib: pip install 'maskkit[plot]').",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="png",
    show_default=True,
    help="The figures' file format.",
)
@json_option
def report(
    folders: Sequence[str],
    sparsity: float | None,
    tolerance: float,
    allow_mixed: bool,
    csv_path: str | None,
    plot_dir: str | None,
    fmt: str,
    as_json: bool,
) -> None:
    """Tables of an experiment grid: accuracy per method and sparsity, ablations, step k,
    matching sparsity, per-layer densities and MACs kept.

    Accuracies are mean +- std (ddof=1) over the seeds, with the number of seeds; columns are
    labelled with the percentage of weights remaining. Cells that did not finish are shown as
    missing and counted, never averaged in as zero. Folders given together pool their seeds.

    \b
    Example:
      maskkit report runs/lenet-grid
      maskkit report runs/a runs/b --sparsity 0.9 --plot figures/ --format svg
      maskkit report runs/lenet-grid --json | jq '.matching'
    """
    from maskkit.format.files import write_atomic
    from maskkit.report import build, load_experiments, to_csv, to_json

    experiment = load_experiments(folders, allow_mixed=allow_mixed)
    data = build(experiment, layer_sparsity=sparsity, tolerance=tolerance)
    if plot_dir is not None:
        from maskkit.report.figures import prepare

        prepare(plot_dir)  # no matplotlib, or an unwritable folder: stop before writing the CSV
    if csv_path is not None:
        write_atomic(csv_path, [to_csv(data).encode()])
    if plot_dir is not None:
        from maskkit.report.figures import draw_all
        from maskkit_cli.printable import printable

        written = draw_all(data, plot_dir, fmt)
        click.echo(f"maskkit: wrote {len(written)} figure(s) to {printable(plot_dir)}", err=True)
    emit(to_json(data), render(data), as_json=as_json)


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.2f}"


def summary_text(summary: Summary, *, mark: str = "") -> str:
    """``91.23 ± 0.45 (3)``; ``(2 of 3)`` when seeds are missing; ``missing (0 of 3)``."""
    if summary.mean is None:
        return f"missing (0 of {summary.total})"
    spread = "" if summary.std is None else f" ± {100.0 * summary.std:.2f}"
    seeds = f"{summary.n}" if not summary.missing else f"{summary.n} of {summary.total}"
    return f"{_acc(summary.mean)}{spread} ({seeds}){mark}"


def render(data: ReportData) -> Report:
    from maskkit.report.tables import NOISE_RULE, matching_rule, remaining_label

    exp = data.experiment
    counts = data.counts
    pairs = [
        ("folders" if len(exp.folders) > 1 else "folder", ", ".join(exp.folders)),
        ("model", ", ".join(sorted({m for _, m, _ in exp.sources}))),
        ("dataset", ", ".join(sorted({d for _, _, d in exp.sources}))),
        (
            "cells",
            f"{counts['cells']:,}: {counts['done']:,} done, {counts['failed']:,} failed, "
            f"{counts['not-run']:,} not run",
        ),
    ]
    blocks: list[KeyValues | Lines | Table] = [KeyValues(pairs)]
    labels = [remaining_label(s) for s in data.sparsities]

    # 1. method x sparsity (dense under 100%), with the matching sparsity marked.
    dense_column = any(r.method == "dense" for r in data.rows)
    rows = []
    for r in data.rows:
        match = data.matching_of(r.method, r.prune_at)
        cells = []
        if dense_column:
            dense = data.main.get((r.method, r.prune_at, 0.0)) if r.method == "dense" else None
            cells.append(summary_text(dense) if dense is not None else "")
        for s in data.sparsities:
            summary = data.main.get((r.method, r.prune_at, s))
            cells.append(
                "" if summary is None else summary_text(summary, mark=" *" if s == match else "")
            )
        rows.append([r.label, *cells])
    if rows:
        blocks.append(
            Table(
                ["method", *(["100%"] if dense_column else []), *labels],
                rows,
                title="test accuracy (%) by weights remaining: mean ± std (seeds)",
            )
        )
    if data.matching:
        lines = [_matching_line(m, data) for m in data.matching]
        blocks.append(Lines("", [*lines, matching_rule(data.tolerance)]))

    # 2. ablations against the unablated mask.
    if data.ablations:
        others = [a for a in data.ablations_present if a != "none"]
        columns = ["method", "k", "remaining", "none"]
        for a in others:
            columns += [a, f"Δ {a}"]
        ablation_rows = []
        unknown = False
        for row in data.ablations:
            entries = {e.ablation: e for e in row.entries}
            cells = [
                row.method,
                str(row.prune_at),
                remaining_label(row.sparsity),
                summary_text(entries["none"].summary),
            ]
            for a in others:
                entry = entries.get(a)
                if entry is None:
                    cells += ["", ""]
                    continue
                cells.append(summary_text(entry.summary))
                cells.append(_difference(entry))
                unknown |= entry.difference is not None and entry.p is None
            ablation_rows.append(cells)
        blocks.append(
            Table(
                columns,
                ablation_rows,
                title="ablations: accuracy (%) and difference from none (points)",
            )
        )
        notes = [NOISE_RULE]
        if unknown:
            notes.append("?: a single seed on one side; run more seeds to know the noise")
        blocks.append(Lines("", notes))

    # 3. accuracy against the step k.
    if data.steps:
        step_rows = []
        for (method, s, ablation), by_k in data.steps.items():
            step_rows.append(
                [method, remaining_label(s), ablation]
                + [summary_text(by_k[k]) if k in by_k else "" for k in data.step_values]
            )
        blocks.append(
            Table(
                ["method", "remaining", "ablation", *(f"k={k}" for k in data.step_values)],
                step_rows,
                title="accuracy (%) by the step k the mask was chosen at (rewind step for lottery/imp)",
            )
        )

    # 7. theoretical cost: MACs kept per method and weights remaining.
    if data.cost and any(f is not None for _, f in data.cost.values()):
        cost_rows = []
        for r in data.rows:
            if r.method == "dense":
                continue
            cells = []
            for s in data.sparsities:
                value = data.cost.get((r.method, r.prune_at, s))
                cells.append(
                    "" if value is None or value[1] is None else f"{100.0 * value[1]:.2f}%"
                )
            cost_rows.append([r.label, *cells])
        blocks.append(
            Table(
                ["method", *labels],
                cost_rows,
                title="multiply-accumulates kept (% of a dense forward pass) by weights remaining",
            )
        )

    # 5. per-layer densities at the chosen sparsity.
    if data.layer_sparsity is not None:
        for view in data.layer_views:
            blocks.append(
                _layer_table(view, data.layer_sparsity, data.label(view.method, view.prune_at))
            )

    if counts["missing"]:
        blocks.append(
            Lines(
                "",
                [
                    f"{counts['missing']:,} of {counts['cells']:,} cells have no result "
                    f"({counts['failed']:,} failed, {counts['not-run']:,} not run): "
                    "counted as missing, never as 0"
                ],
            )
        )
    if stdout_is_terminal():
        blocks = [part for block in blocks for part in _fit(block)]
    return Report(blocks)


#: per table title prefix: the leading columns repeated in every part, and how many of the
#: other columns belong together (an ablation's accuracy and its difference)
_KEYS = {
    "test accuracy": (1, 1),
    "ablations": (4, 2),
    "accuracy (%) by the step": (3, 1),
    "multiply": (1, 1),
}


def _fit(block: KeyValues | Lines | Table) -> list[KeyValues | Lines | Table]:
    """A wide table split into parts that fit the terminal, its leading columns repeated.

    rich would otherwise shrink every column and cut the numbers short with an ellipsis.
    """
    import shutil

    if not isinstance(block, Table) or block.terminal_only:
        return [block]
    keys, group = next((v for k, v in _KEYS.items() if block.title.startswith(k)), (0, 0))
    if not keys:
        return [block]
    width = shutil.get_terminal_size((120, 24)).columns

    def column_width(i: int) -> int:
        cells = [block.columns[i], *(row[i] for row in block.rows)]
        return max(len(c) for c in cells) + 3  # padding and the gap rich draws

    fixed = sum(column_width(i) for i in range(keys)) + 2
    parts: list[list[int]] = [[]]
    used = fixed
    for start in range(keys, len(block.columns), group):
        columns = list(range(start, min(start + group, len(block.columns))))
        needed = sum(column_width(i) for i in columns)
        if parts[-1] and used + needed > width:
            parts.append([])
            used = fixed
        parts[-1] += columns
        used += needed
    if len(parts) == 1:
        return [block]
    out: list[KeyValues | Lines | Table] = []
    for n, part in enumerate(parts, 1):
        chosen = list(range(keys)) + part
        out.append(
            Table(
                [block.columns[i] for i in chosen],
                [[row[i] for i in chosen] for row in block.rows],
                title=f"{block.title} ({n} of {len(parts)})",
            )
        )
    return out


def _matching_line(m: Matching, data: ReportData) -> str:
    from maskkit.report.tables import remaining_label

    name = data.label(m.method, m.prune_at)
    if m.basis == "no dense":
        return f"matching sparsity of {name}: unknown (no dense result)"
    if m.sparsity is None:
        return f"matching sparsity of {name}: none (below {_acc(m.threshold)}% at every sparsity)"
    return (
        f"matching sparsity of {name}: {m.sparsity:.4g} ({remaining_label(m.sparsity)} of weights "
        f"remaining; accuracy at least {_acc(m.threshold)}%)"
    )


def _difference(entry: AblationEntry) -> str:
    difference = entry.difference
    if difference is None:
        return "-"
    text = f"{100.0 * difference:+.2f}"
    if entry.p is None:
        return text + " ?"
    return text + (" !" if entry.flagged else "")


def _layer_table(view: LayerView, sparsity: float, name: str) -> Table:
    from maskkit.report.tables import remaining_label

    costs = all(x.macs is not None for x in view.layers)
    rows = []
    for x in view.layers:
        rows.append(
            [
                x.layer,
                f"{x.numel:,}",
                f"{x.kept:,.1f}",
                f"{x.density:.2%}",
                *([f"{x.macs:,}", f"{x.density * x.macs:,.0f}"] if costs else []),
                bar(x.density),
            ]
        )
    total_numel = sum(x.numel for x in view.layers)
    total_kept = sum(x.kept for x in view.layers)
    macs = view.macs_fraction
    total_macs = sum(x.macs or 0 for x in view.layers)
    kept_macs = sum(x.density * (x.macs or 0) for x in view.layers)
    footer = [
        "total",
        f"{total_numel:,}",
        f"{total_kept:,.1f}",
        f"{view.density:.2%}",
        *(
            [f"{total_macs:,}", f"{kept_macs:,.0f} ({macs:.2%})" if macs is not None else "-"]
            if costs
            else []
        ),
        bar(view.density),
    ]
    return Table(
        ["layer", "numel", "kept", "density", *(["MACs", "MACs kept"] if costs else []), ""],
        rows,
        title=f"{name}: layer densities at {remaining_label(sparsity)} remaining (mean of {view.seeds} seed(s))",
        terminal_only=[""],
        footer=footer,
    )
