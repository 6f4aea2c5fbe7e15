"""Why does shuffling cost LeNet-300-100 more than the paper's conv nets? The dead-pixel study.

MNIST has pixels that are 0 on every training image (after normalisation, the same constant on
every image). A weight of the first layer that reads such a pixel can only add a constant to its
unit, which the unit's bias already does: it carries no information about the digit. The
hypothesis: the scoring methods keep few of those weights, while a shuffled mask spends kept
weights on them uniformly, wasting part of the first layer's budget.

Two measurements, written beside the report's CSV files:

1. ``lenet300-dead-pixels.csv``: for every done cell of the LeNet-300-100 results folder, the
   first layer's (``fc_layers.0.weight``, [300, 784]) kept count and the fraction of it that
   reads a dead pixel, from the cell's mask artifact (``cells.mask_node`` -> ``nodes.path``).
   Also: the mean training variance of the pixels its kept weights read, over the mean over all
   pixels (``variance_ratio``), its units left with no input and its pixels read by no weight.
2. ``lenet300-dead-pixels-causal.csv``: a causal check. For each method and seed at one
   sparsity (default remaining 0.8^14), the grid's own mask is shuffled as the grid shuffles it
   (``maskkit.shuffle`` with seed = cell seed + 10000, each layer by its own seeded permutation),
   except that the first layer's entries are permuted only among the live-pixel columns, with
   the same per-layer generator seed (dead-pixel weights keep their unshuffled state); and two
   more variants in which each first-layer column is permuted over the units (every pixel keeps
   its kept count; which units read it is redrawn), or each row over the pixels (every unit
   keeps its input count; which pixels it reads is redrawn); and one that shuffles every layer
   but the first. Each mask
   trains with the grid's own training options (read from the index's train node of the
   plain-shuffle cell) and initial weights. The grid's unshuffled and plain-shuffled accuracies
   of the same seeds are written beside it, and the plain-shuffle mask is retrained once per
   method to show this script's training reproduces the grid's.

Run (while other work shares the machine, at low priority):
    nice -n 19 python examples/dead_pixels.py /tmp/results/lenet300 -o docs/results
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FIRST_LAYER = "fc_layers.0.weight"
INPUTS = 784

CELL_COLUMNS = (
    "cell_id",
    "method",
    "ablation",
    "sparsity",
    "seed",
    "prune_at",
    "test_accuracy",
    "first_layer_kept",
    "dead_kept",
    "dead_fraction",
    "dead_pixels",
    "inputs",
    "variance_ratio",
    "empty_units",
    "first_layer_units",
    "unread_pixels",
)
CAUSAL_COLUMNS = (
    "method",
    "sparsity",
    "seed",
    "variant",
    "source",
    "test_accuracy",
    "first_layer_kept",
    "dead_fraction",
    "variance_ratio",
    "mask_sha256",
)


def dead_pixels(dataset: Any) -> np.ndarray:
    """A bool vector over the 784 inputs: True where every training image has the value of a
    raw 0 pixel (the training split's minimum, since normalisation is the same affine map for
    every pixel)."""
    x = dataset.train.x.reshape(len(dataset.train), -1)
    lowest = x.min()
    return (x.max(dim=0).values == lowest).numpy()


def _db(folder: str) -> sqlite3.Connection:
    uri = Path(folder, "index.sqlite").resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True)


def _num(value: float | None) -> str:
    return "" if value is None else format(float(value), ".10g")


def pixel_variance(dataset: Any) -> np.ndarray:
    """Each input pixel's variance over the training images (normalised values)."""
    x = dataset.train.x.reshape(len(dataset.train), -1).double()
    return x.var(dim=0).numpy()


def variance_ratio(mask: np.ndarray, variance: np.ndarray) -> float:
    """The mean pixel variance the kept weights read, over the mean over all pixels: 1 for a
    mask that spreads its weights evenly, above 1 for one that reads the pixels that vary."""
    from maskkit.masking.inputs import kept_per_input

    counts = kept_per_input(mask)
    return float(counts @ variance / counts.sum() / variance.mean())


