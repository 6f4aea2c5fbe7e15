"""The few calls the training loop makes into maskkit.data, in one place."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from maskkit.data import batches, batches_per_epoch
from maskkit.data.types import Split


def steps_per_epoch(train_size: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (the last, smaller batch counts as a step)."""
    return batches_per_epoch(train_size, batch_size, drop_last=False)


def epoch_batches(
    split: Split,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    start_batch: int,
    augment: bool,
    rank: int,
    world_size: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled training batches from ``start_batch`` on, this rank's share."""
    return batches(
        split,
        batch_size,
        seed=seed,
        epoch=epoch,
        shuffle=True,
        augment=augment,
        start_batch=start_batch,
        rank=rank,
        world_size=world_size,
        drop_last=False,
    )
