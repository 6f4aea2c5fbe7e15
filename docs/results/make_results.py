"""Make RESULTS.md's numbers: the report's CSV files and figures, and every generated block.

    python docs/results/make_results.py /tmp/results/lenet300 /tmp/results/lenet5
    python docs/results/make_results.py --check

The first form runs ``maskkit report DIR --csv docs/results/NAME.csv --plot docs/results/NAME/``
for each results folder (NAME is the folder's name), writes ``NAME-cells.csv`` (one row per
cell, straight from the folder's index: the per-seed accuracies Welch's test needs) and
``run.json`` (commit, wall times, cores, torch version, training lengths), then rewrites the
generated blocks of RESULTS.md and README.md. ``--check`` only re-renders the blocks and exits 1
if a document differs.

Every block is rendered from the committed files in docs/results/ alone, never from a results
folder, so tests/test_results_doc.py can re-render them anywhere. A block is delimited by
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``; what lies between is replaced.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DOCUMENTS = (ROOT / "RESULTS.md", ROOT / "README.md")

#: the nets, in the order the documents show them, with their results folder's name
NETS = (("lenet300", "LeNet-300-100"), ("lenet5", "LeNet-5"))
AT_INIT = ("magnitude", "snip", "grasp", "synflow")
METHODS = ("dense", "random", *AT_INIT, "lottery")
#: OpenLTH trains the MNIST LeNets 40 epochs (the paper's setting)
OPENLTH_EPOCHS = 40
ALPHA = 0.05  # the report's significance level (maskkit.report.tables.ALPHA)
GRIDS = {
    "lenet300": "examples/grids/mnist-lenet300.toml",
    "lenet5": "examples/grids/mnist-lenet5.toml",
}

BLOCK = re.compile(r"<!-- generated:([\w.-]+) -->\n(.*?)<!-- /generated:\1 -->", re.S)


# -- the committed data ---------------------------------------------------------------------------
def key(sparsity: float) -> float:
    return round(sparsity, 9)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _float(text: str) -> float | None:
    return None if text == "" else float(text)


@dataclass(frozen=True)
class Point:
    """One grid point of the report CSV: mean and std over the seeds done, and how many."""

    n: int
    missing: int
    mean: float | None
    std: float | None


class Net:
    """One net's committed files: the report CSV and the per-cell CSV."""

    def __init__(self, results: Path, name: str, title: str) -> None:
        self.name = name
        self.title = title
        self.points: dict[tuple[str, str, int, float], Point] = {}
        for r in _read_csv(results / f"{name}.csv"):
            self.points[
                (r["method"], r["ablation"], int(r["prune_at"]), key(float(r["sparsity"])))
            ] = Point(int(r["n"]), int(r["missing"]), _float(r["mean"]), _float(r["std"]))
        self.values: dict[tuple[str, str, int, float], list[float]] = {}
        for r in _read_csv(results / f"{name}-cells.csv"):
            k = (r["method"], r["ablation"], int(r["prune_at"]), key(float(r["sparsity"])))
            bucket = self.values.setdefault(k, [])
            if r["status"] == "done" and r["test_accuracy"] != "":
                bucket.append(float(r["test_accuracy"]))
        self.sparsities = sorted({k[3] for k in self.points if k[0] != "dense"})
        self.steps = sorted({k[2] for k in self.points if k[0] in AT_INIT and k[2] > 0})
        ks = [k[3] for k in self.points if k[0] in AT_INIT and k[2] > 0]
        self.step_sparsity = ks[0] if ks else None

    def accuracies(self, method: str, ablation: str, k: int, s: float) -> list[float]:
        return self.values.get((method, ablation, k, key(s)), [])


def load_nets(results: Path = HERE) -> list[Net]:
    return [Net(results, name, title) for name, title in NETS if (results / f"{name}.csv").exists()]


# -- formatting ---------------------------------------------------------------------------------
def remaining(s: float) -> str:
    from maskkit.report.tables import remaining_label

    return remaining_label(s)


def pct(x: float) -> str:
    return f"{100.0 * x:.2f}"


