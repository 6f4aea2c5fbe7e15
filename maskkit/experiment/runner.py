"""Run a plan's nodes on any ``concurrent.futures.Executor``: a local process pool, or Dask's
``Client.get_executor()``; the scheduling below is the same code for both.

The coordinator (this process) alone decides what runs, writes the node records and the index,
and holds the folder's lock; workers only read their inputs and write their own artifact, each
atomically. A node whose artifact exists and verifies is not run again, so rerunning the same
command resumes a killed or interrupted grid.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from maskkit.errors import MaskkitError, OptionError
from maskkit.experiment.grid import Grid
from maskkit.experiment.index import check_artifact, write_index
from maskkit.experiment.layout import Layout
from maskkit.experiment.plan import Plan, build_plan

Event = Callable[..., None]


class ExperimentError(MaskkitError):
    """The experiment cannot run: its folder, its lock, its scheduler or its first contact with
    the model and dataset."""


class Interrupted(MaskkitError):
    """The run was stopped (Ctrl-C); what finished is kept and the next run resumes."""


@dataclass
class RunSummary:
    nodes: int = 0
    skipped: int = 0
    ran: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # node, error, log path
    not_run: int = 0
    cells: int = 0
    cells_done: int = 0
    cells_failed: int = 0
    cells_not_run: int = 0
    damaged: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)  # node ids run by this call, in order
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and self.cells_done == self.cells


@contextlib.contextmanager
def folder_lock(layout: Layout) -> Iterator[None]:
    """Hold ``DIR/.lock``: a second runner on the same folder is refused, not raced.

    flock is released by the kernel when the holder dies, so a SIGKILLed run leaves no stale
    lock; the descriptor is close-on-exec and the workers are spawned, so none inherits it.
    """
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExperimentError(
                f"{layout.root}: another maskkit experiment run is using this folder"
            ) from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a batch system's stop, ``kill``) stops the run as Ctrl-C does: workers ended,
    the index written, nothing partial left."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def prepare_folder(layout: Layout) -> None:
    foreign = layout.foreign_entries()
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ExperimentError(
            f"{layout.root}: holds files that are not an experiment's ({shown}); "
            "give a new or empty folder"
        )
    if os.path.exists(layout.root) and not os.path.isdir(layout.root):
        raise ExperimentError(f"{layout.root}: is not a folder")
    os.makedirs(layout.root, exist_ok=True)
    layout.make_dirs()


def local_executor(jobs: int, threads: int) -> cf.Executor:
    """``jobs`` spawned worker processes, each importing torch once with ``threads`` threads
    (and, on a machine with several GPUs, a GPU of its own)."""
    from maskkit.experiment.nodes import worker_setup

    context = multiprocessing.get_context("spawn")
    gpus = visible_gpus()
    slots = None
    if len(gpus) > 1:
        slots = context.Queue()
        for i in range(jobs):
            slots.put(i)
    return cf.ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=worker_setup,
        initargs=(threads, os.getpid(), slots, tuple(gpus)),
    )


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, found without importing torch."""
    import shutil
    import subprocess

    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    listed_gpus = [line for line in out.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(listed_gpus))]


