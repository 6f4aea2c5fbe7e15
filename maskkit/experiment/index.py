"""The experiment index: one SQLite file, ``DIR/index.sqlite``, derived from the artifacts.

Tables (``spec/experiment-v1.md`` §5): ``meta``, ``cells``, ``layers``, ``layer_costs`` and
``nodes``. Only the coordinating process writes it; :func:`rebuild` makes it again from the
artifacts and node records alone, and :func:`open_index` gives a read-only connection.
Standard library (and numpy, to verify artifacts) only: no torch.

>>> con = open_index("results/")                                       # doctest: +SKIP
>>> con.execute("SELECT method, avg(test_accuracy) FROM cells GROUP BY method").fetchall()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from typing import Any

from maskkit.errors import FormatError, MaskkitError

FORMAT = "maskkit-experiment-index"
VERSION = "1"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY, method TEXT, sparsity REAL, ablation TEXT, seed INTEGER,
    prune_at INTEGER, status TEXT, test_accuracy REAL, test_loss REAL, train_loss REAL,
    kept INTEGER, prunable INTEGER, wall_time_s REAL, mask_sha256 TEXT, weights_sha256 TEXT,
    error TEXT, result_node TEXT, mask_node TEXT);
CREATE TABLE layers (
    cell_id TEXT, layer TEXT, numel INTEGER, kept INTEGER, PRIMARY KEY (cell_id, layer));
CREATE TABLE layer_costs (layer TEXT PRIMARY KEY, numel INTEGER, macs INTEGER);
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY, stage TEXT, options TEXT, inputs TEXT, path TEXT, status TEXT,
    wall_time_s REAL, error TEXT, content_sha256 TEXT);
"""


def summarize(meta: Any) -> dict[str, Any]:
    """What the index keeps of an artifact, from its metadata (the same live and rebuilt)."""
    training = meta.training or {}
    metrics = training.get("metrics")
    return {
        "kind": meta.kind,
        "content_hash": meta.content_hash,
        "layers": {name: [c.numel, c.kept] for name, c in sorted(meta.layers.items())},
        "metrics": dict(metrics) if isinstance(metrics, Mapping) else None,
    }


class Index:
    """The index being written by a run: rows are replaced as nodes finish."""

    def __init__(self, path: str) -> None:
        # Built in memory and written whole (write_atomic): readers never see a half-built one.
        self.path = path
        self.con = sqlite3.connect(":memory:")
        self.con.executescript(SCHEMA)

    def write_meta(self, values: Mapping[str, str]) -> None:
        self.con.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            sorted((k, str(v)) for k, v in values.items()),
        )

    def write_costs(self, costs: Mapping[str, tuple[int, int]]) -> None:
        self.con.executemany(
            "INSERT OR REPLACE INTO layer_costs VALUES (?, ?, ?)",
            [(name, int(n), int(m)) for name, (n, m) in sorted(costs.items())],
        )

    def write_node(self, row: Mapping[str, Any]) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["node_id"],
                row["stage"],
                json.dumps(row["options"], sort_keys=True),
                json.dumps(row["inputs"]),
                row["path"],
                row["status"],
                row.get("wall_time_s"),
                row.get("error"),
                row.get("content_sha256"),
            ),
        )

    def write_cell(self, row: Mapping[str, Any], layers: Mapping[str, list[int]]) -> None:
        cols = [
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
            "weights_sha256",
            "error",
            "result_node",
            "mask_node",
        ]
        self.con.execute(
            f"INSERT OR REPLACE INTO cells VALUES ({', '.join('?' * len(cols))})",
            [row.get(c) for c in cols],
        )
        self.con.execute("DELETE FROM layers WHERE cell_id = ?", (row["cell_id"],))
        self.con.executemany(
            "INSERT INTO layers VALUES (?, ?, ?, ?)",
            [(row["cell_id"], name, n, k) for name, (n, k) in sorted(layers.items())],
        )

    def publish(self) -> None:
        """Write the index to its path in one piece."""
        from maskkit.format import write_atomic

        self.con.commit()
        write_atomic(self.path, [_database_bytes(self.con)])

    def close(self) -> None:
        self.con.close()


def _database_bytes(con: sqlite3.Connection) -> bytes:
    if hasattr(con, "serialize"):  # Python 3.11+
        return con.serialize()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:  # Python 3.10: a copy through a scratch file
        scratch = os.path.join(folder, "index.sqlite")
        target = sqlite3.connect(scratch)
        try:
            con.backup(target)
        finally:
            target.close()
        with open(scratch, "rb") as f:
            return f.read()


