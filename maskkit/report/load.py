"""Reading experiment folders: the index (``DIR/index.sqlite``), rebuilt when it is missing.

Only sqlite3 and the standard library: ``maskkit report`` reads a 1,000-cell folder in well under
a second and never imports torch or numpy. The index is opened read-only, so a report never
changes a folder it reads.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from maskkit.errors import MaskkitError

INDEX = "index.sqlite"
FORMAT = "maskkit-experiment-index"
VERSION = "1"
STATUSES = ("done", "failed", "not-run")
#: the cell columns the report reads; an index without one of them is not one it understands
CELL_COLUMNS = (
    "cell_id",
    "method",
    "sparsity",
    "ablation",
    "seed",
    "prune_at",
    "status",
    "test_accuracy",
    "test_loss",
    "train_loss",
    "kept",
    "prunable",
    "wall_time_s",
    "mask_sha256",
    "error",
)


class ReportError(MaskkitError):
    """An experiment folder cannot be reported on: the message names the folder and the problem."""


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a method at a sparsity, with an ablation, a seed and a step k."""

    folder: str
    cell_id: str
    method: str
    sparsity: float
    ablation: str
    seed: int
    prune_at: int
    status: str
    test_accuracy: float | None
    test_loss: float | None
    train_loss: float | None
    kept: int | None
    prunable: int | None
    wall_time_s: float | None
    mask_sha256: str | None
    error: str | None

    @property
    def done(self) -> bool:
        return self.status == "done" and self.test_accuracy is not None


@dataclass
class Experiment:
    """Everything the report needs from one or more folders (cells pooled over folders)."""

    folders: list[str]
    meta: dict[str, str]
    cells: list[Cell]
    #: (folder, cell_id) -> {layer: (numel, kept)}, in the index's layer order
    layers: dict[tuple[str, str], dict[str, tuple[int, int]]] = field(default_factory=dict)
    #: layer -> (numel, macs): multiply-accumulates of one forward pass of one example
    layer_costs: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: (folder, model, dataset) of each folder, for the header of the report
    sources: list[tuple[str, str, str]] = field(default_factory=list)


def load_experiments(
    folders: Sequence[str | os.PathLike[str]], *, allow_mixed: bool = False
) -> Experiment:
    """Read every folder's index and pool their cells.

    Folders of different models or datasets are refused unless ``allow_mixed``: averaging
    LeNet and ResNet accuracies over "seeds" would be meaningless, and silently so.
    """
    if not folders:
        raise ReportError("no experiment folder given")
    seen: dict[str, str] = {}
    for f in folders:
        real = os.path.realpath(f)
        if real in seen:
            raise ReportError(
                f"{os.fspath(f)}: given twice (as {seen[real]}): its seeds would count twice"
            )
        seen[real] = os.fspath(f)
    loaded = [load_experiment(f) for f in folders]
    first = loaded[0]
    if not allow_mixed:
        for other in loaded[1:]:
            for key in ("model", "model_args", "dataset"):
                a, b = first.meta.get(key, ""), other.meta.get(key, "")
                if a != b:
                    raise ReportError(
                        f"{other.folders[0]}: {key} {b!r} differs from {first.folders[0]}'s "
                        f"{a!r}; pass --allow-mixed to pool them anyway"
                    )
            if other.layer_costs and first.layer_costs and other.layer_costs != first.layer_costs:
                raise ReportError(
                    f"{other.folders[0]}: its layers differ from {first.folders[0]}'s; "
                    "pass --allow-mixed to pool them anyway"
                )
        _refuse_repeated_runs(loaded)
    pooled = Experiment(folders=[], meta=dict(first.meta), cells=[])
    for exp in loaded:
        pooled.folders += exp.folders
        pooled.cells += exp.cells
        pooled.layers.update(exp.layers)
        pooled.sources += exp.sources
        for layer, cost in exp.layer_costs.items():
            pooled.layer_costs.setdefault(layer, cost)
    return pooled


