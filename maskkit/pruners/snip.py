"""snip: |w * dL/dw| for the mean cross-entropy over the scoring data (Lee et al., 2019).

The options also reproduce what the references do differently (spec/methods/snip.md): how the
data is batched, how batch losses are combined, and BatchNorm's mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maskkit._validate import check_int
from maskkit.errors import OptionError
from maskkit.pruners import _autograd
from maskkit.pruners.base import Data, Method, MethodOptions, model_device

DEFAULT_BATCH_SIZE = 256
BATCHNORM_MODES = ("train", "eval")


def check_batch_size(method: str, value: object) -> None:
    check_int(value, f"{method}: batch_size", low=1)


def check_choice(method: str, option: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OptionError(f"{method}: {option} must be one of {', '.join(choices)}, not {value!r}")


BATCH_SIZE_HELP = (
    "examples per forward pass; with batching near-equal the data is split into "
    "ceil(n / batch_size) near-equal batches (BatchNorm statistics are per batch)"
)
BATCHING_HELP = (
    "near-equal: ceil(n / batch_size) consecutive batches of near-equal size; fixed: batches of "
    "exactly batch_size, the last one smaller (a DataLoader's, as Synaptic-Flow); class-halves: "
    "sorted by class and cut in two halves (the original GraSP; batch_size unused)"
)
COMBINE_HELP = (
    "mean: each batch's mean loss weighted by its share of the examples (the mean loss); "
    "sum: the batch means added up (Synaptic-Flow, GraSP's code)"
)
BATCHNORM_HELP = (
    "train: BatchNorm normalises with each batch's statistics; eval: with its running "
    "statistics (Synaptic-Flow's default)"
)


@dataclass(frozen=True)
class SnipOptions(MethodOptions):
    batch_size: int = field(default=DEFAULT_BATCH_SIZE, metadata={"help": BATCH_SIZE_HELP})
    batching: str = field(
        default="near-equal", metadata={"help": BATCHING_HELP, "choices": _autograd.BATCHINGS}
    )
    combine: str = field(
        default="mean", metadata={"help": COMBINE_HELP, "choices": _autograd.COMBINES}
    )
    batchnorm: str = field(
        default="train", metadata={"help": BATCHNORM_HELP, "choices": BATCHNORM_MODES}
    )

    def __post_init__(self) -> None:
        check_batch_options("snip", self)


def check_batch_options(method: str, options: Any) -> None:
    """The checks of the options SNIP and GraSP share."""
    check_batch_size(method, options.batch_size)
    check_choice(method, "batching", options.batching, _autograd.BATCHINGS)
    check_choice(method, "combine", options.combine, _autograd.COMBINES)
    check_choice(method, "batchnorm", options.batchnorm, BATCHNORM_MODES)


def scoring_copy(
    method: str,
    model: nn.Module,
    prunable: list[str],
    mask: dict[str, Tensor] | None,
    data: Data,
    options: Any,
) -> tuple[nn.Module, list[Tensor]]:
    """The masked working copy in the mode the options ask for, its batches checked."""
    net, weights = _autograd.working_copy(model, prunable, mask)
    _autograd.set_batchnorm_mode(net, options.batchnorm)
    n = data[0].shape[0]
    if (
        options.batching == "fixed"
        and n > options.batch_size
        and n % options.batch_size == 1
        and _autograd.has_batchnorm_in_train_mode(net)
    ):
        raise OptionError(
            f"{method}: batching fixed with batch_size {options.batch_size} leaves a last batch "
            f"of one of the {n} examples, which BatchNorm in train mode cannot normalise; choose "
            "another batch_size or batching near-equal"
        )
    return net, weights


def batch_losses(
    net: nn.Module, data: Data, options: Any, dtype: torch.dtype, temperature: float = 1.0
) -> Iterator[Tensor]:
    """Each batch's cross-entropy of logits / T, times its weight (its share, for ``mean``)."""
    parts = _autograd.batches(
        data, options.batch_size, model_device(net), options.batching, options.combine
    )
    for xb, yb, weight in parts:
        logits = net(xb.to(dtype) if xb.is_floating_point() else xb)
        yield F.cross_entropy(logits / temperature, yb) * weight


def mean_loss_gradient(
    net: nn.Module,
    weights: list[Tensor],
    data: Data,
    options: Any,
    temperature: float = 1.0,
) -> list[Tensor]:
    """Gradient of the combined batch losses (by default their size-weighted mean)."""
    total = [torch.zeros_like(w) for w in weights]
    for loss in batch_losses(net, data, options, weights[0].dtype, temperature):
        for acc, g in zip(total, _autograd.grads(loss, weights), strict=True):
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
        net, weights = scoring_copy(self.name, model, prunable, mask, data, options)
        with _autograd.isolated_rng(seed, model_device(net)):
            g = mean_loss_gradient(net, weights, data, options)
        return {
            name: (w.detach() * gw).abs() for name, w, gw in zip(prunable, weights, g, strict=True)
        }
