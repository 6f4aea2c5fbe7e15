"""The report's views of an experiment: method x sparsity, ablations, step k, matching sparsity,
per-layer densities and theoretical cost. Plain data (dataclasses and dicts), no rendering.

Accuracies are fractions in [0, 1] as the index stores them; differences and tolerances are
stated in percentage points. A cell of the grid that did not finish is counted as missing,
never averaged in as zero.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from maskkit.report import stats
from maskkit.report.load import Cell, Experiment, ReportError

#: The significance level of the ablation noise rule.
ALPHA = 0.05
#: The default tolerance (percentage points) of the matching rule when dense has one seed.
DEFAULT_TOLERANCE = 0.5
ABLATIONS = ("none", "shuffle", "reinit", "invert")
#: Methods trained first and pruned after training (k is their rewind step).
AFTER_TRAINING = ("lottery", "imp")
#: The order rows are shown in: baselines first, then the paper's methods, then after-training.
METHOD_ORDER = ("dense", "random", "magnitude", "snip", "grasp", "grasp-abs", "synflow")

NOISE_RULE = (
    f"an ablation's difference is flagged (!) when Welch's t-test over the seeds gives p < {ALPHA}; "
    "with a single seed on either side the noise is unknown (?) and nothing is flagged"
)


def matching_rule(tolerance: float) -> str:
    return (
        "matching sparsity (*): the highest sparsity up to which the method's mean accuracy stays "
        "at or above mean_dense - std_dense (std over the dense seeds) at every sparsity of the "
        f"grid; with a single dense seed, mean_dense - {tolerance:g} percentage points (--tolerance)"
    )


def _key(sparsity: float) -> float:
    # Sparsities come from a TOML grid through REAL columns: equal up to float noise.
    return round(sparsity, 9)


def remaining_label(sparsity: float) -> str:
    """The paper's column label: the percentage of weights remaining.

    >>> remaining_label(0.9), remaining_label(0.893), remaining_label(0.0)
    ('10%', '10.7%', '100%')
    """
    return f"{100.0 * (1.0 - sparsity):.3g}%"


@dataclass(frozen=True)
class Summary:
    """Accuracy over the seeds of one grid point: done seeds, mean and std (None below two)."""

    values: tuple[float, ...]
    total: int  # cells of the grid at this point, done or not

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def missing(self) -> int:
        return self.total - self.n

    @property
    def mean(self) -> float | None:
        return stats.mean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return stats.std(self.values)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "missing": self.missing, "mean": self.mean, "std": self.std}


def summarise(cells: Iterable[Cell]) -> Summary:
    cells = list(cells)
    return Summary(tuple(c.test_accuracy for c in cells if c.done), len(cells))  # type: ignore[misc]


@dataclass(frozen=True)
class Row:
    """One line of method x sparsity: a method at one step k (its pruning or rewind step)."""

    method: str
    prune_at: int
    label: str


@dataclass(frozen=True)
class Matching:
    method: str
    prune_at: int
    sparsity: float | None  # None: not even the lowest sparsity matches (or no dense baseline)
    threshold: float | None  # the accuracy it must reach
    basis: str  # "std" or "tolerance" or "no dense"

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "prune_at": self.prune_at,
            "sparsity": self.sparsity,
            "remaining": None if self.sparsity is None else round(1.0 - self.sparsity, 9),
            "threshold": self.threshold,
            "basis": self.basis,
        }


@dataclass(frozen=True)
class AblationEntry:
    ablation: str
    summary: Summary
    difference: float | None  # mean(ablation) - mean(none), as a fraction
    p: float | None  # None: noise unknown (a single seed) or nothing to compare
    flagged: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "ablation": self.ablation,
            **self.summary.to_json(),
            "difference": self.difference,
            "p": self.p,
            "flagged": self.flagged,
            "noise_known": self.p is not None,
        }


@dataclass(frozen=True)
class AblationRow:
    method: str
    prune_at: int
    sparsity: float
    entries: tuple[AblationEntry, ...]  # "none" first


@dataclass(frozen=True)
class LayerDensity:
    layer: str
    numel: int
    kept: float  # mean over the seeds
    macs: int | None

    @property
    def density(self) -> float:
        return self.kept / self.numel if self.numel else 1.0


@dataclass(frozen=True)
class LayerView:
    method: str
    prune_at: int
    seeds: int
    layers: tuple[LayerDensity, ...]

    @property
    def density(self) -> float:
        numel = sum(x.numel for x in self.layers)
        return sum(x.kept for x in self.layers) / numel if numel else 1.0

    @property
    def macs_fraction(self) -> float | None:
        if any(x.macs is None for x in self.layers):
            return None
        total = sum(x.macs for x in self.layers)  # type: ignore[misc]
        return sum(x.density * x.macs for x in self.layers) / total if total else None  # type: ignore[operator]


@dataclass
class ReportData:
    """Every view of ``maskkit report``, computed once from the pooled cells."""

    experiment: Experiment
    tolerance: float
    sparsities: list[float]  # of the pruned cells, ascending
    rows: list[Row]
    main: dict[tuple[str, int, float], Summary]
    dense: Summary | None
    matching: list[Matching]
    ablations: list[AblationRow]
    ablations_present: list[str]
    steps: dict[tuple[str, float, str], dict[int, Summary]]  # (method, sparsity, ablation) -> k
    step_values: list[int]
    layer_sparsity: float | None
    layer_views: list[LayerView]
    cost: dict[tuple[str, int, float], tuple[float | None, float | None]] = field(
        default_factory=dict
    )
    counts: dict[str, int] = field(default_factory=dict)

    def label(self, method: str, prune_at: int) -> str:
        """The row label of a method at step k: its name, with k when it has several rows."""
        for r in self.rows:
            if r.method == method and r.prune_at == prune_at:
                return r.label
        return method if prune_at == 0 else f"{method} (k={prune_at})"

    def matching_of(self, method: str, prune_at: int) -> float | None:
        for m in self.matching:
            if m.method == method and m.prune_at == prune_at:
                return m.sparsity
        return None


def _method_rank(method: str) -> tuple[int, str]:
    if method in METHOD_ORDER:
        return (METHOD_ORDER.index(method), method)
    if method in AFTER_TRAINING:
        return (len(METHOD_ORDER) + 1 + AFTER_TRAINING.index(method), method)
    return (len(METHOD_ORDER), method)


def build(
    exp: Experiment, *, layer_sparsity: float | None = None, tolerance: float = DEFAULT_TOLERANCE
) -> ReportData:
    """All views of the report. ``layer_sparsity`` must be one of the grid's (else ReportError)."""
    if not tolerance >= 0:
        raise ReportError(f"--tolerance must be at least 0 percentage points, not {tolerance}")
    groups: dict[tuple[str, str, float, int], list[Cell]] = {}
    for cell in exp.cells:
        groups.setdefault(
            (cell.method, cell.ablation, _key(cell.sparsity), cell.prune_at), []
        ).append(cell)
    summaries = {k: summarise(v) for k, v in groups.items()}
    sparsities = sorted({k[2] for k in groups if k[0] != "dense"})
    methods = sorted({k[0] for k in groups}, key=_method_rank)

    # The at-init view of each scoring method is its earliest step k (0 = at initialisation);
    # after-training methods get one row per rewind step, which changes them a lot.
    rows: list[Row] = []
    for method in methods:
        ks = sorted({k[3] for k in groups if k[0] == method and k[1] == "none"})
        if not ks:
            continue
        if method in AFTER_TRAINING:
            rows += [Row(method, k, method if len(ks) == 1 else f"{method} (k={k})") for k in ks]
        elif method == "dense":
            rows.append(Row(method, ks[0], method))
        else:
            rows.append(Row(method, ks[0], method if ks[0] == 0 else f"{method} (k={ks[0]})"))
    main = {
        (r.method, r.prune_at, s): summaries[(r.method, "none", s, r.prune_at)]
        for r in rows
        for s in ([*sparsities, 0.0] if r.method == "dense" else sparsities)
        if (r.method, "none", s, r.prune_at) in summaries
    }
    dense_cells = [c for c in exp.cells if c.method == "dense" and c.ablation == "none"]
    dense = summarise(dense_cells) if dense_cells else None
    matching = [
        matching_sparsity(r.method, r.prune_at, main, sparsities, dense, tolerance)
        for r in rows
        if r.method in AFTER_TRAINING
    ]

    present = [a for a in ABLATIONS if any(k[1] == a for k in groups)]
    present += sorted({k[1] for k in groups} - set(ABLATIONS))
    ablations = _ablations(groups, summaries, methods, sparsities, present)

    steps: dict[tuple[str, float, str], dict[int, Summary]] = {}
    for (method, ablation, s, k), summary in summaries.items():
        if method == "dense":
            continue
        if len({kk[3] for kk in groups if kk[0] == method}) > 1:
            steps.setdefault((method, s, ablation), {})[k] = summary
    step_values = sorted({k for by_k in steps.values() for k in by_k})
    steps = dict(
        sorted(
            steps.items(),
            key=lambda item: (_method_rank(item[0][0]), item[0][1], _ablation_rank(item[0][2])),
        )
    )

    if layer_sparsity is not None:
        wanted = _key(layer_sparsity)
        if wanted not in sparsities:
            listed = ", ".join(f"{s:g}" for s in sparsities) or "none"
            raise ReportError(
                f"{exp.folders[0]}: the grid has no sparsity {layer_sparsity:g} (it has {listed})"
            )
        layer_sparsity = wanted
    elif sparsities:
        # By default the sparsity most methods have per-layer counts at (the highest of those),
        # so the view compares methods rather than showing one.
        layer_sparsity = max(sparsities, key=lambda s: (len(layer_views(exp, rows, s)), s))
    views = [] if layer_sparsity is None else layer_views(exp, rows, layer_sparsity)

    cost: dict[tuple[str, int, float], tuple[float | None, float | None]] = {}
    for r in rows:
        for s in sparsities:
            cells = [c for c in groups.get((r.method, "none", s, r.prune_at), []) if c.done]
            if cells:
                cost[(r.method, r.prune_at, s)] = _mean_cost(exp, cells)

    counts = {
        status: sum(c.status == status for c in exp.cells)
        for status in ("done", "failed", "not-run")
    }
    counts["cells"] = len(exp.cells)
    counts["missing"] = counts["cells"] - sum(c.done for c in exp.cells)
    return ReportData(
        experiment=exp,
        tolerance=tolerance,
        sparsities=sparsities,
        rows=rows,
        main=main,
        dense=dense,
        matching=matching,
        ablations=ablations,
        ablations_present=present,
        steps=steps,
        step_values=step_values,
        layer_sparsity=layer_sparsity,
        layer_views=views,
        cost=cost,
        counts=counts,
    )