def summary(p: Point | None) -> str:
    """``97.57 ± 0.10 (3)``, ``(2 of 3)`` with seeds missing, ``missing`` with none done."""
    if p is None:
        return ""
    if p.mean is None:
        return f"missing (0 of {p.n + p.missing})"
    spread = "" if p.std is None else f" ± {pct(p.std)}"
    seeds = str(p.n) if not p.missing else f"{p.n} of {p.n + p.missing}"
    return f"{pct(p.mean)}{spread} ({seeds})"


def p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


@dataclass(frozen=True)
class Comparison:
    """mean(b) - mean(a) over the seeds, with Welch's p (None when a side has under 2 seeds)."""

    difference: float | None
    p: float | None

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < ALPHA

    def text(self) -> str:
        if self.difference is None:
            return "missing"
        out = f"{100.0 * self.difference:+.2f}"
        if self.p is None:
            return out + " (p ?)"
        return out + f" (p {p_text(self.p)})" + (" !" if self.significant else "")


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    from maskkit.report import stats

    if not a or not b:
        return Comparison(None, None)
    test = stats.welch(a, b)
    difference = stats.mean(b) - stats.mean(a)
    return Comparison(difference, None if test is None else test.p)


def table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


DELTA_NOTE = (
    "Differences are in percentage points of test accuracy, mean over seeds minus mean over "
    f"seeds; p is Welch's two-sided t-test over the seeds (`maskkit.report.stats.welch`); "
    f"! marks p < {ALPHA}.\n"
)


# -- blocks: the grids ----------------------------------------------------------------------------
def accuracy_block(net: Net) -> str:
    labels = [remaining(s) for s in net.sparsities]
    rows = []
    for method in METHODS:
        if method == "dense":
            dense = net.points.get(("dense", "none", 0, 0.0))
            if dense is not None:
                rows.append(["dense", summary(dense), *[""] * len(labels)])
            continue
        cells = [summary(net.points.get((method, "none", 0, s))) for s in net.sparsities]
        if any(cells):
            rows.append([method, "", *cells])
    head = (
        f"{net.title}: test accuracy (%) by weights remaining, mean ± std (seeds done); "
        "pruned at initialisation (lottery: magnitude after training, rewound to step 0).\n\n"
    )
    return head + table(["method", "100%", *labels], rows)


ABLATED = ("shuffle", "reinit", "invert")


def ablation_rows(
    net: Net,
    methods: Sequence[str],
    ks: Callable[[str], Sequence[int]],
    sparsities: Callable[[str], Sequence[float]],
) -> list[list[str]]:
    rows = []
    for method in methods:
        for k in ks(method):
            for s in sparsities(method):
                base = net.points.get((method, "none", k, key(s)))
                if base is None:
                    continue
                cells = [method, str(k), remaining(s), summary(base)]
                for a in ABLATED:
                    point = net.points.get((method, a, k, key(s)))
                    if point is None:
                        cells += ["", ""]
                        continue
                    c = compare(
                        net.accuracies(method, "none", k, s), net.accuracies(method, a, k, s)
                    )
                    cells += [summary(point), c.text()]
                rows.append(cells)
    return rows


def ablations_block(net: Net) -> str:
    columns = ["method", "k", "remaining", "none"]
    for a in ABLATED:
        columns += [a, f"Δ {a}"]
    rows = ablation_rows(
        net, ("random", *AT_INIT, "lottery"), lambda m: [0], lambda m: net.sparsities
    )
    return (
        f"{net.title}: each ablation against the unablated mask (accuracy %, mean ± std (seeds)).\n\n"
        + table(columns, rows)
        + "\n"
        + DELTA_NOTE
    )


def prune_at_block(net: Net) -> str:
    if net.step_sparsity is None:
        return f"{net.title}: no pruning after initialisation in this grid.\n"
    columns = ["method", "k", "remaining", "none", "Δ none vs k=0"]
    for a in ABLATED:
        columns += [a, f"Δ {a}"]
    rows = []
    s = net.step_sparsity
    for method in AT_INIT:
        for k in [0, *net.steps]:
            base = net.points.get((method, "none", k, key(s)))
            if base is None:
                continue
            versus = (
                ""
                if k == 0
                else compare(
                    net.accuracies(method, "none", 0, s), net.accuracies(method, "none", k, s)
                ).text()
            )
            cells = [method, str(k), remaining(s), summary(base), versus]
            for a in ABLATED:
                point = net.points.get((method, a, k, key(s)))
                c = compare(net.accuracies(method, "none", k, s), net.accuracies(method, a, k, s))
                cells += [summary(point), c.text() if point is not None else ""]
            rows.append(cells)
    return (
        f"{net.title}: pruned after k steps of dense training (scored on the step-k weights, "
        f"trained from them), at {remaining(s)} remaining.\n\n"
        + table(columns, rows)
        + "\n"
        + DELTA_NOTE
    )