def cell_row(
    cell_plan: Any,
    summaries: Mapping[str, Mapping[str, Any]],
    records: Mapping[str, Mapping[str, Any]],
    prunable: int | None,
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """A cell's row and per-layer counts from its nodes' summaries and records."""
    c = cell_plan.cell
    row: dict[str, Any] = {
        **c.to_dict(),
        "cell_id": c.cell_id,
        "prunable": prunable,
        "result_node": cell_plan.result,
        "mask_node": cell_plan.mask,
    }
    result = summaries.get(cell_plan.result)
    mask = summaries.get(cell_plan.mask) if cell_plan.mask else None
    failed = [n for n in cell_plan.chain if records.get(n, {}).get("status") == "failed"]
    if result is not None and result.get("metrics") is not None and (mask or not cell_plan.mask):
        metrics = result["metrics"]
        if mask is not None:
            layers = mask["layers"]
        else:  # dense: every prunable weight kept
            layers = {name: [n, n] for name, (n, _) in result["layers"].items()}
        times = [records.get(n, {}).get("wall_time_s") for n in cell_plan.chain]
        row.update(
            status="done",
            test_accuracy=metrics.get("test_accuracy"),
            test_loss=metrics.get("test_loss"),
            train_loss=metrics.get("train_loss"),
            kept=sum(k for _, k in layers.values()),
            wall_time_s=None if None in times else round(sum(times), 6),
            mask_sha256=mask["content_hash"] if mask is not None else None,
            weights_sha256=result["content_hash"],
        )
        return row, layers
    error = None
    if failed:
        error = f"{failed[0]}: {records[failed[0]].get('error')}"
    row.update(status="failed" if failed else "not-run", error=error)
    return row, {}


def node_row(
    node: Any, path: str, summary: Mapping[str, Any] | None, record: Mapping[str, Any] | None
) -> dict[str, Any]:
    record = record or {}
    status = "done" if summary is not None else record.get("status", "not-run")
    if status == "done" and summary is None:
        status = "not-run"
    return {
        **node.to_dict(),
        "path": path,
        "status": status,
        "wall_time_s": record.get("wall_time_s") if summary is not None else None,
        "error": record.get("error") if status == "failed" else None,
        "content_sha256": summary["content_hash"] if summary is not None else None,
    }


def read_record(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_artifact(node: Any, path: str, inputs: Mapping[str, str]) -> dict[str, Any] | None:
    """The summary of ``path`` if it holds a verified artifact that ``node`` made; else None.

    Raises :class:`FormatError` for a file that exists but is damaged or belongs elsewhere.
    ``inputs`` maps the node's input references to the content hashes of their artifacts.
    """
    from maskkit.format import load

    if not os.path.exists(path):
        return None
    artifact = load(path)
    meta = artifact.metadata
    last = meta.provenance[-1] if meta.provenance else None
    expected = None if not node.inputs else inputs.get(node.inputs[0])
    if last is None or last.stage != node.stage or (expected and last.input != expected):
        raise FormatError(
            f"{path}: made by another stage or from other inputs than node {node.node_id}"
        )
    for step in getattr(node, "saves", ()):
        saved = path[: -len(".safetensors")] + f".step{step}.safetensors"
        if not os.path.exists(saved):
            raise FormatError(f"{saved}: missing (the weights saved at step {step})")
        load(saved, kind="weights")
    return summarize(meta)


def rebuild(dir: str | os.PathLike[str]) -> str:
    """Rebuild ``DIR/index.sqlite`` from the grid, the artifacts and the node records; its path.

    A damaged or foreign artifact counts as not run (a run moves it aside and redoes it).
    """
    from maskkit.experiment.grid import read_grid
    from maskkit.experiment.layout import Layout
    from maskkit.experiment.plan import build_plan

    layout = Layout(os.fspath(dir))
    if not os.path.exists(layout.grid):
        raise FormatError(f"{layout.root}: not an experiment folder (no grid.toml)")
    plan = build_plan(read_grid(layout.grid))
    summaries: dict[str, dict[str, Any]] = {}
    hashes: dict[str, str] = {}
    for node in plan.nodes.values():
        path = layout.artifact(node.node_id)
        if not all(ref.split("#")[0] in summaries for ref in node.inputs):
            continue
        try:
            summary = check_artifact(node, path, hashes)
        except MaskkitError:
            summary = None
        if summary is not None:
            summaries[node.node_id] = summary
            hashes[node.node_id] = summary["content_hash"]
            for step in node.saves:
                hashes[f"{node.node_id}#step{step}"] = _hash_of(layout.artifact(node.node_id, step))
    return write_index(plan, layout, summaries)


def _hash_of(path: str) -> str:
    from maskkit.format import read_metadata

    return read_metadata(path).content_hash


def write_index(plan: Any, layout: Any, summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """Write the whole index of ``plan`` from the node summaries and the records on disk."""
    records = {n: read_record(layout.record(n)) or {} for n in plan.nodes}
    info = read_record(layout.info) or {}
    index = Index(layout.index)
    index.write_meta(meta_values(plan, info))
    index.write_costs({k: tuple(v) for k, v in info.get("layer_costs", {}).items()})
    for node in plan.nodes.values():
        index.write_node(
            node_row(
                node,
                os.path.relpath(layout.artifact(node.node_id), layout.root),
                summaries.get(node.node_id),
                records[node.node_id],
            )
        )
    for cell_plan in plan.cells:
        row, layers = cell_row(cell_plan, summaries, records, info.get("prunable"))
        index.write_cell(row, layers)
    index.publish()
    index.close()
    return layout.index


def meta_values(plan: Any, info: Mapping[str, Any]) -> dict[str, str]:
    from maskkit._version import __version__

    grid = plan.grid
    return {
        "format": FORMAT,
        "version": VERSION,
        "grid": grid.text,
        "model": grid.model,
        "model_args": json.dumps(info.get("model_args", grid.model_args), sort_keys=True),
        "dataset": grid.dataset["name"],
        "maskkit_version": __version__,
        "prunable": str(info.get("prunable", "")),
        "cells": str(len(plan.cells)),
        "nodes": str(len(plan.nodes)),
    }


def open_index(dir: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only connection to ``DIR/index.sqlite``, rebuilt first if it is missing."""
    path = os.path.join(os.fspath(dir), "index.sqlite")
    if not os.path.exists(path):
        rebuild(dir)
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
