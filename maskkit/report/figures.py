"""The report's figures, drawn with matplotlib's Agg canvas: no window, and the same bytes for
the same data.

matplotlib is an optional extra (``pip install 'maskkit[plot]'``) and is imported only here,
when a figure is asked for. No pyplot: figures are built on :class:`matplotlib.figure.Figure`
with an Agg canvas, so no global backend is chosen and nothing can open a window.
Reproducible bytes: a fixed size and dpi, no timestamp or software version in the file's
metadata, a fixed SVG hash salt, and text drawn as paths in SVG.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from maskkit.format.files import write_atomic
from maskkit.report.load import ReportError
from maskkit.report.tables import ABLATIONS, ReportData, remaining_label

FORMATS = ("png", "svg", "pdf")
#: inches and dots per inch of every figure: 800 x 500 pixels in PNG
SIZE = (8.0, 5.0)
DPI = 100
INSTALL = "pip install 'maskkit[plot]'"

# What each format would otherwise stamp into the file: a date, the software and its version.
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}
_RC = {
    "svg.hashsalt": "maskkit-report",  # the ids of clip paths and glyphs: otherwise random
    "svg.fonttype": "path",  # glyphs as paths: the same drawing whatever fonts are installed
    "pdf.compression": 6,
    "axes.prop_cycle": None,  # filled in below with a fixed colour cycle
}
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_ABLATION_STYLE = {"none": "-", "shuffle": "--", "reinit": ":", "invert": "-."}


def _matplotlib() -> Any:
    try:
        import matplotlib
        from cycler import cycler
    except ImportError:
        raise ReportError(f"--plot needs matplotlib, which is not installed: {INSTALL}") from None
    rc = dict(_RC)
    rc["axes.prop_cycle"] = cycler(color=list(_COLOURS))
    return matplotlib, rc


def check_plot_folder(folder: str | os.PathLike[str]) -> Path:
    """Create the plot folder if needed; refuse one that cannot be written, before drawing."""
    path = Path(folder)
    name = os.fspath(folder)
    if path.exists() and not path.is_dir():
        raise ReportError(f"{name}: the plot folder is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(
            f"{name}: cannot create the plot folder ({exc.strerror or exc})"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ReportError(f"{name}: the plot folder is not writable")
    return path


def prepare(folder: str | os.PathLike[str]) -> None:
    """Check, before anything is written, that figures can be drawn into ``folder``."""
    _matplotlib()
    check_plot_folder(folder)


def draw_all(data: ReportData, folder: str | os.PathLike[str], fmt: str = "png") -> list[Path]:
    """Draw every figure the data has into ``folder`` as ``NAME.fmt``; return the paths written.

    All figures are rendered in memory first, then each file is written atomically, so an
    error while drawing leaves no file, and no file is ever half-written.
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown figure format {fmt!r} (use one of {', '.join(FORMATS)})")
    matplotlib, rc = _matplotlib()
    path = check_plot_folder(folder)
    drawers: list[tuple[str, Callable[[Any, ReportData], bool]]] = [
        ("accuracy", _accuracy),
        ("ablations", _ablations),
        ("steps", _steps),
        ("layers", _layers),
    ]
    rendered: list[tuple[Path, bytes]] = []
    with matplotlib.rc_context(rc):
        for name, drawer in drawers:
            image = _render(matplotlib, data, drawer, fmt)
            if image is not None:
                rendered.append((path / f"{name}.{fmt}", image))
    for target, image in rendered:
        write_atomic(target, [image])
    return [target for target, _ in rendered]


