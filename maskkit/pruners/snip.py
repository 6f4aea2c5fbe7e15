"""snip: |w * dL/dw| for the mean cross-entropy over the scoring data (Lee et al., 2019)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maskkit.errors import OptionError
from maskkit.pruners import _util
from maskkit.pruners.base import Data, Method, MethodOptions, model_device

DEFAULT_BATCH_SIZE = 256


def check_batch_size(method: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{method}: batch_size must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class SnipOptions(MethodOptions):
    batch_size: int = field(
        default=DEFAULT_BATCH_SIZE,
        metadata={
            "help": "examples per forward pass; the data is split into ceil(n / batch_size) "
            "near-equal batches (BatchNorm statistics are per batch)"
        },
    )

    def __post_init__(self) -> None:
        check_batch_size("snip", self.batch_size)


def batch_losses(
    net: nn.Module, data: Data, batch_size: int, dtype: torch.dtype, temperature: float = 1.0
) -> Iterator[Tensor]:
    """Each batch's cross-entropy of logits / T, weighted by its share: they sum to the mean."""
    for xb, yb, fraction in _util.batches(data, batch_size, model_device(net)):
        logits = net(xb.to(dtype) if xb.is_floating_point() else xb)
        yield F.cross_entropy(logits / temperature, yb) * fraction


def mean_loss_gradient(
    net: nn.Module,
    weights: list[Tensor],
    data: Data,
    batch_size: int,
    temperature: float = 1.0,
) -> list[Tensor]:
    """Gradient of the size-weighted mean over batches of the cross-entropy of logits / T."""
    total = [torch.zeros_like(w) for w in weights]
    for loss in batch_losses(net, data, batch_size, weights[0].dtype, temperature):
        for acc, g in zip(total, _util.grads(loss, weights), strict=True):
            acc.add_(g)
    return total


class SnipMethod(Method):
    name = "snip"
    Options = SnipOptions
    needs_data = True

    def _score(
        self,
        model: nn.Module,
        prunable: list[str],
        *,
        options: Any,
        data: Data | None,
        mask: dict[str, Tensor] | None,
        seed: int,
    ) -> dict[str, Tensor]:
        assert data is not None  # checked by Method.score
        net, weights = _util.working_copy(model, prunable, mask)
        net.train()
        with _util.isolated_rng(seed, model_device(net)):
            g = mean_loss_gradient(net, weights, data, options.batch_size)
        return {
            name: (w.detach() * gw).abs() for name, w, gw in zip(prunable, weights, g, strict=True)
        }
