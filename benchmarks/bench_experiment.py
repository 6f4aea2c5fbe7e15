"""`maskkit experiment`: the runner's overhead, the speed-up of --jobs 2, and plan's speed.

Targets (issue 10):
- overhead: `maskkit experiment run GRID --jobs 1` within 1.05x of the same nodes called back to
  back in one process. Both sides are fresh processes, so both pay interpreter start and one
  `import torch` (the runner's in its worker); the runner adds planning, the probe of the model
  and dataset, worker start-up, verification of inputs, records and the index. Both run with
  the machine's core count of torch threads, and the two runs' artifacts must have equal
  content hashes (checked; exit 1 if not).
- `--jobs 2` against `--jobs 1` on the same grid: the speed-up (it chooses the default).
- `experiment plan` on the CIFAR ResNet-20 grid and on a generated 10,000-cell grid, each a
  fresh process: under 2 s, and torch never imported.

The sides run alternately (A, B, A, B, ...), so drifts in machine load hit both alike; on a shared
machine trust the medians. Grid: examples/grids/quick.toml (LeNet-300-100 / MNIST, a few minutes
per run), or with --quick a tiny synthetic grid (seconds).

Run: ``.venv/bin/python benchmarks/bench_experiment.py [--quick] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY = """
[model]
name = "lenet300"
[dataset]
name = "synthetic"
input_shape = [1, 16, 16]
num_classes = 4
options = { train_size = 2048, test_size = 256 }
[training]
epochs = 2
batch_size = 64
[grid]
seeds = [0, 1]
methods = ["magnitude", "snip", "synflow", "dense", "lottery"]
sparsities = [0.5, 0.9]
ablations = ["none", "shuffle", "reinit"]
"""

BIG = """
[model]
name = "resnet20"
[dataset]
name = "cifar10"
[grid]
seeds = [0, 1, 2, 3, 4]
methods = ["random", "magnitude", "snip", "grasp", "synflow"]
sparsities = { remaining = 0.8, powers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20] }
ablations = ["none", "shuffle", "reinit", "invert"]
prune_at = [0, 100, 500, 1000, 2000]
"""

BACK_TO_BACK = """
import sys, time
from maskkit.experiment import read_grid, build_plan
from maskkit.experiment.layout import Layout
from maskkit.experiment.nodes import run_node
from maskkit.experiment.runner import default_threads, node_task
grid = read_grid(sys.argv[1])
layout = Layout(sys.argv[2])
layout.make_dirs()
for node in build_plan(grid).nodes.values():
    result = run_node(node_task(node, layout, grid, threads=default_threads(1), data_dir=grid.data_dir))
    assert result["ok"], result["error"]
"""

PLAN = """
import sys, time
start = time.perf_counter()
from maskkit.experiment.grid import read_grid
from maskkit.experiment.plan import build_plan
from maskkit.experiment.runner import describe
info = describe(build_plan(read_grid(sys.argv[1])))
print(info["cells"], info["nodes"], time.perf_counter() - start, "torch" in sys.modules)
"""


def maskkit() -> list[str]:
    script = Path(sys.executable).parent / "maskkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "maskkit"]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def artifact_hashes(folder: Path) -> dict[str, str]:
    from maskkit.format import read_metadata

    return {
        p.name: read_metadata(str(p)).content_hash
        for p in sorted((folder / "artifacts").glob("*.safetensors"))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny synthetic grid (seconds)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs of each side (default 3, 1 for the quick grid)",
    )
    parser.add_argument("--grid", default=None, help="another grid file for the run measurements")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-experiment-"))
    try:
        if args.grid:
            grid = Path(args.grid).resolve()
        elif args.quick:
            grid = work / "tiny.toml"
            grid.write_text(TINY)
        else:
            grid = ROOT / "examples" / "grids" / "quick.toml"
        repeats = args.repeats or (3 if args.quick else 1)
        print(f"grid: {grid}  cores: {os.cpu_count()}  repeats: {repeats}")
        sides = {
            "back to back, one process": lambda out: timed(
                [sys.executable, "-c", BACK_TO_BACK, str(grid), str(out)]
            ),
            "experiment run --jobs 1": lambda out: timed(
                [*maskkit(), "experiment", "run", str(grid), "-o", str(out), "--jobs", "1"]
            ),
            "experiment run --jobs 2": lambda out: timed(
                [*maskkit(), "experiment", "run", str(grid), "-o", str(out), "--jobs", "2"]
            ),
        }
        times: dict[str, list[float]] = {k: [] for k in sides}
        hashes: dict[str, dict[str, str]] = {}
        for r in range(repeats):
            for label, run in sides.items():
                out = work / f"{label.split()[-1]}-{r}"
                times[label].append(run(out))
                hashes[label] = artifact_hashes(out)
                shutil.rmtree(out)
                print(f"  {label:28s} run {r + 1}: {times[label][-1]:7.2f} s", flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["back to back, one process"]
        one, two = med["experiment run --jobs 1"], med["experiment run --jobs 2"]
        print(f"overhead --jobs 1 / back to back: {one / base:.3f}x (target <= 1.05x)")
        print(f"speed-up --jobs 2 over --jobs 1:  {one / two:.2f}x")
        same = hashes["back to back, one process"] == hashes["experiment run --jobs 1"]
        print(
            f"artifacts of the runner equal the back-to-back ones: {same} "
            f"({len(hashes['experiment run --jobs 1'])} files)"
        )

        big = work / "big.toml"
        big.write_text(BIG)
        ok = same
        for path in (ROOT / "examples" / "grids" / "cifar10-resnet20.toml", big):
            wall = []
            for _ in range(3):
                start = time.perf_counter()
                line = subprocess.run(
                    [sys.executable, "-c", PLAN, str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                ).stdout.split()
                wall.append(time.perf_counter() - start)
            cells, nodes, inner, torch = line
            print(
                f"plan {path.name}: {cells} cells, {nodes} nodes: {min(wall):.2f} s wall "
                f"(process), {float(inner):.2f} s inside; torch imported: {torch}"
            )
            ok = ok and torch == "False" and min(wall) < 2.0
        print(json.dumps({"overhead": one / base, "speedup_jobs2": one / two, "seconds": med}))
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