# -- blocks: the claims ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    net: str
    label: str
    by_sparsity: dict[float, Comparison]


def claim_table(
    evidence: Sequence[Evidence], sparsities: Sequence[float], sign: int, what: str
) -> str:
    """A row per comparison, a column per sparsity, and a tally of the signs the claim expects.

    ``sign`` is the sign of the difference the claim predicts (+1: higher, -1: lower, 0: none).
    """
    labels = [remaining(s) for s in sparsities]
    rows = [
        [
            e.net,
            e.label,
            *(e.by_sparsity[s].text() if s in e.by_sparsity else "" for s in sparsities),
        ]
        for e in evidence
    ]
    every = [c for e in evidence for c in e.by_sparsity.values() if c.difference is not None]
    agree = sum(1 for c in every if sign and c.difference * sign > 0)
    agree_sig = sum(1 for c in every if sign and c.difference * sign > 0 and c.significant)
    against_sig = sum(1 for c in every if c.significant and (sign == 0 or c.difference * sign < 0))
    if sign:
        direction = "higher" if sign > 0 else "lower"
        tally = (
            f"Tally: {len(every)} comparisons; {agree} go the claimed way ({direction}), "
            f"{agree_sig} of them with p < {ALPHA}; {against_sig} go the other way with p < {ALPHA}.\n"
        )
    else:
        tally = (
            f"Tally: {len(every)} comparisons; the claim is no change; {against_sig} differ with "
            f"p < {ALPHA}, {sum(1 for c in every if c.significant and c.difference < 0)} of them lower.\n"
        )
    return what + "\n\n" + table(["net", "comparison", *labels], rows) + "\n" + tally


def _all_sparsities(nets: Sequence[Net]) -> list[float]:
    return sorted({s for net in nets for s in net.sparsities})


def claim_a(nets: Sequence[Net]) -> str:
    ev = [
        Evidence(
            net.title,
            f"{m} − random",
            {
                s: compare(net.accuracies("random", "none", 0, s), net.accuracies(m, "none", 0, s))
                for s in net.sparsities
            },
        )
        for net in nets
        for m in AT_INIT
    ]
    return claim_table(
        ev,
        _all_sparsities(nets),
        +1,
        "(a) Each at-initialisation method against random pruning, unablated, k = 0.",
    )


def claim_b(nets: Sequence[Net]) -> str:
    ev = [
        Evidence(
            net.title,
            f"lottery − {m}",
            {
                s: compare(net.accuracies(m, "none", 0, s), net.accuracies("lottery", "none", 0, s))
                for s in net.sparsities
            },
        )
        for net in nets
        for m in AT_INIT
    ]
    return claim_table(
        ev,
        _all_sparsities(nets),
        +1,
        "(b) Magnitude pruning after training (lottery, rewound to step 0) against "
        "each at-initialisation method.",
    )


def _ablation_evidence(
    nets: Sequence[Net], methods: Sequence[str], ablation: str
) -> list[Evidence]:
    return [
        Evidence(
            net.title,
            f"{m}: {ablation} − none",
            {
                s: compare(net.accuracies(m, "none", 0, s), net.accuracies(m, ablation, 0, s))
                for s in net.sparsities
            },
        )
        for net in nets
        for m in methods
    ]


def claim_c(nets: Sequence[Net]) -> str:
    s = _all_sparsities(nets)
    at_init = _ablation_evidence(nets, AT_INIT, "shuffle") + _ablation_evidence(
        nets, AT_INIT, "reinit"
    )
    after = _ablation_evidence(nets, ["lottery"], "shuffle") + _ablation_evidence(
        nets, ["lottery"], "reinit"
    )
    return (
        claim_table(
            at_init,
            s,
            0,
            "(c), first half: shuffling and re-initialising the "
            "at-initialisation methods' masks (the paper: no change, or better).",
        )
        + "\n"
        + claim_table(
            after,
            s,
            -1,
            "(c), second half: shuffling and re-initialising the mask "
            "found by magnitude pruning after training (the paper: lower).",
        )
    )