def _ablation_rank(ablation: str) -> tuple[int, str]:
    return (ABLATIONS.index(ablation) if ablation in ABLATIONS else len(ABLATIONS), ablation)


def matching_sparsity(
    method: str,
    prune_at: int,
    main: dict[tuple[str, int, float], Summary],
    sparsities: Sequence[float],
    dense: Summary | None,
    tolerance: float,
) -> Matching:
    """The highest sparsity up to which ``method`` keeps mean >= mean_dense - std_dense.

    Grid points with no finished seed are skipped (unknown, not a failure); the first point
    below the threshold ends the run, so a lucky seed at a high sparsity after a failure does
    not count.
    """
    if dense is None or dense.mean is None:
        return Matching(method, prune_at, None, None, "no dense")
    if dense.std is not None:
        threshold, basis = dense.mean - dense.std, "std"
    else:
        threshold, basis = dense.mean - tolerance / 100.0, "tolerance"
    best = None
    for s in sparsities:
        summary = main.get((method, prune_at, s))
        if summary is None or summary.mean is None:
            continue
        if summary.mean < threshold:
            break
        best = s
    return Matching(method, prune_at, best, threshold, basis)


def _ablations(
    groups: dict[tuple[str, str, float, int], list[Cell]],
    summaries: dict[tuple[str, str, float, int], Summary],
    methods: Sequence[str],
    sparsities: Sequence[float],
    present: Sequence[str],
) -> list[AblationRow]:
    out = []
    others = [a for a in present if a != "none"]
    if not others:
        return out
    for method in methods:
        if method == "dense":
            continue
        ks = sorted({k[3] for k in groups if k[0] == method})
        for k in ks:
            for s in sparsities:
                base = summaries.get((method, "none", s, k))
                if not any((method, a, s, k) in summaries for a in others):
                    continue
                entries = [AblationEntry("none", base or Summary((), 0), None, None, False)]
                for a in others:
                    summary = summaries.get((method, a, s, k))
                    if summary is None:
                        continue
                    entries.append(_compare(a, base, summary))
                out.append(AblationRow(method, k, s, tuple(entries)))
    return out