def default_threads(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def default_jobs() -> int:
    """One node per core, one torch thread each: on 2 cores --jobs 2 measured faster than
    --jobs 1 (small models use a second thread poorly, and threads oversubscribe a busy
    machine); one per GPU where there are GPUs."""
    gpus = visible_gpus()
    return len(gpus) if gpus else max(1, os.cpu_count() or 1)


def scan(
    plan: Plan, layout: Layout, on_event: Event, *, move: bool = True
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The summaries of the nodes already done, and the damaged ones (with ``move``, their
    files are moved to DIR/damaged/, never deleted, and the nodes run again)."""
    summaries: dict[str, dict[str, Any]] = {}
    hashes: dict[str, str] = {}
    damaged: list[str] = []
    for node in plan.nodes.values():
        if not all(dep in summaries for dep in node.depends_on):
            continue  # an input will be remade, so this node will be too
        path = layout.artifact(node.node_id)
        try:
            summary = check_artifact(node, path, hashes)
        except MaskkitError as exc:
            damaged.append(_move_aside(layout, node, exc, on_event) if move else node.node_id)
            continue
        if summary is not None:
            summaries[node.node_id] = summary
            hashes[node.node_id] = summary["content_hash"]
            for step in node.saves:
                from maskkit.format import read_metadata

                hashes[f"{node.node_id}#step{step}"] = read_metadata(
                    layout.artifact(node.node_id, step)
                ).content_hash
    return summaries, damaged


def _move_aside(layout: Layout, node: Any, exc: Exception, on_event: Event) -> str:
    os.makedirs(layout.damaged, exist_ok=True)
    moved = []
    for path in [
        layout.artifact(node.node_id),
        *(layout.artifact(node.node_id, s) for s in node.saves),
    ]:
        if os.path.exists(path):
            target = os.path.join(
                layout.damaged, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.path.basename(path)}"
            )
            # A copy written whole, then the original unlinked: moved aside, never lost.
            from maskkit.format import read_file, write_atomic

            write_atomic(target, [read_file(path)])
            os.unlink(path)
            moved.append(target)
    on_event("damaged", node_id=node.node_id, error=str(exc), moved=moved)
    return node.node_id


def run_plan(
    plan: Plan,
    layout: Layout,
    executor: cf.Executor,
    *,
    slots: int,
    threads: int | None,
    data_dir: str | None = None,
    on_event: Event | None = None,
    index_every_s: float = 10.0,
) -> RunSummary:
    """Run every node of ``plan`` not yet done, at most ``slots`` at once; the summary."""
    from maskkit.experiment.nodes import probe, run_node

    emit = on_event or (lambda *a, **k: None)
    started = time.perf_counter()
    grid = plan.grid
    summary = RunSummary(nodes=len(plan.nodes), cells=len(plan.cells))
    summaries, summary.damaged = scan(plan, layout, emit)
    summary.skipped = len(summaries)
    grid_task = {
        "model": grid.model,
        "model_args": grid.model_args,
        "dataset": grid.dataset,
    }
    pending = [n for n in plan.nodes if n not in summaries]
    if pending or not os.path.exists(layout.info):
        _probe(
            executor, probe, {"grid": grid_task, "data_dir": data_dir, "threads": threads}, layout
        )
    emit("start", total=len(plan.nodes), done=len(summaries), cells=len(plan.cells))
    _write_index(plan, layout, summaries)

    blocked: set[str] = set()  # not run: an input failed
    failed: set[str] = set()
    running: dict[cf.Future, str] = {}
    waiting = list(pending)
    cell_of_result: dict[str, list[Any]] = {}
    for cp in plan.cells:
        cell_of_result.setdefault(cp.result, []).append(cp)
    last_index = time.monotonic()
    broken = False

    def submit_ready() -> None:
        nonlocal waiting
        still = []
        for node_id in waiting:
            node = plan.nodes[node_id]
            if node_id in blocked:
                continue
            if len(running) >= slots or broken or not all(d in summaries for d in node.depends_on):
                still.append(node_id)
                continue
            task = node_task(node, layout, grid, threads=threads, data_dir=data_dir)
            running[executor.submit(run_node, task)] = node_id
            emit("node-start", node_id=node_id, stage=node.stage, running=len(running))
        waiting = still

    try:
        submit_ready()
        while running:
            done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for future in done:
                node_id = running.pop(future)
                try:
                    result = future.result()
                except cf.process.BrokenProcessPool:
                    broken = True
                    result = _lost(node_id, "a worker process died (killed, or out of memory)")
                except Exception as exc:  # the engine lost the task (a Dask worker died)
                    result = _lost(node_id, f"the worker was lost: {type(exc).__name__}: {exc}")
                node = plan.nodes[node_id]
                summary.executed.append(node_id)
                record = {**node.to_dict(), "wall_time_s": result.get("wall_time_s")}
                if result["ok"]:
                    summaries[node_id] = result["summary"]
                    summary.ran += 1
                    _write_json(
                        layout.record(node_id),
                        {**record, "status": "done", "host": result.get("host")},
                    )
                    for message in result.get("warnings", ()):
                        emit("warning", node_id=node_id, message=message)
                    emit(
                        "node-done",
                        node_id=node_id,
                        stage=node.stage,
                        wall_time_s=result["wall_time_s"],
                    )
                    for cp in cell_of_result.get(node_id, ()):
                        metrics = result["summary"].get("metrics") or {}
                        emit("cell-done", cell=cp.cell, accuracy=metrics.get("test_accuracy"))
                else:
                    failed.add(node_id)
                    log = layout.log(node_id)
                    _write_text(log, result.get("traceback") or result["error"] + "\n")
                    _write_json(
                        layout.record(node_id),
                        {**record, "status": "failed", "error": result["error"]},
                    )
                    summary.failed.append((node_id, result["error"], log))
                    below = plan.downstream(node_id)
                    blocked.update(below)
                    emit(
                        "node-failed",
                        node_id=node_id,
                        stage=node.stage,
                        error=result["error"],
                        log=log,
                        blocked=len(below),
                    )
            if time.monotonic() - last_index > index_every_s:
                _write_index(plan, layout, summaries)
                last_index = time.monotonic()
            submit_ready()
    except KeyboardInterrupt:
        for future in running:
            future.cancel()
        _stop_local_workers(executor)
        _write_index(plan, layout, summaries)
        raise Interrupted(
            f"{layout.root}: interrupted; {len(summaries)} of {len(plan.nodes)} nodes are done "
            "and kept, rerun the same command to resume"
        ) from None
    summary.not_run = len(plan.nodes) - len(summaries) - len(failed)
    _write_index(plan, layout, summaries)
    _count_cells(plan, summaries, layout, summary)
    summary.wall_s = time.perf_counter() - started
    emit("finish", summary=summary)
    return summary


def node_task(
    node: Any, layout: Layout, grid: Grid, *, threads: int | None, data_dir: str | None
) -> dict[str, Any]:
    """The plain dict :func:`maskkit.experiment.nodes.run_node` takes for ``node``."""
    return {
        "node": node.to_dict(),
        "path": layout.artifact(node.node_id),
        "inputs": [layout.ref(r) for r in node.inputs],
        "grid": {"model": grid.model, "model_args": grid.model_args, "dataset": grid.dataset},
        "data_dir": data_dir,
        "threads": threads,
        "checkpoint_dir": layout.checkpoints(node.node_id),
        "checkpoint_every": grid.checkpoint_every,
    }


def _count_cells(
    plan: Plan, summaries: dict[str, Any], layout: Layout, summary: RunSummary
) -> None:
    import sqlite3

    con = sqlite3.connect(f"file:{layout.index}?mode=ro", uri=True)
    try:
        counts = dict(con.execute("SELECT status, count(*) FROM cells GROUP BY status").fetchall())
    finally:
        con.close()
    summary.cells_done = counts.get("done", 0)
    summary.cells_failed = counts.get("failed", 0)
    summary.cells_not_run = counts.get("not-run", 0)


def _sweep_temporary(layout: Layout) -> None:
    """Remove the temporary files of writes a killed run left (ours: we hold the lock)."""
    for sub in ("artifacts", "nodes", "logs"):
        folder = os.path.join(layout.root, sub)
        for name in os.listdir(folder):
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))


def _lost(node_id: str, message: str) -> dict[str, Any]:
    return {"ok": False, "node_id": node_id, "error": message, "traceback": message + "\n"}


def _probe(executor: cf.Executor, probe: Any, task: dict[str, Any], layout: Layout) -> None:
    try:
        info = executor.submit(probe, task).result()
    except cf.process.BrokenProcessPool:
        raise ExperimentError("a worker process died while loading the model and dataset") from None
    except Exception as exc:  # the model or dataset cannot be had: nothing can run
        message = " ".join(str(exc).split()) or type(exc).__name__
        kind = OptionError if isinstance(exc, OptionError) else ExperimentError
        raise kind(f"{layout.root}: {message}") from None
    _write_json(layout.info, info)


def _stop_local_workers(executor: cf.Executor) -> None:
    if isinstance(executor, cf.ProcessPoolExecutor):
        # Our own pool's processes, by id: a node cut short leaves only its temporary file,
        # which write_atomic removes or never renames into place.
        for child in multiprocessing.active_children():
            child.terminate()
        executor.shutdown(wait=True, cancel_futures=True)


def _write_index(plan: Plan, layout: Layout, summaries: dict[str, Any]) -> None:
    write_index(plan, layout, summaries)


def _write_json(path: str, value: Any) -> None:
    _write_text(path, json.dumps(value, sort_keys=True, indent=1) + "\n")


def _write_text(path: str, text: str) -> None:
    from maskkit.format import write_atomic

    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, [text.encode("utf-8")])


def run_experiment(
    grid: Grid,
    dir: str,
    *,
    jobs: int = 1,
    threads: int | None = None,
    executor: cf.Executor | None = None,
    slots: int | None = None,
    on_event: Event | None = None,
) -> RunSummary:
    """Plan ``grid`` and run it into ``dir``: locally with ``jobs`` worker processes, or on the
    given ``executor`` (e.g. ``distributed.Client(...).get_executor()``) with ``slots`` nodes in
    flight."""
    layout = Layout(os.fspath(dir))
    prepare_folder(layout)
    with folder_lock(layout), _terminate_as_interrupt():
        _sweep_temporary(layout)
        _write_text(layout.grid, grid.text)
        plan = build_plan(grid)
        if executor is not None:
            return run_plan(
                plan,
                layout,
                executor,
                slots=slots or jobs,
                threads=threads,
                data_dir=grid.data_dir,
                on_event=on_event,
            )
        threads = threads or default_threads(jobs)
        pool = local_executor(jobs, threads)
        try:
            return run_plan(
                plan,
                layout,
                pool,
                slots=jobs,
                threads=threads,
                data_dir=grid.data_dir,
                on_event=on_event,
            )
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def describe(plan: Plan, dir: str | None = None) -> dict[str, Any]:
    """What ``experiment plan`` prints: cells, nodes by stage, how many are done in ``dir``,
    and the work left in training steps. Reads artifacts (numpy), never torch."""
    stages: dict[str, int] = {}
    for node in plan.nodes.values():
        stages[node.stage] = stages.get(node.stage, 0) + 1
    done: dict[str, Any] = {}
    damaged: list[str] = []
    if dir is not None and os.path.isdir(os.path.join(dir, "artifacts")):
        done, damaged = scan(plan, Layout(dir), lambda *a, **k: None, move=False)
    left = plan.training_steps(exclude=set(done))
    return {
        "cells": len(plan.cells),
        "nodes": len(plan.nodes),
        "stages": dict(sorted(stages.items())),
        "done": len(done),
        "damaged": len(damaged),
        "training_steps": plan.training_steps(),
        "training_steps_left": left,
        "cells_by_method": _by_method(plan),
    }


def _by_method(plan: Plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for cp in plan.cells:
        out[cp.cell.method] = out.get(cp.cell.method, 0) + 1
    return dict(sorted(out.items()))
