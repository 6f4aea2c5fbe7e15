"""Benchmark: iterative SynFlow on a CIFAR ResNet-20, maskkit against a naive loop.

The naive loop is the spec written plainly: every round it deep-copies the model, converts it to
float64, takes absolute values, applies the mask and runs the full forward and backward pass.
maskkit sets the float64 |w| copy up once and per round only re-masks, runs forward and backward
and ranks. Both run in this process, alternating, and must give the same final mask.

    .venv/bin/python benchmarks/bench_synflow.py [--rounds 100] [--sparsity 0.9]
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import torch
from torch import nn

from maskkit.masking import n_to_prune, prune_lowest
from maskkit.models import build_model, model_args, prunable_names
from maskkit.pruners import compute_scores


def naive_synflow(
    model: nn.Module, prunable: list[str], shape: tuple[int, ...], sparsity: float, rounds: int
) -> dict[str, torch.Tensor]:
    """The final mask, re-copying and re-scoring the whole model every round."""
    keep = {n: torch.ones_like(p, dtype=torch.bool) for n, p in model.named_parameters()}
    n = sum(keep[name].numel() for name in prunable)
    pruned = 0
    for e in range(1, rounds + 1):
        density = (1 - sparsity) ** (e / rounds)
        target = n_to_prune(sparsity, n) if e == rounds else n_to_prune(1 - density, n)
        pruned = max(pruned, target)
        net = copy.deepcopy(model).double().eval()
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(p.abs() * keep[name])
        net(torch.ones((1, *shape), dtype=torch.float64)).sum().backward()
        scores = {
            name: (params[name] * params[name].grad).abs().masked_fill(~keep[name], -math.inf)
            for name in prunable
        }
        arrays = {name: s.detach().numpy() for name, s in scores.items()}
        keep.update({n: torch.from_numpy(m) for n, m in prune_lowest(arrays, pruned).items()})
    return {name: keep[name] for name in prunable}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs; best is kept")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    margs = model_args("resnet20")
    model = build_model("resnet20", margs, seed=0)
    prunable = prunable_names(model)
    shape = tuple(margs["input_shape"])
    n = sum(dict(model.named_parameters())[name].numel() for name in prunable)
    options = {"input_shape": shape, "sparsity": args.sparsity, "rounds": args.rounds}
    print(
        f"resnet20: {n} prunable weights, sparsity {args.sparsity}, {args.rounds} rounds, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )

    fast_times, naive_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        scores = compute_scores(model, "synflow", prunable, options=options)
        fast_mask = prune_lowest(
            {name: s.numpy() for name, s in scores.items()}, n_to_prune(args.sparsity, n)
        )
        fast_times.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        naive_mask = naive_synflow(model, prunable, shape, args.sparsity, args.rounds)
        naive_times.append(time.perf_counter() - t0)

        same = all(
            torch.equal(torch.from_numpy(fast_mask[name]), naive_mask[name]) for name in prunable
        )
        if not same:
            raise SystemExit("maskkit and the naive loop disagree on the final mask")

    fast, naive = min(fast_times), min(naive_times)
    kept = sum(int(m.sum()) for m in fast_mask.values())
    print(f"kept {kept} of {n}; masks identical: yes")
    print(f"maskkit synflow: {fast:.2f} s  ({1000 * fast / args.rounds:.1f} ms/round)")
    print(f"naive loop:      {naive:.2f} s  ({1000 * naive / args.rounds:.1f} ms/round)")
    print(f"ratio maskkit / naive: {fast / naive:.3f}  (speed-up {naive / fast:.2f}x)")


if __name__ == "__main__":
    main()