def _refuse_repeated_runs(loaded: Sequence[Experiment]) -> None:
    """Folders pooled as more seeds must hold other seeds: a grid point run with the same seed
    in two folders is the same run twice (runs are deterministic), and would shrink the std."""
    where: dict[tuple[str, float, str, int, int], str] = {}
    for exp in loaded:
        for c in exp.cells:
            key = (c.method, round(c.sparsity, 9), c.ablation, c.seed, c.prune_at)
            other = where.setdefault(key, c.folder)
            if other != c.folder:
                raise ReportError(
                    f"{c.folder}: cell {c.cell_id!r} (seed {c.seed}) is also in {other}; "
                    "folders pooled together must hold different seeds"
                )


def load_experiment(folder: str | os.PathLike[str]) -> Experiment:
    """Read one experiment folder's index, rebuilding it from the artifacts if it is missing."""
    name = os.fspath(folder)
    path = Path(folder)
    if not path.exists():
        raise ReportError(f"{name}: no such folder")
    if not path.is_dir():
        raise ReportError(
            f"{name}: not a folder (give an experiment folder, made by 'maskkit experiment')"
        )
    index = path / INDEX
    if not index.exists():
        rebuild_index(name)
        if not index.is_file():
            raise ReportError(f"{name}: the rebuild wrote no {INDEX}")
    try:
        return _read_index(name, index)
    except sqlite3.Error as exc:
        raise ReportError(f"{name}/{INDEX}: not a readable experiment index ({exc})") from None


def rebuild_index(folder: str) -> None:
    """Rebuild ``folder``'s index from its artifacts with the experiment package's own function."""
    try:
        module = importlib.import_module("maskkit.experiment.index")
        rebuild = module.rebuild
    except (ImportError, AttributeError):
        raise ReportError(
            f"{folder}: has no {INDEX} and it cannot be rebuilt (this maskkit has no "
            "maskkit.experiment.index.rebuild); is it an experiment folder?"
        ) from None
    rebuild(folder)


def _connect(index: Path) -> sqlite3.Connection:
    # mode=ro: a report never writes into the folders it reads (nor creates a journal there).
    uri = index.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True)


