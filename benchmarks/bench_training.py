"""Training and evaluation speed on CPU: maskkit against dense and bare PyTorch baselines.

Four comparisons, every pair timed in the same run with interleaved repeats (best of N):

1. Step time of masked over dense training, lenet300 (batch 128, 1x28x28) and resnet20
   (batch 32, 3x32x32), SGD with momentum and weight decay, 90% sparsity. "maskkit" is a dense
   step plus maskkit's in-place multiply after the optimizer step; "prune hook" is
   torch.nn.utils.prune.custom_from_mask (a forward pre-hook computing weight = orig * mask).
   Target: maskkit/dense <= 1.03, and maskkit faster than the hook.
2. The same ratio through maskkit's own training loop (``train`` with and without masks).
3. One LeNet-300-100 MNIST epoch (60,000 examples, batch 128, SGD lr 0.1) through maskkit's
   ``train`` (the loop ``maskkit train`` runs; timed from the first to the last step) against a
   bare PyTorch loop over the same in-memory tensors. Target <= 1.3.
4. Evaluation of resnet20 on 10,000 synthetic 3x32x32 images: ``maskkit.training.evaluate``
   against a bare ``torch.no_grad()`` loop, both at batch 1000. Target <= 1.2.

Run: ``.venv/bin/python benchmarks/bench_training.py [--threads 2] [--repeats 5] [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.nn.utils import prune

from maskkit import stages
from maskkit.start_weights import initial_model
from maskkit.training import MaskEnforcer, RunIO, TrainOptions, evaluate, train


def interleaved(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Best time of each function, run in turn so that machine load hits all of them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            best[name] = min(best[name], fn())
    return best


def masked_model(name: str, sparsity: float, **kwargs):
    weights = stages.init_weights(name, seed=0, **kwargs)
    mask = stages.make_mask(stages.score(weights, "random", seed=0), sparsity)
    return mask


def step_harness(model_name: str, batch: int, shape: tuple[int, ...], steps: int, repeats: int):
    mask = masked_model(model_name, 0.9)
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (batch,), generator=torch.Generator().manual_seed(1))

    def harness(kind: str) -> Callable[[], float]:
        model, masks = initial_model(mask, source="bench")
        enforcer = MaskEnforcer(model, masks) if kind == "maskkit" else None
        if kind == "hook":
            modules = dict(model.named_modules())
            for name, keep in masks.items():
                prune.custom_from_mask(modules[name.rsplit(".", 1)[0]], "weight", keep)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        model.train()

        def run() -> float:
            start = time.perf_counter()
            for _ in range(steps):
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if enforcer is not None:
                    enforcer.apply()
            return (time.perf_counter() - start) / steps

        run()  # warm-up
        return run

    return interleaved({k: harness(k) for k in ("dense", "maskkit", "hook")}, repeats)


def loop_harness(steps: int, repeats: int) -> dict[str, float]:
    """Per-step time inside maskkit's train(), with and without masks (setup and eval excluded)."""
    from maskkit.data import load_dataset

    mask = masked_model("lenet300", 0.9)
    ds = load_dataset(
        "synthetic", input_shape=(1, 28, 28), options={"train_size": 128 * steps, "test_size": 10}
    )
    options = TrainOptions(steps=steps, batch_size=128, lr=0.01, momentum=0.9, weight_decay=1e-4)

    def harness(masked: bool) -> Callable[[], float]:
        def run() -> float:
            model, masks = initial_model(mask, source="bench")
            marks: dict[int, float] = {}
            train(
                model,
                ds,
                options,
                masks=masks if masked else None,
                io=RunIO(progress=lambda s, t, loss: marks.setdefault(s, time.perf_counter())),
            )
            return (marks[steps] - marks[1]) / (steps - 1)

        return run

    return interleaved({"dense": harness(False), "maskkit": harness(True)}, repeats)


