"""Worker for tests/test_training_distributed.py, run under torchrun: train, save this rank's state."""

from __future__ import annotations

import sys

import torch

from maskkit.start_weights import initial_model
from maskkit.training import TrainOptions, distributed, train
from maskkit.training.loop import model_state
from tests.training_helpers import dataset, lenet_mask, resnet_mask

LENET = TrainOptions(steps=24, batch_size=64, lr=0.1, momentum=0.9, weight_decay=1e-3, eval_every=8)
RESNET = TrainOptions(steps=6, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-3)


def runs():
    return (
        ("lenet", lenet_mask(0.8), dataset(), LENET),
        ("resnet", resnet_mask(0.7), dataset((3, 8, 8), train_size=96, test_size=40), RESNET),
    )


def main(out: str) -> None:
    info = distributed.setup("cpu")
    results = {}
    for name, mask, ds, options in runs():
        model, masks = initial_model(mask, source=name)
        result = train(model, ds, options, masks=masks)
        results[name] = {
            "state": model_state(model),
            "accuracy": result.metrics.accuracy,
            "world_size": result.world_size,
        }
    torch.save(results, f"{out}/rank{info.rank}.pt")
    distributed.teardown()


if __name__ == "__main__":
    main(sys.argv[1])