def _compare(ablation: str, base: Summary | None, summary: Summary) -> AblationEntry:
    if base is None or base.mean is None or summary.mean is None:
        return AblationEntry(ablation, summary, None, None, False)
    test = stats.welch(base.values, summary.values)
    difference = summary.mean - base.mean
    if test is None:
        return AblationEntry(ablation, summary, difference, None, False)
    return AblationEntry(ablation, summary, difference, test.p, test.p < ALPHA)


def layer_views(exp: Experiment, rows: Sequence[Row], sparsity: float) -> list[LayerView]:
    """Each method's mean per-layer kept count at ``sparsity`` (unablated masks, done seeds)."""
    views = []
    for r in rows:
        if r.method == "dense":
            continue
        cells = [
            c
            for c in exp.cells
            if c.method == r.method
            and c.ablation == "none"
            and c.prune_at == r.prune_at
            and _key(c.sparsity) == sparsity
            and c.done
            and (c.folder, c.cell_id) in exp.layers
        ]
        if not cells:
            continue
        order = list(exp.layers[(cells[0].folder, cells[0].cell_id)])
        layers = []
        for name in order:
            counts = [exp.layers[(c.folder, c.cell_id)].get(name) for c in cells]
            known = [x for x in counts if x is not None]
            numel = known[0][0]
            kept = stats.mean([float(k) for _, k in known])
            cost = exp.layer_costs.get(name)
            layers.append(LayerDensity(name, numel, kept, None if cost is None else cost[1]))
        views.append(LayerView(r.method, r.prune_at, len(cells), tuple(layers)))
    return views