def mnist_epoch(repeats: int) -> dict[str, float]:
    from maskkit.data import load_dataset

    ds = load_dataset("mnist")
    mask = masked_model("lenet300", 0.9)
    n = len(ds.train)
    per_epoch = -(-n // 128)
    options = TrainOptions(steps=per_epoch, batch_size=128, lr=0.1)

    def maskkit_epoch(masked: bool) -> Callable[[], float]:
        def run() -> float:
            model, masks = initial_model(mask, source="bench")
            marks: dict[int, float] = {}
            train(
                model,
                ds,
                options,
                masks=masks if masked else None,
                io=RunIO(progress=lambda s, t, loss: marks.setdefault(s, time.perf_counter())),
            )
            return marks[per_epoch] - marks[0]

        return run

    def bare() -> float:
        model, _ = initial_model(mask, source="bench")
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model.train()
        x_all, y_all = ds.train.x, ds.train.y
        start = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        for i in range(0, n, 128):
            index = order[i : i + 128]
            loss = F.cross_entropy(model(x_all[index]), y_all[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start

    return interleaved(
        {
            "bare": bare,
            "maskkit dense": maskkit_epoch(False),
            "maskkit masked": maskkit_epoch(True),
        },
        repeats,
    )


def resnet_eval(repeats: int, count: int) -> dict[str, float]:
    mask = masked_model("resnet20", 0.9)
    model, masks = initial_model(mask, source="bench")
    MaskEnforcer(model, masks).apply()
    from maskkit.data import load_dataset

    ds = load_dataset(
        "synthetic", input_shape=(3, 32, 32), options={"train_size": 10, "test_size": count}
    )

    def ours() -> float:
        start = time.perf_counter()
        evaluate(model, ds.test, batch_size=1000)
        return time.perf_counter() - start

    def bare() -> float:
        start = time.perf_counter()
        model.eval()
        correct, loss = 0, 0.0
        with torch.no_grad():
            for i in range(0, count, 1000):
                x, y = ds.test.x[i : i + 1000], ds.test.y[i : i + 1000]
                out = model(x)
                loss += F.cross_entropy(out, y, reduction="sum").item()
                correct += int((out.argmax(1) == y).sum())
        model.train()
        return time.perf_counter() - start

    return interleaved({"bare no_grad": bare, "maskkit evaluate": ours}, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer steps and images (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quick = args.quick
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), best of {args.repeats} interleaved repeats\n"
    )

    print("1. step time, masked (90% sparse) vs dense, SGD momentum + weight decay")
    print(
        f"   {'model':<10} {'dense ms':>9} {'maskkit ms':>11} {'hook ms':>9} {'maskkit/dense':>14} {'hook/dense':>11}"
    )
    for name, batch, shape, steps in (
        ("lenet300", 128, (1, 28, 28), 20 if quick else 100),
        ("resnet20", 32, (3, 32, 32), 3 if quick else 10),
    ):
        t = step_harness(name, batch, shape, steps, args.repeats)
        print(
            f"   {name:<10} {t['dense'] * 1e3:9.3f} {t['maskkit'] * 1e3:11.3f} {t['hook'] * 1e3:9.3f} "
            f"{t['maskkit'] / t['dense']:14.3f} {t['hook'] / t['dense']:11.3f}"
        )

    t = loop_harness(30 if quick else 150, args.repeats)
    print("\n2. per-step time inside maskkit's train(), lenet300 batch 128")
    print(
        f"   dense {t['dense'] * 1e3:.3f} ms, masked {t['maskkit'] * 1e3:.3f} ms, ratio {t['maskkit'] / t['dense']:.3f}"
    )

    t = mnist_epoch(max(2, args.repeats // 2) if not quick else 1)
    print("\n3. one MNIST epoch, lenet300, batch 128, SGD lr 0.1 (60,000 examples)")
    print(
        f"   bare loop {t['bare']:.3f} s, maskkit train dense {t['maskkit dense']:.3f} s, masked {t['maskkit masked']:.3f} s"
    )
    print(
        f"   ratio maskkit/bare: dense {t['maskkit dense'] / t['bare']:.3f}, masked {t['maskkit masked'] / t['bare']:.3f}  (target <= 1.3)"
    )

    count = 2000 if quick else 10_000
    t = resnet_eval(max(2, args.repeats // 2) if not quick else 1, count)
    print(f"\n4. resnet20 evaluation of {count:,} synthetic 3x32x32 images, batch 1000")
    print(
        f"   bare no_grad {t['bare no_grad']:.3f} s, maskkit evaluate {t['maskkit evaluate']:.3f} s, ratio {t['maskkit evaluate'] / t['bare no_grad']:.3f}  (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