def claim_d(nets: Sequence[Net]) -> str:
    s = _all_sparsities(nets)
    hurt = _ablation_evidence(nets, ("snip", "synflow", "magnitude"), "invert")
    grasp = _ablation_evidence(nets, ("grasp",), "invert")
    return (
        claim_table(
            hurt,
            s,
            -1,
            "(d), first half: inverting SNIP's, SynFlow's and magnitude's "
            "scores (keep the lowest; the paper: lower).",
        )
        + "\n"
        + claim_table(
            grasp,
            s,
            0,
            "(d), second half: inverting GraSP's scores (the paper: no change, or better).",
        )
    )


def claim_e(nets: Sequence[Net]) -> str:
    parts = []
    for net in nets:
        if net.step_sparsity is None:
            continue
        s = net.step_sparsity
        columns = ["method", *(f"k={k}" for k in net.steps)]
        rises = []
        for m in AT_INIT:
            rises.append(
                [
                    m,
                    *(
                        compare(
                            net.accuracies(m, "none", 0, s), net.accuracies(m, "none", k, s)
                        ).text()
                        for k in net.steps
                    ),
                ]
            )
        hurt_cols = ["method", "ablation", *(f"k={k}" for k in [0, *net.steps])]
        hurts = []
        for m in AT_INIT:
            for a in ("shuffle", "reinit"):
                hurts.append(
                    [
                        m,
                        a,
                        *(
                            compare(
                                net.accuracies(m, "none", k, s), net.accuracies(m, a, k, s)
                            ).text()
                            for k in [0, *net.steps]
                        ),
                    ]
                )
        parts.append(
            f"(e) {net.title} at {remaining(s)} remaining. Unablated accuracy at step k minus at "
            f"k = 0:\n\n"
            + table(columns, rises)
            + f"\n{net.title}: each ablation minus the unablated mask, at each step k:\n\n"
            + table(hurt_cols, hurts)
        )
    return "\n".join(parts)


# -- blocks: the run and the training ---------------------------------------------------------------
def run_block(run: dict[str, Any], nets: Sequence[Net]) -> str:
    rows = []
    for name, title in NETS:
        g = run["grids"].get(name)
        if g is None:
            continue
        wall = (
            "not finished"
            if g.get("wall_s") is None
            else f"{g['wall_s'] / 60:.1f} min ({g['wall_s']} s)"
        )
        net = next((n for n in nets if n.name == name), None)
        done = total = 0
        if net is not None:
            total = sum(len(v) for v in net.values.values()) + sum(
                p.missing for p in net.points.values()
            )
            done = sum(len(v) for v in net.values.values())
        rows.append([title, f"`{g['grid']}`", f"{done} of {total}", wall])
    commands = "\n".join(run["commands"])
    return (
        f"Grids run at commit `{run['commit']}` on {run['cores']} CPU cores, torch "
        f"{run['torch']}, with `--jobs {run['jobs']}`:\n\n"
        + table(["net", "grid", "cells done", "wall time"], rows)
        + f"\nDead-pixel study at commit `{run.get('study_commit', 'unknown')}`.\n\n"
        + f"```sh\n{commands}\n```\n"
    )