def _render(
    matplotlib: Any, data: ReportData, drawer: Callable[[Any, ReportData], bool], fmt: str
) -> bytes | None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    if not drawer(figure, data):
        return None
    out = io.BytesIO()
    # No bbox_inches="tight": it would change the pixel size with the labels.
    figure.savefig(out, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
    return out.getvalue()


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def _accuracy(figure: Any, data: ReportData) -> bool:
    """Figure 2 of the paper: accuracy against weights remaining, log x, +-1 std bands."""
    lines = [r for r in data.rows if r.method != "dense"]
    if not lines or not data.sparsities:
        return False
    ax = figure.add_subplot(1, 1, 1)
    for index, row in enumerate(lines):
        colour = _COLOURS[index % len(_COLOURS)]
        xs, means, lows, highs = [], [], [], []
        for s in data.sparsities:
            summary = data.main.get((row.method, row.prune_at, s))
            if summary is None or summary.mean is None:
                continue
            xs.append(100.0 * (1.0 - s))
            means.append(100.0 * summary.mean)
            spread = 100.0 * (summary.std or 0.0)
            lows.append(means[-1] - spread)
            highs.append(means[-1] + spread)
        if not xs:
            continue
        ax.plot(xs, means, marker="o", markersize=3, color=colour, label=row.label)
        ax.fill_between(xs, lows, highs, color=colour, alpha=0.2, linewidth=0)
        match = data.matching_of(row.method, row.prune_at)
        if match is not None:
            summary = data.main[(row.method, row.prune_at, match)]
            ax.plot(
                [100.0 * (1.0 - match)],
                [100.0 * summary.mean],
                marker="*",
                markersize=12,
                color=colour,
                linestyle="none",
            )
    if data.dense is not None and data.dense.mean is not None:
        mean = 100.0 * data.dense.mean
        ax.axhline(mean, color="black", linewidth=1, label="dense")
        if data.dense.std is not None:
            ax.axhspan(
                mean - 100 * data.dense.std,
                mean + 100 * data.dense.std,
                color="black",
                alpha=0.1,
                linewidth=0,
            )
    _remaining_axis(ax, data)
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(_title(data, "accuracy against weights remaining"))
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return True


def _remaining_axis(ax: Any, data: ReportData) -> None:
    """A log axis of weights remaining, sparser to the right as in the paper, ticked at the grid."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ticks = [100.0 * (1.0 - s) for s in data.sparsities]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([remaining_label(s) for s in data.sparsities])
    ax.invert_xaxis()


def _grid(figure: Any, count: int) -> list[Any]:
    columns = min(3, count)
    rows = (count + columns - 1) // columns
    return [figure.add_subplot(rows, columns, i + 1) for i in range(count)]


def _ablations(figure: Any, data: ReportData) -> bool:
    """One panel per method: accuracy of each ablation against weights remaining."""
    keys = []
    for a in data.ablations:
        if (a.method, a.prune_at) not in keys:
            keys.append((a.method, a.prune_at))
    if not keys:
        return False
    for ax, (method, k) in zip(_grid(figure, len(keys)), keys, strict=True):
        rows = [a for a in data.ablations if a.method == method and a.prune_at == k]
        for index, ablation in enumerate(data.ablations_present):
            xs, ys = [], []
            for a in rows:
                entry = next((e for e in a.entries if e.ablation == ablation), None)
                if entry is not None and entry.summary.mean is not None:
                    xs.append(100.0 * (1.0 - a.sparsity))
                    ys.append(100.0 * entry.summary.mean)
            if xs:
                ax.plot(
                    xs,
                    ys,
                    marker="o",
                    markersize=3,
                    color=_COLOURS[index % len(_COLOURS)],
                    linestyle=_ABLATION_STYLE.get(ablation, "-"),
                    label=ablation,
                )
        _remaining_axis(ax, data)
        ax.set_title(data.label(method, k), fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(True, which="both", alpha=0.3)
    figure.axes[0].legend(fontsize="x-small")
    figure.supxlabel("weights remaining (%)", fontsize="small")
    figure.supylabel("test accuracy (%)", fontsize="small")
    figure.suptitle(_title(data, "ablations"), fontsize="medium")
    return True


def _steps(figure: Any, data: ReportData) -> bool:
    """One panel per method: accuracy against the step k it pruned at, per ablation and sparsity."""
    methods = []
    for method, _, _ in data.steps:
        if method not in methods:
            methods.append(method)
    if not methods:
        return False
    positions = {k: i for i, k in enumerate(data.step_values)}  # k is categorical: 0 has no log
    markers = ("o", "s", "^", "D", "v", "P", "X")
    for ax, method in zip(_grid(figure, len(methods)), methods, strict=True):
        sparsities = sorted({s for m, s, _ in data.steps if m == method})
        for (m, s, ablation), by_k in data.steps.items():
            if m != method:
                continue
            ks = [k for k in sorted(by_k) if by_k[k].mean is not None]
            if not ks:
                continue
            index = ABLATIONS.index(ablation) if ablation in ABLATIONS else len(ABLATIONS)
            ax.plot(
                [positions[k] for k in ks],
                [100.0 * by_k[k].mean for k in ks],  # type: ignore[operator]
                marker=markers[sparsities.index(s) % len(markers)],
                markersize=3,
                color=_COLOURS[index % len(_COLOURS)],
                linestyle=_ABLATION_STYLE.get(ablation, "-"),
                label=f"{ablation} {remaining_label(s)}",
            )
        ax.set_xticks(range(len(data.step_values)), [str(k) for k in data.step_values])
        ax.set_title(method, fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="xx-small")
    figure.supxlabel("step k at which the mask was chosen", fontsize="small")
    figure.supylabel("test accuracy (%)", fontsize="small")
    figure.suptitle(_title(data, "pruning after k steps"), fontsize="medium")
    return True


def _layers(figure: Any, data: ReportData) -> bool:
    """Grouped bars: each method's density of every layer at the chosen sparsity."""
    views = data.layer_views
    if not views or data.layer_sparsity is None:
        return False
    names = [x.layer for x in views[0].layers]
    ax = figure.add_subplot(1, 1, 1)
    width = 0.8 / len(views)
    for index, view in enumerate(views):
        densities = {x.layer: 100.0 * x.density for x in view.layers}
        ax.bar(
            [i + (index - (len(views) - 1) / 2) * width for i in range(len(names))],
            [densities.get(n, 0.0) for n in names],
            width=width,
            color=_COLOURS[index % len(_COLOURS)],
            label=data.label(view.method, view.prune_at),
        )
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize="xx-small")
    ax.set_ylabel("layer density (%)")
    ax.set_ylim(0, 100)
    ax.set_title(
        _title(data, f"layer densities at {remaining_label(data.layer_sparsity)} remaining")
    )
    ax.legend(fontsize="x-small")
    figure.subplots_adjust(bottom=0.3)
    return True


def _title(data: ReportData, what: str) -> str:
    meta = data.experiment.meta
    return f"{meta.get('model', '?')} on {meta.get('dataset', '?')}: {what}"
