"""Helpers shared by the benchmark scripts: timing and a ResNet-50-sized set of masks."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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


def random_masks(shapes: dict[str, tuple[int, ...]], density: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.random(shape, dtype=np.float32) < density for name, shape in shapes.items()}