def training_block(run: dict[str, Any], nets: Sequence[Net]) -> str:
    rows = []
    for net in nets:
        g = run["grids"][net.name]
        t = g["training"]
        steps_per_epoch = -(-g["train_size"] // t["batch_size"])
        steps = t["steps"] if "steps" in t else t["epochs"] * steps_per_epoch
        full = OPENLTH_EPOCHS * steps_per_epoch
        length = f"{t['epochs']} epochs" if "epochs" in t else f"{t['steps']} steps"
        rows.append(
            [
                net.title,
                length,
                f"{steps:,}",
                f"{steps / steps_per_epoch:.2f}",
                f"{100.0 * steps / full:.1f}%",
                summary(net.points.get(("dense", "none", 0, 0.0))),
            ]
        )
    return table(
        [
            "net",
            "training",
            "steps",
            "epochs",
            f"of OpenLTH's {OPENLTH_EPOCHS} epochs",
            "dense accuracy (%)",
        ],
        rows,
    )


# -- blocks: the dead-pixel study -----------------------------------------------------------------
def _dead_rows(results: Path) -> list[dict[str, str]]:
    path = results / "lenet300-dead-pixels.csv"
    return _read_csv(path) if path.exists() else []


def dead_pixels_block(results: Path, nets: Sequence[Net]) -> str:
    from maskkit.report import stats

    rows = _dead_rows(results)
    net = next((n for n in nets if n.name == "lenet300"), None)
    if not rows or net is None:
        return "The dead-pixel measurement has not been run.\n"
    dead, inputs = int(rows[0]["dead_pixels"]), int(rows[0]["inputs"])
    share: dict[tuple[str, str, float], list[float]] = {}
    for r in rows:
        if r["prune_at"] != "0":
            continue
        share.setdefault((r["method"], r["ablation"], key(float(r["sparsity"]))), []).append(
            float(r["dead_fraction"])
        )
    sparsities = sorted({k[2] for k in share})
    columns = ["method", "mask", *(remaining(s) for s in sparsities)]
    out = []
    for method in ("random", *AT_INIT, "lottery"):
        for a in ("none", "shuffle", "invert"):
            values = [share.get((method, a, s)) for s in sparsities]
            if not any(values):
                continue
            out.append(
                [method, a, *("" if not v else f"{100.0 * stats.mean(v):.2f}%" for v in values)]
            )
    lost = []
    for method in ("random", *AT_INIT, "lottery"):
        cells = []
        for s in sparsities:
            none = share.get((method, "none", s))
            c = compare(
                net.accuracies(method, "none", 0, s), net.accuracies(method, "shuffle", 0, s)
            )
            cells.append("" if not none else f"{100.0 * stats.mean(none):.1f}% / {c.text()}")
        lost.append([method, *cells])
    extra: dict[tuple[str, str, float], list[tuple[float, int]]] = {}
    for r in rows:
        if r["prune_at"] == "0":
            extra.setdefault((r["method"], r["ablation"], key(float(r["sparsity"]))), []).append(
                (float(r["variance_ratio"]), int(r["empty_units"]))
            )
    spread = []
    for method in ("random", *AT_INIT, "lottery"):
        for a in ("none", "shuffle"):
            values = [extra.get((method, a, s)) for s in sparsities]
            if not any(values):
                continue
            spread.append(
                [method, a]
                + [
                    ""
                    if not v
                    else f"{stats.mean([x for x, _ in v]):.2f} / {stats.mean([float(u) for _, u in v]):.1f}"
                    for v in values
                ]
            )
    return (
        f"{dead} of the {inputs} input pixels are 0 on every MNIST training image (a uniform "
        f"share of the first layer's weights on them is {100.0 * dead / inputs:.2f}%). Share of "
        "the first layer's kept weights that read those pixels, mean over seeds (reinit keeps "
        "the unablated mask):\n\n"
        + table(columns, out)
        + "\nThe same share of the unablated mask, beside the accuracy shuffling costs (shuffle − "
        "none, points, Welch's p):\n\n"
        + table(["method", *(remaining(s) for s in sparsities)], lost)
        + "\nWhere the first layer's kept weights go instead: the variance ratio (mean training "
        "variance of the pixels they read, over the mean of all pixels; 1 for an even spread) / "
        f"the first layer's units left with no input (of {rows[0]['first_layer_units']}), mean over seeds:\n\n"
        + table(["method", "mask", *(remaining(s) for s in sparsities)], spread)
        + correlations(net, share, extra, sparsities)
    )


def correlations(
    net: Net,
    share: dict[tuple[str, str, float], list[float]],
    extra: dict[tuple[str, str, float], list[tuple[float, int]]],
    sparsities: Sequence[float],
) -> str:
    """Across the at-init methods' grid points: how the accuracy shuffling costs goes with what
    shuffling changes in the first layer (Pearson's r over the points' means)."""
    import statistics

    from maskkit.report import stats

    loss, dead_drop, ratio_drop = [], [], []
    for m in AT_INIT:
        for s in sparsities:
            c = compare(net.accuracies(m, "none", 0, s), net.accuracies(m, "shuffle", 0, s))
            a, b = share.get((m, "none", s)), share.get((m, "shuffle", s))
            x, y = extra.get((m, "none", s)), extra.get((m, "shuffle", s))
            if c.difference is None or not (a and b and x and y):
                continue
            loss.append(-c.difference)
            dead_drop.append(stats.mean(b) - stats.mean(a))
            ratio_drop.append(stats.mean([v for v, _ in x]) - stats.mean([v for v, _ in y]))
    if len(loss) < 3:
        return ""
    r_dead = statistics.correlation(loss, dead_drop)
    r_ratio = statistics.correlation(loss, ratio_drop)
    return (
        f"\nOver the {len(loss)} grid points of the at-initialisation methods, the accuracy "
        f"shuffling costs correlates with the dead-pixel share it adds at r = {r_dead:.2f}, and "
        f"with the variance ratio it takes away at r = {r_ratio:.2f} (Pearson, over the points' "
        "means).\n"
    )


VARIANTS = {
    "none": "unablated",
    "shuffle": "the grid's shuffle",
    "shuffle-live": "shuffle among the live pixels only",
    "shuffle-columns": "each pixel's column shuffled over the units",
    "shuffle-rows": "each unit's row shuffled over the pixels",
    "shuffle-others": "every layer shuffled but the first",
}


def dead_pixels_causal_block(results: Path) -> str:
    from maskkit.report import stats

    path = results / "lenet300-dead-pixels-causal.csv"
    if not path.exists():
        return "The causal dead-pixel experiment has not been run.\n"
    rows = _read_csv(path)
    acc: dict[tuple[str, str], list[float]] = {}
    share: dict[tuple[str, str], list[float]] = {}
    ratio: dict[tuple[str, str], list[float]] = {}
    repro = []
    for r in rows:
        if r["source"] == "retrained here":
            repro.append(r)
            continue
        k = (r["method"], r["variant"])
        acc.setdefault(k, []).append(float(r["test_accuracy"]))
        share.setdefault(k, []).append(float(r["dead_fraction"]))
        ratio.setdefault(k, []).append(float(r["variance_ratio"]))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    s = float(rows[0]["sparsity"])
    body = []
    for m in methods:
        for v, label in VARIANTS.items():
            values = acc.get((m, v), [])
            if not values:
                continue
            spread = "" if len(values) < 2 else f" ± {pct(stats.std(values))}"  # type: ignore[arg-type]
            body.append(
                [
                    m,
                    label,
                    f"{pct(stats.mean(values))}{spread} ({len(values)})",
                    f"{100.0 * stats.mean(share[(m, v)]):.2f}%",
                    f"{stats.mean(ratio[(m, v)]):.2f}",
                    "" if v == "none" else compare(acc[(m, "none")], values).text(),
                    "" if v in ("none", "shuffle") else compare(acc[(m, "shuffle")], values).text(),
                ]
            )
    check = []
    for r in repro:
        grid = next(
            x
            for x in rows
            if x["method"] == r["method"]
            and x["seed"] == r["seed"]
            and x["variant"] == "shuffle"
            and x["source"] == "grid"
        )
        check.append(
            f"{r['method']} seed {r['seed']}: grid {pct(float(grid['test_accuracy']))}%, "
            f"retrained here {pct(float(r['test_accuracy']))}%"
        )
    return (
        f"At {remaining(s)} remaining: test accuracy (%, mean ± std (seeds)); the share of the "
        "first layer's kept weights on dead pixels; the variance ratio (mean training variance of "
        "the pixels the kept weights read, over the mean of all pixels); and the differences "
        "(points, Welch's p):\n\n"
        + table(
            [
                "method",
                "mask",
                "accuracy",
                "dead share",
                "variance ratio",
                "− unablated",
                "− grid's shuffle",
            ],
            body,
        )
        + (
            "\nThe example's training reproduces the grid's: " + "; ".join(check) + ".\n"
            if check
            else ""
        )
    )


def conv_vs_fc_block(nets: Sequence[Net]) -> str:
    fc = next((n for n in nets if n.name == "lenet300"), None)
    conv = next((n for n in nets if n.name == "lenet5"), None)
    if fc is None or conv is None:
        return "Both nets' results are needed for this comparison.\n"
    s = [x for x in fc.sparsities if x in conv.sparsities]
    rows = []
    for m in (*AT_INIT, "lottery"):
        for net in (fc, conv):
            rows.append(
                [
                    m,
                    net.title,
                    *(
                        compare(
                            net.accuracies(m, "none", 0, x), net.accuracies(m, "shuffle", 0, x)
                        ).text()
                        for x in s
                    ),
                ]
            )
    return (
        "Accuracy shuffling costs (shuffle − none, points, Welch's p), the fully connected net "
        "beside the convolutional one at the same sparsities:\n\n"
        + table(["method", "net", *(remaining(x) for x in s)], rows)
    )


def readme_block(results: Path, nets: Sequence[Net]) -> str:
    """The README's figures: each net's dense accuracy, and what shuffling SNIP's mask costs it
    at the causal study's sparsity."""
    path = results / "lenet300-dead-pixels-causal.csv"
    s = float(_read_csv(path)[0]["sparsity"]) if path.exists() else None
    rows = []
    for net in nets:
        cost = ""
        if s is not None and key(s) in net.sparsities:
            cost = compare(
                net.accuracies("snip", "none", 0, s), net.accuracies("snip", "shuffle", 0, s)
            ).text()
        rows.append([net.title, summary(net.points.get(("dense", "none", 0, 0.0))), cost])
    shuffled = "shuffle − none, SNIP" + ("" if s is None else f", {remaining(s)} remaining")
    out = table(["net", "dense accuracy (%)", shuffled], rows)
    if path.exists():
        acc: dict[str, list[float]] = {}
        for r in _read_csv(path):
            if r["method"] == "snip" and r["source"] != "retrained here":
                acc.setdefault(r["variant"], []).append(float(r["test_accuracy"]))
        if {"shuffle", "shuffle-live", "shuffle-columns"} <= set(acc):
            live = compare(acc["shuffle"], acc["shuffle-live"]).text()
            columns = compare(acc["shuffle"], acc["shuffle-columns"]).text()
            out += (
                f"\nLeNet-300-100, SNIP, against the plain shuffle: keeping the dead pixels "
                f"pruned {live} points; keeping every pixel's kept count {columns} points.\n"
            )
    return out


# -- rendering and writing ------------------------------------------------------------------------
def render(results: Path = HERE) -> dict[str, str]:
    """Every generated block, by name, from the committed files in ``results`` alone."""
    nets = load_nets(results)
    run = json.loads((results / "run.json").read_text())
    blocks = {"run": run_block(run, nets), "training": training_block(run, nets)}
    for name, title in NETS:
        net = next((n for n in nets if n.name == name), None)
        if net is None:  # a grid whose report is not committed (yet): said, not hidden
            for part in ("accuracy", "ablations", "prune-at"):
                blocks[f"{part}-{name}"] = f"{title}: no results committed.\n"
            continue
        blocks[f"accuracy-{name}"] = accuracy_block(net)
        blocks[f"ablations-{name}"] = ablations_block(net)
        blocks[f"prune-at-{name}"] = prune_at_block(net)
    blocks["claim-a"] = claim_a(nets)
    blocks["claim-b"] = claim_b(nets)
    blocks["claim-c"] = claim_c(nets)
    blocks["claim-d"] = claim_d(nets)
    blocks["claim-e"] = claim_e(nets)
    blocks["dead-pixels"] = dead_pixels_block(results, nets)
    blocks["dead-pixels-causal"] = dead_pixels_causal_block(results)
    blocks["conv-vs-fc"] = conv_vs_fc_block(nets)
    blocks["readme-summary"] = readme_block(results, nets)
    return blocks


def blocks_in(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in BLOCK.finditer(text)}


def fill(text: str, blocks: dict[str, str]) -> str:
    """``text`` with each generated block's content replaced by the rendered one."""

    def replace(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in blocks:
            raise SystemExit(f"make_results: no block named {name!r} is rendered")
        return f"<!-- generated:{name} -->\n{blocks[name]}<!-- /generated:{name} -->"

    return BLOCK.sub(replace, text)


def write_cells_csv(folder: str, path: Path) -> None:
    """One row per cell of ``folder``'s index: the per-seed values behind the report's means."""
    columns = (
        "cell_id",
        "method",
        "ablation",
        "sparsity",
        "seed",
        "prune_at",
        "status",
        "test_accuracy",
        "test_loss",
        "kept",
        "prunable",
    )
    uri = Path(folder, "index.sqlite").resolve().as_uri() + "?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        rows = db.execute(f"SELECT {', '.join(columns)} FROM cells ORDER BY cell_id").fetchall()
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    "" if v is None else (format(v, ".10g") if isinstance(v, float) else v)
                    for v in row
                ]
            )


