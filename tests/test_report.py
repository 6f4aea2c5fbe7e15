"""maskkit.report: the views of a hand-made experiment folder, checked against hand values."""

from __future__ import annotations

import math
import sqlite3
import sys
import types

import pytest

from maskkit.report import ReportError, build, load_experiment, load_experiments, to_csv, to_json
from maskkit.report.tables import cell_cost
from tests.report_folders import make_index, paper_grid, seeds


@pytest.fixture
def grid(tmp_path):
    return make_index(tmp_path / "grid", paper_grid())


def test_method_by_sparsity_mean_std_and_seed_counts(grid):
    data = build(load_experiment(grid))
    assert data.sparsities == [0.5, 0.8, 0.9, 0.95]
    assert [r.label for r in data.rows] == ["dense", "random", "magnitude", "snip", "lottery"]
    dense = data.main[("dense", 0, 0.0)]
    assert dense.n == 3 and dense.mean == pytest.approx(0.98) and dense.std == pytest.approx(0.01)
    snip = data.main[("snip", 0, 0.9)]
    # (0.90 + 0.92 + 0.91) / 3 = 0.91; deviations -0.01, 0.01, 0: std sqrt(0.0002 / 2) = 0.01
    assert snip.mean == pytest.approx(0.91) and snip.std == pytest.approx(0.01)
    # random: one done, one failed, one not run: the mean is of the done seed only, not (0.8+0+0)/3
    random = data.main[("random", 0, 0.9)]
    assert (random.n, random.total, random.missing) == (1, 3, 2)
    assert random.mean == pytest.approx(0.80) and random.std is None
    magnitude = data.main[("magnitude", 0, 0.9)]
    assert magnitude.mean is None and magnitude.missing == 1
    # the unablated at-init row is k=0; the k=100 cells are only in the step view
    assert ("snip", 100, 0.9) not in data.main
    assert data.counts == {"done": 29, "failed": 1, "not-run": 2, "cells": 32, "missing": 3}


def test_matching_sparsity_is_the_last_within_one_dense_std(grid):
    data = build(load_experiment(grid))
    (match,) = data.matching
    # dense 0.98 - 0.01 = 0.97; lottery 0.98 (0.5), 0.975 (0.8) pass, 0.95 (0.9) fails, so the
    # 0.98 at 0.95 comes after a failure and does not count.
    assert match.basis == "std" and match.threshold == pytest.approx(0.97)
    assert (match.method, match.prune_at, match.sparsity) == ("lottery", 50, 0.8)


def test_matching_with_a_single_dense_seed_uses_the_tolerance(tmp_path):
    cells = seeds("dense", 0.0, [0.98])
    cells += seeds("lottery", 0.5, [0.9772, 0.9768])  # mean 0.977 >= 0.98 - 0.005
    cells += seeds("lottery", 0.8, [0.974, 0.974])  # 0.974: below 0.975, above 0.97
    cells += seeds("lottery", 0.9, [0.96, 0.96])
    exp = load_experiment(make_index(tmp_path / "one", cells))
    (match,) = build(exp).matching
    assert match.basis == "tolerance" and match.threshold == pytest.approx(0.975)
    assert match.sparsity == 0.5
    (wider,) = build(exp, tolerance=1.0).matching
    assert wider.threshold == pytest.approx(0.97) and wider.sparsity == 0.8
    (none,) = build(exp, tolerance=0.0).matching
    assert none.sparsity is None  # 0.977 < 0.98 already at the lowest sparsity


def test_ablation_flags_follow_welch_at_five_percent(grid):
    data = build(load_experiment(grid))
    rows = {(a.method, a.sparsity): {e.ablation: e for e in a.entries} for a in data.ablations}
    at_90 = rows[("snip", 0.9)]
    # shuffle: mean 0.91 too, difference 0, p = 1
    assert at_90["shuffle"].difference == pytest.approx(0.0, abs=1e-12)
    assert at_90["shuffle"].p == pytest.approx(1.0) and not at_90["shuffle"].flagged
    # invert: 0.51 - 0.91 = -0.40 with both stds 0.01: t = -0.40 / sqrt(2 * 0.0001 / 3), df = 4
    invert = at_90["invert"]
    t = -0.40 / math.sqrt(2 * 0.0001 / 3)
    assert invert.difference == pytest.approx(-0.40)
    assert invert.flagged and invert.p < 1e-5
    from maskkit.report.stats import t_two_sided_p, welch

    test = welch([0.90, 0.92, 0.91], [0.50, 0.52, 0.51])
    assert test is not None and test.t == pytest.approx(t) and test.df == pytest.approx(4.0)
    assert invert.p == pytest.approx(t_two_sided_p(t, 4.0))
    # one seed on each side at 0.5: the noise is unknown, nothing is flagged
    reinit = rows[("snip", 0.5)]["reinit"]
    assert reinit.difference == pytest.approx(-0.01) and reinit.p is None and not reinit.flagged


