"""Helpers shared by the benchmark scripts: timing, measured child processes, ResNet-50 masks."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def best_of(fn: Callable[[], object], repeats: int = 5) -> float:
    """Fastest of several runs: the least disturbed by other work on a shared machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def alternated(fns: dict[str, Callable[[], object]], repeats: int = 9) -> dict[str, float]:
    """Median time of each function, run in turn (A, B, A, B, ...) so that drifts in machine load
    and allocator state hit all of them alike."""
    times: dict[str, list[float]] = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(ts) for label, ts in times.items()}


def command_time(argv: list[str], repeats: int = 9) -> tuple[float, float]:
    """(best, median) wall time of a whole command, stdout into a pipe."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def maskkit_command() -> list[str]:
    """The installed console script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).parent / "maskkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "maskkit"]


def resnet50_shapes() -> dict[str, tuple[int, ...]]:
    from maskkit.models import build_model, model_args, prunable_names

    model = build_model("resnet50", model_args("resnet50"), seed=0)
    params = dict(model.named_parameters())
    return {name: tuple(params[name].shape) for name in prunable_names(model)}


def random_masks(
    shapes: dict[str, tuple[int, ...]], density: float, seed: int
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.random(shape, dtype=np.float32) < density for name, shape in shapes.items()}


@dataclass(frozen=True)
class Run:
    """One child process: wall seconds, peak RSS bytes, user and system CPU seconds, stdout."""

    wall: float
    rss: int
    user: float
    sys: float
    stdout: str


def run_child(
    argv: list[str],
    *,
    stdin: Path | None = None,
    env: dict[str, str] | None = None,
    label: str = "",
) -> Run:
    """Run ``argv`` to completion and measure it with ``os.wait4`` (its own rusage, nobody else's).

    Linux counts a child's RSS from before its exec, i.e. its parent's: a script measuring this
    way must not import torch itself. Exits with the child's stderr if it fails.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        fin = stdin.open("rb") if stdin is not None else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdin=fin, stdout=out, stderr=err, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        finally:
            if fin is not subprocess.DEVNULL:
                fin.close()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip().splitlines()[-3:]
            sys.exit(f"{label or argv[0]} failed (exit {proc.returncode}): {' | '.join(message)}")
        out.seek(0)
        text = out.read().decode(errors="replace")
    # Linux reports ru_maxrss in KiB.
    return Run(wall, usage.ru_maxrss * 1024, usage.ru_utime, usage.ru_stime, text)
