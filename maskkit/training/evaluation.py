"""Test accuracy and mean cross-entropy loss of a model on an in-memory split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from maskkit.data.types import Split


@dataclass(frozen=True)
class Metrics:
    """Accuracy (fraction correct), mean loss and the number of examples evaluated."""

    accuracy: float
    loss: float
    count: int
    correct: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "count": self.count,
            "correct": self.correct,
        }


def evaluate(
    model: nn.Module,
    split: Split,
    *,
    batch_size: int = 1000,
    device: str | torch.device = "cpu",
    rank: int = 0,
    world_size: int = 1,
) -> Metrics:
    """Evaluate ``model`` (in eval mode, without gradients) on ``split``.

    The model must already be on ``device``; its train/eval mode is restored afterwards. Under
    torch.distributed (``world_size`` > 1) each rank evaluates a contiguous share and the sums
    are all-reduced, so every rank returns the metrics of the whole split.

    >>> m = evaluate(model, dataset.test)            # doctest: +SKIP
    >>> round(m.accuracy, 4), m.count                # doctest: +SKIP
    (0.9812, 10000)
    """
    n = len(split)
    lo, hi = rank * n // world_size, (rank + 1) * n // world_size
    device = torch.device(device)
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, correct
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(lo, hi, batch_size):
                end = min(start + batch_size, hi)
                x = split.x[start:end].to(device, non_blocking=True)
                y = split.y[start:end].to(device, non_blocking=True)
                out = model(x).float()
                sums[0] += F.cross_entropy(out, y, reduction="sum").double()
                sums[1] += (out.argmax(1) == y).sum()
    finally:
        model.train(was_training)
    if world_size > 1:
        import torch.distributed as dist

        sums = sums.clone()
        dist.all_reduce(sums)
    loss_sum, correct = (float(v) for v in sums.tolist())
    count = n
    return Metrics(
        accuracy=correct / count if count else 0.0,
        loss=loss_sum / count if count else 0.0,
        count=count,
        correct=round(correct),
    )
