"""``maskkit experiment``: plan, run and index a grid of stage pipelines (``spec/experiment-v1.md``)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from maskkit_cli.options import json_option
from maskkit_cli.printable import printable

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@click.group()
def experiment() -> None:
    """Run the paper's study as one command: a grid of pipelines as a DAG, resumable, parallel.

    \b
    Example:
      maskkit experiment plan examples/grids/quick.toml
      maskkit experiment run examples/grids/quick.toml -o results/ --jobs 2
      maskkit experiment index results/
    """


@experiment.command("plan")
@click.argument("grid", metavar="GRID.toml")
@click.option("-o", "--output", "dir", default=None, metavar="DIR", help="Count what is done here.")
@json_option
def plan_command(grid: str, dir: str | None, as_json: bool) -> None:
    """Show the cells and nodes of a grid, what is done in DIR, and the training work.

    \b
    Example:
      maskkit experiment plan examples/grids/mnist-lenet300.toml -o results/ --json
    """
    from maskkit.experiment.grid import read_grid
    from maskkit.experiment.plan import build_plan
    from maskkit.experiment.runner import describe
    from maskkit_cli.report import KeyValues, Report, emit

    info = describe(build_plan(read_grid(grid)), dir)
    steps = info["training_steps"]
    pairs = [
        ("cells", str(info["cells"])),
        ("nodes", str(info["nodes"])),
        ("by stage", ", ".join(f"{k} {v}" for k, v in info["stages"].items())),
        ("cells by method", ", ".join(f"{k} {v}" for k, v in info["cells_by_method"].items())),
        ("done in DIR", f"{info['done']} of {info['nodes']}" if dir else "-"),
        ("training steps", "unknown" if steps is None else f"{steps:,}"),
        ("left to train", "unknown" if steps is None else f"{info['training_steps_left']:,}"),
    ]
    if info["damaged"]:
        pairs.append(("damaged", f"{info['damaged']} (moved aside and redone by run)"))
    emit(info, Report([KeyValues(pairs)]), as_json=as_json)


@experiment.command("run")
@click.argument("grid", metavar="GRID.toml")
@click.option("-o", "--output", "dir", required=True, metavar="DIR", help="The results folder.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Nodes at once: local worker processes (default: one per CPU core, or per GPU), "
    "or in flight on a cluster (default: its thread count).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch threads per node (default: cores // jobs locally; the worker's own on Dask).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run on a Dask cluster, e.g. tcp://host:8786.",
)
@click.option(
    "--scheduler-file",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Run on the Dask cluster this scheduler file names (dask scheduler --scheduler-file).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the Dask scheduler.",
)
@click.option(
    "--progress/--no-progress", default=None, help="The live display (default: on a terminal)."
)
def run_command(
    grid: str,
    dir: str,
    jobs: int | None,
    threads: int | None,
    scheduler: str | None,
    scheduler_file: str | None,
    connect_timeout: float,
    progress: bool | None,
) -> None:
    """Run every node of GRID not yet done in DIR; rerun the same command to resume.

    Exits 1 when a node failed (its log is kept under DIR/logs/), after running the rest.

    \b
    Example:
      maskkit experiment run examples/grids/quick.toml -o results/ --jobs 2
      maskkit experiment run grid.toml -o /shared/results --scheduler tcp://head:8786
    """
    from maskkit.experiment.grid import read_grid
    from maskkit.experiment.runner import Interrupted, default_jobs, run_experiment

    if scheduler and scheduler_file:
        raise click.UsageError("give --scheduler or --scheduler-file, not both")
    parsed = read_grid(grid)
    display = Display(progress if progress is not None else sys.stderr.isatty())
    try:
        if scheduler or scheduler_file:
            client = _client(scheduler, scheduler_file, connect_timeout)
            try:
                slots = jobs or max(1, sum(client.nthreads().values()))
                summary = run_experiment(
                    parsed,
                    dir,
                    executor=client.get_executor(pure=False),
                    slots=slots,
                    threads=threads,
                    on_event=display.event,
                )
            finally:
                client.close()
        else:
            summary = run_experiment(
                parsed, dir, jobs=jobs or default_jobs(), threads=threads, on_event=display.event
            )
    except Interrupted as exc:
        display.stop()
        click.echo(f"maskkit: {printable(str(exc))}", err=True)
        click.get_current_context().exit(EXIT_INTERRUPTED)
    finally:
        display.stop()
    click.echo(
        f"maskkit: {summary.cells_done}/{summary.cells} cells done "
        f"({summary.ran} nodes run, {summary.skipped} already done, {len(summary.failed)} failed, "
        f"{summary.not_run} not run) in {summary.wall_s:.1f} s; index {dir.rstrip('/')}/index.sqlite",
        err=True,
    )
    for node_id, error, log in summary.failed:
        click.echo(f"maskkit: failed: {node_id}: {printable(error)} (log: {log})", err=True)
    if not summary.ok:
        click.get_current_context().exit(EXIT_FAILED)


@experiment.command("index")
@click.argument("dir", metavar="DIR")
@json_option
def index_command(dir: str, as_json: bool) -> None:
    """Rebuild DIR/index.sqlite from the grid, artifacts and node records alone.

    \b
    Example:
      maskkit experiment index results/ && sqlite3 results/index.sqlite 'SELECT * FROM cells'
    """
    from maskkit.experiment.index import open_index, rebuild
    from maskkit_cli.report import KeyValues, Report, emit

    path = rebuild(dir)
    con = open_index(dir)
    try:
        counts = dict(con.execute("SELECT status, count(*) FROM cells GROUP BY status"))
    finally:
        con.close()
    doc = {"index": path, "cells": {k: counts.get(k, 0) for k in ("done", "failed", "not-run")}}
    pairs = [("index", path), *((k, str(v)) for k, v in doc["cells"].items())]
    emit(doc, Report([KeyValues(pairs)]), as_json=as_json)


def _client(address: str | None, scheduler_file: str | None, timeout: float) -> Any:
    from maskkit.experiment.runner import ExperimentError

    try:
        from distributed import Client
    except ImportError:
        raise ExperimentError(
            "--scheduler needs Dask distributed: pip install 'maskkit[distributed]'"
        ) from None
    where = address or scheduler_file
    try:
        if scheduler_file:
            return Client(scheduler_file=scheduler_file, timeout=f"{timeout}s")
        return Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise ExperimentError(f"cannot reach the Dask scheduler {where}: {message}") from None


class Display:
    """Progress on stderr: a rich bar (nodes done / running / failed / total, ETA) on a terminal,
    and one line per finished cell with its accuracy either way."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress: Any = None
        self.task: Any = None
        self.counts = {"done": 0, "running": 0, "failed": 0, "total": 0}
        self.started = time.monotonic()

    def event(self, kind: str, **data: Any) -> None:
        c = self.counts
        if kind == "start":
            c["total"], c["done"] = data["total"], data["done"]
            self._say(f"{data['cells']} cells, {data['total']} nodes, {data['done']} already done")
            if self.live:
                self._start_bar()
        elif kind == "node-start":
            c["running"] += 1
        elif kind == "node-done":
            c["running"] -= 1
            c["done"] += 1
        elif kind == "node-failed":
            c["running"] -= 1
            c["failed"] += 1
            self._say(
                f"failed: {data['node_id']}: {data['error']} ({data['blocked']} nodes after it not "
                f"run; log {data['log']})"
            )
        elif kind == "cell-done":
            acc = data["accuracy"]
            shown = "-" if acc is None else f"{acc:.2%}"
            self._say(f"cell {data['cell'].cell_id}: test accuracy {shown}")
        elif kind == "damaged":
            self._say(f"damaged, moved aside and redone: {data['node_id']}: {data['error']}")
        elif kind == "warning":
            self._say(f"warning: {data['node_id']}: {data['message']}")
        self._update()

    def _say(self, line: str) -> None:
        text = f"maskkit: {printable(line)}"
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text, err=True)

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("nodes"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("nodes", total=self.counts["total"], stats="")

    def _update(self) -> None:
        if self.progress is None:
            return
        c = self.counts
        stats = (
            f"{c['done']} done, {c['running']} running, {c['failed']} failed, {c['total']} total"
        )
        self.progress.update(self.task, completed=c["done"] + c["failed"], stats=stats)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
