"""Benchmark: iterative SynFlow on a CIFAR ResNet-20 against Synaptic-Flow's loop and a naive one.

Three references run in this process, alternating with maskkit, each for the same rounds:

- Synaptic-Flow's loop (Tanaka et al.'s ``prune_loop`` with its ``SynFlow`` pruner, rewritten
  here): each round it takes signs and absolute values of the whole state dict, runs forward
  and backward on one all-ones input, scores ``|w * grad|`` into fresh tensors, restores the
  signs, then ``torch.kthvalue`` over every score (pruned ones included) and a new mask from
  ``score <= threshold``; the mask multiplies the weights. Timed in float32 (what it runs in) and
  float64 (what maskkit computes in). Target: maskkit at most 1.0x the float32 loop.
- The naive loop, the spec written plainly: every round it deep-copies the model to float64,
  re-applies abs and the mask, and ranks all scores with the pruned ones at -inf. It must give
  exactly maskkit's final mask.

maskkit sets the float64 |w| copy up once; per round it runs forward and backward into reused
score buffers, ranks only the surviving weights and zeroes only the newly pruned ones.

``--memory`` also runs ``maskkit.score(..., "synflow")`` on resnet50 in a child process and
reports its peak RSS above the same child's baseline (torch imported, the model built), against
the size of the model's prunable weights in float32 and float64.

    .venv/bin/python benchmarks/bench_synflow.py [--rounds 100] [--sparsity 0.9] [--memory]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
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


def synaptic_flow(
    model: nn.Module,
    prunable: list[str],
    shape: tuple[int, ...],
    sparsity: float,
    rounds: int,
    dtype: torch.dtype,
) -> dict[str, torch.Tensor]:
    """Synaptic-Flow's prune_loop with its SynFlow scorer and global mask, in ``dtype``."""
    net = copy.deepcopy(model).to(dtype).eval()
    params = dict(net.named_parameters())
    masked = [(torch.ones_like(params[n]), params[n]) for n in prunable]
    ones = torch.ones((1, *shape), dtype=dtype)
    density = 1.0 - sparsity
    for epoch in range(rounds):
        with torch.no_grad():  # linearize
            signs = {name: torch.sign(t) for name, t in net.state_dict().items()}
            for t in net.state_dict().values():
                t.abs_()
        torch.sum(net(ones)).backward()
        scores = {}
        for _, p in masked:
            scores[id(p)] = torch.clone(p.grad * p).detach().abs_()
            p.grad.data.zero_()
        with torch.no_grad():  # nonlinearize
            for name, t in net.state_dict().items():
                t.mul_(signs[name])
        sparse = density ** ((epoch + 1) / rounds)
        global_scores = torch.cat([torch.flatten(v) for v in scores.values()])
        k = int((1.0 - sparse) * global_scores.numel())
        if k >= 1:
            threshold, _ = torch.kthvalue(global_scores, k)
            zero, one = torch.tensor([0.0], dtype=dtype), torch.tensor([1.0], dtype=dtype)
            for mask, p in masked:
                mask.copy_(torch.where(scores[id(p)] <= threshold, zero, one))
        with torch.no_grad():
            for mask, p in masked:
                p.mul_(mask)
    return {n: m.bool() for n, (m, _) in zip(prunable, masked, strict=True)}


MEMORY_CHILD = """
import json, resource, sys, time
import torch
from maskkit.models import build_model, model_args, prunable_names
from maskkit.pruners import compute_scores
torch.set_num_threads(int(sys.argv[3]))
margs = model_args(sys.argv[1])
model = build_model(sys.argv[1], margs, seed=0)
prunable = prunable_names(model)
params = dict(model.named_parameters())
n = sum(params[name].numel() for name in prunable)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
compute_scores(model, "synflow", prunable, options={"input_shape": tuple(margs["input_shape"]),
               "sparsity": 0.9, "rounds": int(sys.argv[2])})
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"n": n, "base": base, "peak": peak, "seconds": seconds}))
"""


def memory_report(model: str, rounds: int, threads: int) -> None:
    """Peak RSS of scoring above the child's baseline, against the prunable weights' size."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, model, str(rounds), str(threads or os.cpu_count())],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    r = json.loads(out.strip().splitlines()[-1])
    extra, f32, f64 = r["peak"] - r["base"], 4 * r["n"], 8 * r["n"]
    print(
        f"{model} synflow, {rounds} rounds: {r['seconds']:.1f} s; peak RSS {r['peak'] / 1e6:.0f} MB,"
        f" {extra / 1e6:.0f} MB above torch + the model ({r['base'] / 1e6:.0f} MB) ="
        f" {extra / f32:.1f}x the prunable weights in float32 ({f32 / 1e6:.0f} MB),"
        f" {extra / f64:.1f}x in float64"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs; medians")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    parser.add_argument("--memory", action="store_true", help="also resnet50's peak memory")
    parser.add_argument("--memory-rounds", type=int, default=20)
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

    def ours() -> dict:
        scores = compute_scores(model, "synflow", prunable, options=options)
        return prune_lowest(
            {name: s.numpy() for name, s in scores.items()}, n_to_prune(args.sparsity, n)
        )

    runs = {
        "maskkit (float64)": ours,
        "Synaptic-Flow float32": lambda: synaptic_flow(
            model, prunable, shape, args.sparsity, args.rounds, torch.float32
        ),
        "Synaptic-Flow float64": lambda: synaptic_flow(
            model, prunable, shape, args.sparsity, args.rounds, torch.float64
        ),
        "naive loop (float64)": lambda: naive_synflow(
            model, prunable, shape, args.sparsity, args.rounds
        ),
    }
    times: dict[str, list[float]] = {label: [] for label in runs}
    results: dict[str, dict] = {}
    for _ in range(args.repeats):
        for label, fn in runs.items():
            t0 = time.perf_counter()
            results[label] = fn()
            times[label].append(time.perf_counter() - t0)
    fast_mask, naive_mask = results["maskkit (float64)"], results["naive loop (float64)"]
    if not all(
        torch.equal(torch.from_numpy(fast_mask[name]), naive_mask[name]) for name in prunable
    ):
        raise SystemExit("maskkit and the naive loop disagree on the final mask")
    kept = sum(int(m.sum()) for m in fast_mask.values())
    print(f"kept {kept} of {n}; maskkit's mask equals the naive loop's: yes")
    ref = statistics.median(times["maskkit (float64)"])
    for label, ts in times.items():
        t = statistics.median(ts)
        print(
            f"{label:24} {t:6.2f} s ({1000 * t / args.rounds:5.1f} ms/round)"
            f"   maskkit / this: {ref / t:.3f}"
        )
    print("target: maskkit / Synaptic-Flow float32 <= 1.0")
    if args.memory:
        memory_report("resnet50", args.memory_rounds, args.threads)


if __name__ == "__main__":
    main()