def _git_commit(where: Path = ROOT) -> str:
    out = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def write_run_json(
    folders: Sequence[str],
    times: Path,
    torch_python: str,
    jobs: int,
    grid_commit: str,
    study_commit: str,
) -> None:
    import tomllib

    walls: dict[str, tuple[int, int]] = {}
    if times.exists():
        for line in times.read_text().splitlines():
            m = re.match(r"(\S+) rc=(\d+) wall_s=(\d+)", line)
            if m:
                walls[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    torch = subprocess.run(
        [torch_python, "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    grids = {}
    commands = []
    for folder in folders:
        name = Path(folder).name
        grid = tomllib.loads(Path(folder, "grid.toml").read_text())
        from maskkit.data import load_dataset
        from maskkit.models import model_family
        from maskkit.training import default_options

        options = default_options(
            model_family(grid["model"]["name"]), grid["dataset"]["name"], **grid.get("training", {})
        ).to_dict()
        train_size = len(load_dataset(grid["dataset"]["name"]).train)
        training = {
            k: options[k]
            for k in ("epochs", "steps", "batch_size", "lr")
            if options.get(k) is not None
        }
        rc_wall = walls.get(name)
        grids[name] = {
            "grid": GRIDS.get(name, f"{folder}/grid.toml"),
            "rc": None if rc_wall is None else rc_wall[0],
            "wall_s": None if rc_wall is None else rc_wall[1],
            "training": training,
            "train_size": train_size,
        }
        commands.append(f"maskkit experiment run {grids[name]['grid']} -o {folder} --jobs {jobs}")
    for folder in folders:
        name = Path(folder).name
        commands.append(
            f"maskkit report {folder} --csv docs/results/{name}.csv --plot docs/results/{name}/"
        )
    commands.append("nice -n 19 python examples/dead_pixels.py " + folders[0] + " -o docs/results")
    commands.append(
        "python docs/results/make_results.py "
        + " ".join(folders)
        + f" --study-commit {study_commit}"
    )
    run = {
        "commit": grid_commit,
        "study_commit": study_commit,
        "cores": os.cpu_count(),
        "torch": torch,
        "jobs": jobs,
        "grids": grids,
        "commands": commands,
    }
    (HERE / "run.json").write_text(json.dumps(run, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "folders", nargs="*", help="the results folders (their names name the files)"
    )
    parser.add_argument("--check", action="store_true", help="only check the documents' blocks")
    parser.add_argument(
        "--times", default="/tmp/results/times.txt", help="NAME rc=N wall_s=N lines"
    )
    parser.add_argument(
        "--torch-python",
        default="/tmp/snap/.venv/bin/python",
        help="the python the grids ran with (for its torch version)",
    )
    parser.add_argument("--snapshot", default="/tmp/snap", help="the checkout the grids ran from")
    parser.add_argument("--jobs", type=int, default=2, help="the --jobs the grids ran with")
    parser.add_argument("--study-commit", default=None, help="the dead-pixel study's commit")
    args = parser.parse_args(argv)
    if not args.check:
        for folder in args.folders:
            name = Path(folder).name
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "maskkit",
                    "report",
                    folder,
                    "--csv",
                    str(HERE / f"{name}.csv"),
                    "--plot",
                    str(HERE / name),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            write_cells_csv(folder, HERE / f"{name}-cells.csv")
        if args.folders:
            write_run_json(
                args.folders,
                Path(args.times),
                args.torch_python,
                args.jobs,
                _git_commit(Path(args.snapshot)),
                args.study_commit or _git_commit(),
            )
    blocks = render()
    stale = []
    for doc in DOCUMENTS:
        if not doc.exists():
            continue
        text = doc.read_text()
        new = fill(text, blocks)
        if new != text:
            stale.append(doc.name)
            if not args.check:
                doc.write_text(new)
    if args.check and stale:
        print(f"make_results: out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