def measure(folder: str, dead: np.ndarray, variance: np.ndarray) -> list[dict[str, Any]]:
    """The first layer's dead-pixel fraction of every done, pruned cell's mask, with the
    variance its kept weights read, its units left without input and its pixels left unread."""
    from maskkit.format import load
    from maskkit.masking.inputs import kept_fraction_on, kept_per_input

    with _db(folder) as db:
        rows = db.execute(
            "SELECT c.cell_id, c.method, c.ablation, c.sparsity, c.seed, c.prune_at, "
            "c.test_accuracy, n.path FROM cells c JOIN nodes n ON n.node_id = c.mask_node "
            "WHERE c.status = 'done' AND c.mask_node IS NOT NULL ORDER BY c.cell_id"
        ).fetchall()
    out = []
    for cell_id, method, ablation, sparsity, seed, k, acc, path in rows:
        mask = load(os.path.join(folder, path), kind="mask").arrays[FIRST_LAYER]
        kept = int(kept_per_input(mask).sum())
        out.append(
            {
                "cell_id": cell_id,
                "method": method,
                "ablation": ablation,
                "sparsity": _num(sparsity),
                "seed": seed,
                "prune_at": k,
                "test_accuracy": _num(acc),
                "first_layer_kept": kept,
                "dead_kept": int(kept_per_input(mask)[dead].sum()),
                "dead_fraction": _num(kept_fraction_on(mask, dead)),
                "dead_pixels": int(dead.sum()),
                "inputs": dead.size,
                "variance_ratio": _num(variance_ratio(mask, variance)),
                "empty_units": int((mask.sum(axis=1) == 0).sum()),
                "first_layer_units": mask.shape[0],
                "unread_pixels": int((kept_per_input(mask) == 0).sum()),
            }
        )
    return out


def _cell(db: sqlite3.Connection, method: str, sparsity: float, ablation: str, seed: int) -> Any:
    row = db.execute(
        "SELECT c.cell_id, c.status, c.test_accuracy, c.mask_sha256, c.result_node, n.path "
        "FROM cells c LEFT JOIN nodes n ON n.node_id = c.mask_node WHERE c.method = ? AND "
        "abs(c.sparsity - ?) < 1e-6 AND c.ablation = ? AND c.seed = ? AND c.prune_at = 0",
        (method, sparsity, ablation, seed),
    ).fetchone()
    if row is None or row[1] != "done":
        raise SystemExit(
            f"dead_pixels: cell {method} {sparsity} {ablation} seed {seed} is not done in the folder"
        )
    return row


def axis_shuffle(mask: Any, seed: int, axis: str) -> Any:
    """The grid's shuffle of ``mask`` with ``seed``, but with the first layer's columns
    (``axis="columns"``: every pixel keeps its kept count, the units reading it are redrawn) or
    rows (``"rows"``: every unit keeps its input count, the pixels it reads are redrawn) each
    permuted on their own, with the generator seed the plain shuffle uses for that layer."""
    from maskkit.ablations.shuffle import layer_seed, shuffle_masks
    from maskkit.format.metadata import StageRecord
    from maskkit.masking.inputs import shuffle_each_column, shuffle_each_row

    arrays = shuffle_masks(mask.arrays, seed)
    generator = np.random.Generator(np.random.PCG64(layer_seed(seed, FIRST_LAYER)))
    permute = shuffle_each_column if axis == "columns" else shuffle_each_row
    arrays[FIRST_LAYER] = permute(mask.arrays[FIRST_LAYER], generator)
    options = {"first layer": f"each of its {axis} on its own"}
    return mask.derive(StageRecord.of("shuffle", options, seed=seed, input=mask), arrays=arrays)


def others_shuffle(mask: Any, seed: int) -> Any:
    """The grid's shuffle of ``mask`` with ``seed`` in every layer but the first, which keeps
    its unablated mask: how much of the shuffle's cost lies outside the first layer."""
    from maskkit.ablations.shuffle import shuffle_masks
    from maskkit.format.metadata import StageRecord

    arrays = shuffle_masks(mask.arrays, seed)
    arrays[FIRST_LAYER] = mask.arrays[FIRST_LAYER]
    options = {"first layer": "not shuffled"}
    return mask.derive(StageRecord.of("shuffle", options, seed=seed, input=mask), arrays=arrays)


def live_shuffle(mask: Any, live: np.ndarray, seed: int) -> Any:
    """The grid's shuffle of ``mask`` with ``seed``, but with the first layer permuted only
    among its live-pixel columns (the same generator seed the plain shuffle uses for it)."""
    from maskkit.ablations.shuffle import layer_seed, shuffle_masks
    from maskkit.format.metadata import StageRecord
    from maskkit.masking.inputs import shuffle_within_columns

    arrays = shuffle_masks(mask.arrays, seed)
    generator = np.random.Generator(np.random.PCG64(layer_seed(seed, FIRST_LAYER)))
    arrays[FIRST_LAYER] = shuffle_within_columns(mask.arrays[FIRST_LAYER], live, generator)
    record = StageRecord.of("shuffle", {"columns": "live pixels only"}, seed=seed, input=mask)
    return mask.derive(record, arrays=arrays)


