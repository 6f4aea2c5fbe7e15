"""Time make_mask (global rule) on ResNet-50-sized scores against one torch.kthvalue.

Both run in the same process on the same random float32 scores (the conv and fc weights of
ResNet-50: 54 tensors, 25,502,912 weights): make_mask gets them as numpy arrays (as the mask
stage does), the baseline is a single ``torch.kthvalue`` over the already concatenated scores,
i.e. the least any exact threshold selection has to do in torch. Prints the best and median of
several repeats and the ratio of the medians (target: at most 2).

Run: ``.venv/bin/python benchmarks/bench_mask.py [--repeats 7] [--sparsity 0.9]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: import from the repo

from benchmarks._common import resnet50_shapes
from maskkit.masking import make_mask, n_to_prune


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    shapes = resnet50_shapes()
    scores = {name: rng.random(shape, dtype=np.float32) for name, shape in shapes.items()}
    total = sum(a.size for a in scores.values())
    k = n_to_prune(args.sparsity, total)
    flat = torch.from_numpy(np.concatenate([a.reshape(-1) for a in scores.values()]))

    # Interleave the two so that drifts in machine load hit both alike.
    base, ours = [], []
    for _ in range(args.repeats):
        base += timed(lambda: torch.kthvalue(flat, k), 1)
        ours += timed(lambda: make_mask(scores, args.sparsity), 1)

    masks = make_mask(scores, args.sparsity)
    pruned = total - sum(int(m.sum()) for m in masks.values())
    assert pruned == k, (pruned, k)

    print(f"tensors {len(shapes)}  weights {total:,}  sparsity {args.sparsity}  pruned {k:,}")
    print(f"torch threads {torch.get_num_threads()}  repeats {args.repeats}")
    print(f"{'':24}{'best s':>10}{'median s':>10}")
    for label, times in (("torch.kthvalue (concat)", base), ("make_mask global", ours)):
        print(f"{label:24}{min(times):10.3f}{statistics.median(times):10.3f}")
    ratio = statistics.median(ours) / statistics.median(base)
    print(f"ratio (median make_mask / median kthvalue): {ratio:.2f}")
    print(f"ratio (best make_mask / best kthvalue):     {min(ours) / min(base):.2f}")


if __name__ == "__main__":
    main()