def cell_cost(exp: Experiment, cell: Cell) -> tuple[float | None, float | None]:
    """(fraction of weights kept, fraction of a forward pass's MACs kept) of one done cell.

    MACs kept = sum over layers of (kept / numel) x macs, over the sum of macs: a pruned
    weight of a convolution saves one multiply-accumulate per output position.
    """
    weights = cell.kept / cell.prunable if cell.kept is not None and cell.prunable else None
    layers = exp.layers.get((cell.folder, cell.cell_id))
    if not layers or not exp.layer_costs:
        return weights, None
    total = 0
    kept = 0.0
    for name, (numel, macs) in exp.layer_costs.items():
        counts = layers.get(name)
        if counts is None:
            return weights, None
        total += macs
        kept += counts[1] / numel * macs if numel else macs
    return weights, (kept / total if total else None)


def _mean_cost(exp: Experiment, cells: Sequence[Cell]) -> tuple[float | None, float | None]:
    costs = [cell_cost(exp, c) for c in cells]
    weights = [w for w, _ in costs if w is not None]
    macs = [m for _, m in costs if m is not None]
    return (
        stats.mean(weights) if len(weights) == len(costs) else None,
        stats.mean(macs) if len(macs) == len(costs) else None,
    )


def to_json(data: ReportData) -> dict[str, Any]:
    """The ``--json`` document: every view, with None (null) where a value does not exist."""
    exp = data.experiment

    def summary_of(method: str, k: int, s: float) -> dict[str, Any] | None:
        summary = data.main.get((method, k, s))
        return None if summary is None else summary.to_json()

    return {
        "folders": [{"folder": f, "model": m, "dataset": d} for f, m, d in exp.sources],
        "model": exp.meta.get("model"),
        "dataset": exp.meta.get("dataset"),
        "prunable": _int_or_none(exp.meta.get("prunable")),
        "counts": data.counts,
        "sparsities": data.sparsities,
        "dense": None if data.dense is None else data.dense.to_json(),
        "methods": [
            {
                "method": r.method,
                "prune_at": r.prune_at,
                "label": r.label,
                "cells": [
                    {
                        "sparsity": s,
                        "remaining": round(1.0 - s, 9),
                        **(summary_of(r.method, r.prune_at, s) or {}),
                    }
                    for s in ([0.0] if r.method == "dense" else data.sparsities)
                    if (r.method, r.prune_at, s) in data.main
                ],
            }
            for r in data.rows
        ],
        "matching": {
            "rule": matching_rule(data.tolerance),
            "tolerance_pp": data.tolerance,
            "results": [m.to_json() for m in data.matching],
        },
        "ablations": {
            "rule": NOISE_RULE,
            "alpha": ALPHA,
            "rows": [
                {
                    "method": a.method,
                    "prune_at": a.prune_at,
                    "sparsity": a.sparsity,
                    "entries": [e.to_json() for e in a.entries],
                }
                for a in data.ablations
            ],
        },
        "steps": [
            {
                "method": method,
                "sparsity": s,
                "ablation": ablation,
                "by_step": [{"prune_at": k, **v.to_json()} for k, v in sorted(by_k.items())],
            }
            for (method, s, ablation), by_k in data.steps.items()
        ],
        "layers": {
            "sparsity": data.layer_sparsity,
            "methods": [
                {
                    "method": v.method,
                    "prune_at": v.prune_at,
                    "seeds": v.seeds,
                    "density": v.density,
                    "macs_fraction": v.macs_fraction,
                    "layers": [
                        {
                            "layer": x.layer,
                            "numel": x.numel,
                            "kept": x.kept,
                            "density": x.density,
                            "macs": x.macs,
                        }
                        for x in v.layers
                    ],
                }
                for v in data.layer_views
            ],
        },
        "cost": [
            {"method": m, "prune_at": k, "sparsity": s, "weights_fraction": w, "macs_fraction": f}
            for (m, k, s), (w, f) in data.cost.items()
        ],
        "cells": [_cell_json(exp, c) for c in exp.cells],
    }