def _train(folder: str, mask: Any, train_node: str, data: Any, source: str) -> float:
    from maskkit.models import model_family
    from maskkit.training import RunIO, default_options, train_artifact

    with _db(folder) as db:
        (options,) = db.execute(
            "SELECT options FROM nodes WHERE node_id = ?", (train_node,)
        ).fetchone()
    training = json.loads(options)["training"]
    family = model_family(mask.model.name)
    trained, _ = train_artifact(
        mask,
        data,
        default_options(family, data.name, **training),
        source=source,
        io=RunIO(weights_dirs=(os.path.join(folder, "artifacts"),)),
    )
    return float(trained.training["metrics"]["test_accuracy"])


def causal(
    folder: str,
    data: Any,
    dead: np.ndarray,
    variance: np.ndarray,
    methods: Sequence[str],
    seeds: Sequence[int],
    power: int,
    reproduce: bool,
) -> list[dict[str, Any]]:
    from maskkit.format import load
    from maskkit.masking.inputs import kept_fraction_on

    sparsity = float(f"{1 - 0.8**power:.6g}")  # the grid's rounding (spec/experiment-v1.md 3.5)
    out = []

    def row(method: str, seed: int, variant: str, source: str, acc: float, mask: Any) -> None:
        first = mask.arrays[FIRST_LAYER]
        out.append(
            {
                "method": method,
                "sparsity": _num(sparsity),
                "seed": seed,
                "variant": variant,
                "source": source,
                "test_accuracy": _num(acc),
                "first_layer_kept": int(first.sum()),
                "dead_fraction": _num(kept_fraction_on(first, dead)),
                "variance_ratio": _num(variance_ratio(first, variance)),
                "mask_sha256": mask.content_hash,
            }
        )
        print(f"dead_pixels: {method} seed {seed} {variant} ({source}): {acc:.4f}", file=sys.stderr)

    for method in methods:
        for i, seed in enumerate(seeds):
            with _db(folder) as db:
                base = _cell(db, method, sparsity, "none", seed)
                plain = _cell(db, method, sparsity, "shuffle", seed)
            mask = load(os.path.join(folder, base[5]), kind="mask")
            plain_mask = load(os.path.join(folder, plain[5]), kind="mask")
            row(method, seed, "none", "grid", base[2], mask)
            row(method, seed, "shuffle", "grid", plain[2], plain_mask)
            shuffle_seed = seed + 10000  # the grid's ablation seed (spec/experiment-v1.md 4)
            if reproduce and i == 0:
                acc = _train(folder, plain_mask, plain[4], data, plain[5])
                row(method, seed, "shuffle", "retrained here", acc, plain_mask)
            live = live_shuffle(mask, ~dead, shuffle_seed)
            acc = _train(folder, live, plain[4], data, f"{method} seed {seed} live shuffle")
            row(method, seed, "shuffle-live", "trained here", acc, live)
            for axis in ("columns", "rows"):
                ablated = axis_shuffle(mask, shuffle_seed, axis)
                acc = _train(folder, ablated, plain[4], data, f"{method} seed {seed} {axis}")
                row(method, seed, f"shuffle-{axis}", "trained here", acc, ablated)
            others = others_shuffle(mask, shuffle_seed)
            acc = _train(folder, others, plain[4], data, f"{method} seed {seed} other layers")
            row(method, seed, "shuffle-others", "trained here", acc, others)
    return out


def _write(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    from maskkit.format.files import write_atomic

    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join(str(r[c]) for c in columns))
    write_atomic(os.fspath(path), ["\n".join(lines).encode() + b"\n"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="the LeNet-300-100 results folder")
    parser.add_argument("-o", "--out", default="docs/results", help="where the CSV files go")
    parser.add_argument("--methods", nargs="+", default=["snip", "magnitude", "grasp", "synflow"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--power", type=int, default=14, help="remaining weights 0.8^POWER")
    parser.add_argument("--no-train", action="store_true", help="only the per-cell measurement")
    parser.add_argument(
        "--no-reproduce", action="store_true", help="skip retraining one grid shuffle per method"
    )
    args = parser.parse_args(argv)

    import torch

    from maskkit.data import load_dataset

    torch.set_num_threads(1)  # a side study: leave the other core to the grid
    data = load_dataset("mnist")
    dead = dead_pixels(data)
    variance = pixel_variance(data)
    print(
        f"dead_pixels: {int(dead.sum())} of {dead.size} training pixels never vary", file=sys.stderr
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "lenet300-dead-pixels.csv", CELL_COLUMNS, measure(args.folder, dead, variance))
    if not args.no_train:
        rows = causal(
            args.folder,
            data,
            dead,
            variance,
            args.methods,
            args.seeds,
            args.power,
            not args.no_reproduce,
        )
        _write(out / "lenet300-dead-pixels-causal.csv", CAUSAL_COLUMNS, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