def _read_index(name: str, index: Path) -> Experiment:
    where = f"{name}/{INDEX}"
    with _closing(_connect(index)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table in ("meta", "cells"):
            if table not in tables:
                raise ReportError(f"{where}: not an experiment index (no {table} table)")
        meta = {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
        if meta.get("format") != FORMAT:
            raise ReportError(
                f"{where}: not an experiment index (format {meta.get('format')!r}, expected {FORMAT!r})"
            )
        if meta.get("version") != VERSION:
            raise ReportError(
                f"{where}: index version {meta.get('version')!r} is not one this maskkit reads ({VERSION})"
            )
        columns = {row[1] for row in db.execute("PRAGMA table_info(cells)")}
        missing = [c for c in CELL_COLUMNS if c not in columns]
        if missing:
            raise ReportError(f"{where}: the cells table lacks column(s) {', '.join(missing)}")
        rows = db.execute(
            f"SELECT {', '.join(CELL_COLUMNS)} FROM cells ORDER BY cell_id"
        ).fetchall()
        cells = [_cell(where, name, row) for row in rows]
        layers: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
        if "layers" in tables:
            # rowid order is the order the layers were written: the model's own.
            for cell_id, layer, numel, kept in db.execute(
                "SELECT cell_id, layer, numel, kept FROM layers ORDER BY rowid"
            ):
                layers.setdefault((name, str(cell_id)), {})[str(layer)] = (int(numel), int(kept))
        costs: dict[str, tuple[int, int]] = {}
        if "layer_costs" in tables:
            for layer, numel, macs in db.execute(
                "SELECT layer, numel, macs FROM layer_costs ORDER BY rowid"
            ):
                costs[str(layer)] = (int(numel), int(macs))
        paths = _node_paths(db, tables)
    exp = Experiment(
        folders=[name],
        meta=meta,
        cells=cells,
        layers=layers,
        layer_costs=costs,
        sources=[(name, meta.get("model", "?"), meta.get("dataset", "?"))],
    )
    check_consistency(exp, paths)
    return exp


class _closing:
    """``contextlib.closing`` for a connection (its own ``with`` commits, it does not close)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _cell(where: str, folder: str, row: tuple) -> Cell:
    (
        cell_id,
        method,
        sparsity,
        ablation,
        seed,
        prune_at,
        status,
        acc,
        loss,
        train_loss,
        kept,
        prunable,
        wall,
        mask_sha,
        error,
    ) = row
    if status not in STATUSES:
        raise ReportError(
            f"{where}: cell {cell_id!r} has status {status!r} (expected one of {', '.join(STATUSES)})"
        )
    try:
        cell = Cell(
            folder=folder,
            cell_id=str(cell_id),
            method=str(method),
            sparsity=float(sparsity),
            ablation=str(ablation),
            seed=int(seed),
            prune_at=int(prune_at),
            status=str(status),
            test_accuracy=_number(acc),
            test_loss=_number(loss),
            train_loss=_number(train_loss),
            kept=None if kept is None else int(kept),
            prunable=None if prunable is None else int(prunable),
            wall_time_s=_number(wall),
            mask_sha256=None if mask_sha is None else str(mask_sha),
            error=None if error is None else str(error),
        )
    except (TypeError, ValueError):
        raise ReportError(f"{where}: cell {cell_id!r} has a malformed row") from None
    if not 0.0 <= cell.sparsity < 1.0:
        raise ReportError(f"{where}: cell {cell_id!r} has sparsity {cell.sparsity} outside [0, 1)")
    if cell.status == "done" and cell.test_accuracy is None:
        raise ReportError(f"{where}: cell {cell_id!r} is done but has no test_accuracy")
    if cell.test_accuracy is not None and not 0.0 <= cell.test_accuracy <= 1.0:
        raise ReportError(
            f"{where}: cell {cell_id!r} has test_accuracy {cell.test_accuracy} outside [0, 1]"
        )
    return cell


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    # NaN or inf in a metric is a broken run; reported as missing rather than averaged in.
    return number if number == number and abs(number) != float("inf") else None


def _node_paths(db: sqlite3.Connection, tables: set[str]) -> list[str]:
    """The artifact paths the index's nodes name (relative to the folder), if it records them."""
    if "nodes" not in tables:
        return []
    columns = {row[1] for row in db.execute("PRAGMA table_info(nodes)")}
    if "path" not in columns:
        return []
    query = "SELECT path FROM nodes"
    if "status" in columns:
        # Only the nodes that claim to be finished must have their artifact.
        query += " WHERE status = 'done'"
    return [str(p) for (p,) in db.execute(query) if p]


def check_consistency(exp: Experiment, paths: Sequence[str] = ()) -> None:
    """Refuse an index that disagrees with itself or with the folder, saying which cells.

    Cheap checks only (no artifact is opened): each done cell's per-layer counts add up to its
    kept and prunable counts, and every artifact the finished nodes name exists.
    """
    folder = exp.folders[0]
    where = f"{folder}/{INDEX}"
    wrong = []
    for cell in exp.cells:
        layers = exp.layers.get((folder, cell.cell_id))
        if not cell.done or not layers or cell.kept is None:
            continue
        kept = sum(k for _, k in layers.values())
        numel = sum(n for n, _ in layers.values())
        if kept != cell.kept or (cell.prunable is not None and numel != cell.prunable):
            wrong.append(cell.cell_id)
    if wrong:
        raise ReportError(
            f"{where}: the per-layer counts of {_some(wrong, 'cell')} disagree with their kept counts; "
            f"delete {INDEX} to rebuild it from the artifacts"
        )
    base = Path(folder)
    absent = [p for p in paths if not (base / p).exists()]
    if absent:
        raise ReportError(
            f"{where}: names artifacts that are not in the folder: {_some(absent, 'file')}; "
            f"delete {INDEX} to rebuild it from the artifacts"
        )


def _some(names: Sequence[str], noun: str, limit: int = 3) -> str:
    """``2 cells ("a", "b")``: a count and the first few names, so the line stays one line."""
    shown = ", ".join(json.dumps(n) for n in names[:limit])
    more = len(names) - limit
    plural = noun if len(names) == 1 else noun + "s"
    return f"{len(names)} {plural} ({shown}{f' and {more} more' if more > 0 else ''})"