def _cell_json(exp: Experiment, cell: Cell) -> dict[str, Any]:
    weights, macs = cell_cost(exp, cell) if cell.done else (None, None)
    return {
        "folder": cell.folder,
        "cell_id": cell.cell_id,
        "method": cell.method,
        "sparsity": cell.sparsity,
        "ablation": cell.ablation,
        "seed": cell.seed,
        "prune_at": cell.prune_at,
        "status": cell.status,
        "test_accuracy": cell.test_accuracy,
        "test_loss": cell.test_loss,
        "weights_fraction": weights,
        "macs_fraction": macs,
        "error": cell.error,
    }


def _int_or_none(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


CSV_COLUMNS = (
    "method",
    "ablation",
    "prune_at",
    "sparsity",
    "remaining",
    "n",
    "missing",
    "mean",
    "std",
    "weights_fraction",
    "macs_fraction",
)


def to_csv(data: ReportData) -> str:
    """One row per grid point (method, ablation, k, sparsity): seeds, mean, std and cost.

    Empty fields for values that do not exist (a std of one seed, an all-missing point).
    """
    exp = data.experiment
    groups: dict[tuple[str, str, int, float], list[Cell]] = {}
    for cell in exp.cells:
        groups.setdefault(
            (cell.method, cell.ablation, cell.prune_at, _key(cell.sparsity)), []
        ).append(cell)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for key in sorted(groups, key=lambda k: (_method_rank(k[0]), _ablation_rank(k[1]), k[2], k[3])):
        method, ablation, k, s = key
        cells = groups[key]
        summary = summarise(cells)
        weights, macs = _mean_cost(exp, [c for c in cells if c.done]) if summary.n else (None, None)
        writer.writerow(
            [
                method,
                ablation,
                k,
                _num(s),
                _num(1.0 - s),
                summary.n,
                summary.missing,
                _num(summary.mean),
                _num(summary.std),
                _num(weights),
                _num(macs),
            ]
        )
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else format(float(value), ".10g")