def test_a_difference_inside_the_noise_is_not_flagged(tmp_path):
    # none 0.90/0.92, shuffle 0.89/0.93: difference 0, and invert 0.88/0.90 vs 0.90/0.92:
    # t = -0.02 / sqrt(0.0002/2 + 0.0002/2) = -1.414, df = 2: p = 1 - 1.414/sqrt(4) = 0.293.
    cells = seeds("snip", 0.9, [0.90, 0.92]) + seeds("snip", 0.9, [0.88, 0.90], ablation="invert")
    data = build(load_experiment(make_index(tmp_path / "g", cells)))
    (row,) = data.ablations
    invert = row.entries[1]
    assert invert.p == pytest.approx(1 - math.sqrt(2) / 2, abs=1e-9) and not invert.flagged


def test_steps_view_has_each_k(grid):
    data = build(load_experiment(grid))
    assert data.step_values == [0, 100]
    by_k = data.steps[("snip", 0.9, "none")]
    assert by_k[0].mean == pytest.approx(0.91) and by_k[100].mean == pytest.approx(0.935)
    assert ("lottery", 0.5, "none") not in data.steps  # a single rewind step: nothing to compare


def test_layer_densities_and_macs_by_hand(grid):
    exp = load_experiment(grid)
    data = build(exp, layer_sparsity=0.9)
    snip = next(v for v in data.layer_views if v.method == "snip")
    conv, fc = snip.layers
    # kept conv 50/40/60, fc 50/60/40: means 50 and 50
    assert (conv.kept, conv.density) == (50.0, 0.5)
    assert fc.kept == 50.0 and fc.density == pytest.approx(50 / 900)
    # MACs: conv 6,400 at density 0.5 + fc 900 at 50/900, over 7,300
    assert snip.macs_fraction == pytest.approx((3200 + 50) / 7300)
    assert snip.density == pytest.approx(0.1)
    seed1 = next(
        c
        for c in exp.cells
        if c.method == "snip" and c.seed == 1 and c.ablation == "none" and c.prune_at == 0
    )
    assert cell_cost(exp, seed1) == (pytest.approx(0.1), pytest.approx((0.4 * 6400 + 60) / 7300))
    # the default view is the sparsity with the most methods: 0.9 (random, snip, lottery)
    assert build(exp).layer_sparsity == 0.9


def test_a_sparsity_not_in_the_grid_lists_the_grids(grid):
    with pytest.raises(ReportError, match=r"no sparsity 0\.7 \(it has 0\.5, 0\.8, 0\.9, 0\.95\)"):
        build(load_experiment(grid), layer_sparsity=0.7)


def test_json_has_no_nan_and_null_for_missing(grid):
    import json

    doc = to_json(build(load_experiment(grid)))
    text = json.dumps(doc, allow_nan=False)  # raises on NaN or inf
    back = json.loads(text)
    random = next(m for m in back["methods"] if m["method"] == "random")
    assert random["cells"] == [
        {"sparsity": 0.9, "remaining": 0.1, "n": 1, "missing": 2, "mean": 0.8, "std": None}
    ]
    assert back["matching"]["results"][0]["sparsity"] == 0.8
    assert len(back["cells"]) == 32


def test_csv_rows_by_hand(grid):
    lines = to_csv(build(load_experiment(grid))).splitlines()
    assert (
        lines[0]
        == "method,ablation,prune_at,sparsity,remaining,n,missing,mean,std,weights_fraction,macs_fraction"
    )
    dense = next(line for line in lines if line.startswith("dense,"))
    assert dense.split(",")[5:9] == ["3", "0", "0.98", "0.01"]
    random = next(line for line in lines if line.startswith("random,"))
    assert random.split(",")[5:] == ["1", "2", "0.8", "", "0.1", "0.1"]
    magnitude = next(line for line in lines if line.startswith("magnitude,"))
    assert magnitude.split(",")[5:] == ["0", "1", "", "", "", ""]


