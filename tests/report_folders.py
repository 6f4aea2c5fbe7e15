"""Hand-made experiment folders for the report tests: an index.sqlite written to the contract
that ``maskkit experiment`` writes, with numbers chosen so that every statistic can be worked
out by hand."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE cells(cell_id TEXT PRIMARY KEY, method TEXT, sparsity REAL, ablation TEXT,
  seed INTEGER, prune_at INTEGER, status TEXT, test_accuracy REAL, test_loss REAL,
  train_loss REAL, kept INTEGER, prunable INTEGER, wall_time_s REAL, mask_sha256 TEXT,
  weights_sha256 TEXT, error TEXT);
CREATE TABLE layers(cell_id TEXT, layer TEXT, numel INTEGER, kept INTEGER,
  PRIMARY KEY (cell_id, layer));
CREATE TABLE layer_costs(layer TEXT PRIMARY KEY, numel INTEGER, macs INTEGER);
CREATE TABLE nodes(node_id TEXT PRIMARY KEY, kind TEXT, path TEXT, status TEXT);
"""

#: a conv layer whose weights are used at 64 output positions, and a linear layer
LAYERS = (("conv.weight", 100, 6400), ("fc.weight", 900, 900))
PRUNABLE = 1000


def cell_id(method: str, ablation: str, sparsity: float, k: int, seed: int) -> str:
    return f"{method}-{ablation}-s{sparsity:g}-k{k}-seed{seed}"


def make_index(
    folder: Path,
    cells: Iterable[dict],
    *,
    model: str = "toynet",
    dataset: str = "toydata",
    layers: Sequence[tuple[str, int, int]] = LAYERS,
    nodes: Sequence[tuple[str, str, str, str]] = (),
) -> Path:
    """Write ``folder/index.sqlite``. Each cell: method, sparsity, ablation, seed, prune_at,
    status, acc, and optionally per-layer ``kept`` counts (a list, one per layer)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "index.sqlite")
    db.executescript(SCHEMA)
    prunable = sum(n for _, n, _ in layers)
    meta = {
        "format": "maskkit-experiment-index",
        "version": "1",
        "grid": "# hand-made\n",
        "model": model,
        "model_args": json.dumps({}),
        "dataset": dataset,
        "maskkit_version": "0.1.0",
        "prunable": str(prunable),
    }
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    db.executemany("INSERT INTO layer_costs VALUES (?, ?, ?)", layers)
    for c in cells:
        cid = c.get("cell_id") or cell_id(
            c["method"], c.get("ablation", "none"), c["sparsity"], c.get("prune_at", 0), c["seed"]
        )
        status = c.get("status", "done")
        done = status == "done"
        kept_layers = c.get("layers")
        if done and kept_layers is None:
            # A global mask at this sparsity, spread evenly: every layer at the same density.
            kept_layers = [round(n * (1 - c["sparsity"])) for _, n, _ in layers]
        kept = sum(kept_layers) if done else None
        db.execute(
            "INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (cid, c["method"], c["sparsity"], c.get("ablation", "none"), c["seed"],
             c.get("prune_at", 0), status, c.get("acc") if done else None,
             0.1 if done else None, 0.05 if done else None, c.get("kept", kept),
             prunable if done else None, 1.0 if done else None,
             "ab" * 32 if done else None, "cd" * 32 if done else None,
             "boom" if status == "failed" else None),
        )  # fmt: skip
        if done:
            db.executemany(
                "INSERT INTO layers VALUES (?, ?, ?, ?)",
                [(cid, name, n, k) for (name, n, _), k in zip(layers, kept_layers, strict=True)],
            )
    db.executemany("INSERT INTO nodes VALUES (?, ?, ?, ?)", nodes)
    db.commit()
    db.close()
    return folder


def seeds(
    method: str, sparsity: float, accs: Sequence[float | str], first: int = 0, **extra
) -> list[dict]:
    """One cell per seed (seeds first, first+1, ...); an accuracy given as "failed" or
    "not-run" is that status."""
    out = []
    for seed, acc in enumerate(accs, first):
        cell = {"method": method, "sparsity": sparsity, "seed": seed, **extra}
        if isinstance(acc, str):
            cell["status"] = acc
        else:
            cell["acc"] = acc
        out.append(cell)
    return out


def paper_grid() -> list[dict]:
    """The hand-made grid whose numbers the tests work out by hand.

    dense: 0.98, 0.97, 0.99 (mean 0.98, std 0.01: the matching threshold is 0.97).
    lottery: 0.5 -> mean 0.98, 0.8 -> mean 0.975, 0.9 -> mean 0.95 (below), 0.95 -> 0.98
    (above again, but after a failure): matching sparsity 0.8.
    snip at 0.9: none 0.90/0.92/0.91, shuffle 0.905/0.915/0.91 (difference 0), invert
    0.50/0.52/0.51 (difference -0.40: flagged); at 0.5 one seed each of none and reinit.
    random at 0.9: one done (0.80), one failed, one not run. magnitude: never run.
    snip also pruned at k=100 at 0.9: 0.93, 0.94.
    """
    cells = seeds("dense", 0.0, [0.98, 0.97, 0.99])
    cells += seeds("lottery", 0.5, [0.985, 0.975, 0.98], prune_at=50)
    cells += seeds("lottery", 0.8, [0.972, 0.975, 0.978], prune_at=50)
    cells += seeds("lottery", 0.9, [0.95, 0.96, 0.94], prune_at=50)
    cells += seeds("lottery", 0.95, [0.98, 0.98, 0.98], prune_at=50)
    # snip at 0.9 keeps 100 weights; the conv layer keeps half of its weights on average.
    snip_layers = [[50, 50], [40, 60], [60, 40]]
    for seed, acc in enumerate([0.90, 0.92, 0.91]):
        cells.append(
            {
                "method": "snip",
                "sparsity": 0.9,
                "seed": seed,
                "acc": acc,
                "layers": snip_layers[seed],
            }
        )
    cells += seeds("snip", 0.9, [0.905, 0.915, 0.91], ablation="shuffle")
    cells += seeds("snip", 0.9, [0.50, 0.52, 0.51], ablation="invert")
    cells += seeds("snip", 0.5, [0.95], ablation="none")
    cells += seeds("snip", 0.5, [0.94], ablation="reinit")
    cells += seeds("snip", 0.9, [0.93, 0.94], prune_at=100)
    cells += seeds("random", 0.9, [0.80, "failed", "not-run"])
    cells += seeds("magnitude", 0.9, ["not-run"])
    return cells
