"""Shared test helpers: paths, a CLI runner, and small artifacts built by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# Many tiny convolutions run far slower on 2 threads than on 1 when several processes share
# the machine; tests measure behaviour, not speed.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def invoke(args: list[str], input: bytes | None = None):
    """Run the maskkit CLI in-process; stdout as bytes, stderr as text."""
    from maskkit_cli.main import cli

    runner = CliRunner()
    return runner.invoke(cli, args, input=input, catch_exceptions=False)


def run_maskkit(args: list[str], input: bytes | None = None, cwd: Path | None = None, check: bool = False):
    """Run the installed CLI in a real subprocess (pipes, exit codes, imports)."""
    return subprocess.run(
        [sys.executable, "-m", "maskkit", *args],
        input=input,
        capture_output=True,
        cwd=cwd,
        check=check,
    )


def random_mask_arrays(shapes: dict[str, tuple[int, ...]], density: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.random(shape) < density for name, shape in shapes.items()}