def test_mixed_models_are_refused_unless_allowed(tmp_path):
    a = make_index(tmp_path / "a", seeds("snip", 0.9, [0.9, 0.92]))
    b = make_index(tmp_path / "b", seeds("snip", 0.9, [0.94]), model="othernet")
    with pytest.raises(
        ReportError, match=r"b: model 'othernet' differs from .*a's 'toynet'; pass --allow-mixed"
    ):
        load_experiments([a, b])
    pooled = build(load_experiments([a, b], allow_mixed=True))
    assert pooled.main[("snip", 0, 0.9)].n == 3
    # Two folders of the same grid pool their seeds: (0.9 + 0.92 + 0.94) / 3
    c = make_index(tmp_path / "c", seeds("snip", 0.9, [0.94], first=2))
    assert build(load_experiments([a, c])).main[("snip", 0, 0.9)].mean == pytest.approx(0.92)
    # ... but the same seed in two folders is the same run twice, and the same folder too
    d = make_index(tmp_path / "d", seeds("snip", 0.9, [0.94], first=1))
    with pytest.raises(
        ReportError,
        match=r"d: cell 'snip-none-s0.9-k0-seed1' \(seed 1\) is also in .*a; folders pooled together must hold different seeds",
    ):
        load_experiments([a, d])
    with pytest.raises(ReportError, match=r"given twice"):
        load_experiments([a, tmp_path / "x" / ".." / "a"])


def test_not_a_folder_or_not_an_index(tmp_path):
    with pytest.raises(ReportError, match=r"nope: no such folder"):
        load_experiment(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match=r"file: not a folder"):
        load_experiment(tmp_path / "file")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "index.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ReportError, match=r"bad/index.sqlite: not a readable experiment index"):
        load_experiment(bad)
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / "index.sqlite")
    db.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    db.execute("CREATE TABLE cells(x)")
    db.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    db.commit()
    db.close()
    with pytest.raises(ReportError, match=r"not an experiment index \(format 'something-else'"):
        load_experiment(other)


def test_a_folder_without_an_index_that_cannot_be_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "maskkit.experiment.index", None)  # import fails
    (tmp_path / "runs").mkdir()
    with pytest.raises(ReportError, match=r"runs: has no index.sqlite and it cannot be rebuilt"):
        load_experiment(tmp_path / "runs")


def test_a_missing_index_is_rebuilt(tmp_path, monkeypatch):
    calls = []

    def rebuild(folder):
        calls.append(folder)
        make_index(tmp_path / "runs", seeds("snip", 0.9, [0.9]))

    module = types.ModuleType("maskkit.experiment.index")
    module.rebuild = rebuild  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "maskkit.experiment.index", module)
    (tmp_path / "runs").mkdir()
    exp = load_experiment(tmp_path / "runs")
    assert calls == [str(tmp_path / "runs")] and len(exp.cells) == 1


def test_an_index_that_disagrees_names_the_cells(tmp_path):
    cells = seeds("snip", 0.9, [0.9, 0.91])
    cells[1]["kept"] = 99  # its layers add up to 100
    with pytest.raises(
        ReportError, match=r'per-layer counts of 1 cell \("snip-none-s0.9-k0-seed1"\) disagree'
    ):
        load_experiment(make_index(tmp_path / "g", cells))
    folder = make_index(
        tmp_path / "h",
        seeds("snip", 0.9, [0.9]),
        nodes=[("n1", "mask", "masks/a.safetensors", "done")],
    )
    with pytest.raises(
        ReportError,
        match=r'names artifacts that are not in the folder: 1 file \("masks/a.safetensors"\)',
    ):
        load_experiment(folder)
    (folder / "masks").mkdir()
    (folder / "masks" / "a.safetensors").write_bytes(b"x")
    assert len(load_experiment(folder).cells) == 1


def test_reading_does_not_write_into_the_folder(grid):
    before = sorted(p.name for p in grid.iterdir())
    build(load_experiment(grid))
    assert sorted(p.name for p in grid.iterdir()) == before == ["index.sqlite"]


def test_other_model_arguments_are_mixed_too(tmp_path):
    a = make_index(tmp_path / "a", seeds("snip", 0.9, [0.9]))
    b = make_index(tmp_path / "b", seeds("snip", 0.9, [0.9]))
    db = sqlite3.connect(b / "index.sqlite")
    db.execute("UPDATE meta SET value = ? WHERE key = 'model_args'", ('{"width": 2}',))
    db.commit()
    db.close()
    with pytest.raises(ReportError, match=r"model_args '\{\"width\": 2\}' differs"):
        load_experiments([a, b])
