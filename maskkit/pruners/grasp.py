"""grasp and grasp-abs: w * Hg and |w * Hg| (Wang et al., 2020; |GraSP| from Frankle et al.).

g is the gradient of the mean cross-entropy of logits / T over the scoring data, taken as a
constant; Hg is the Hessian of the same loss times g, from a second pass that differentiates
g . dL/dw. The original method prunes the highest -w * Hg; maskkit stores w * Hg and keeps the
highest, which is the same ranking. The options shared with snip (batching, combine, batchnorm)
change L as the references do (spec/methods/grasp.md); both passes use the same batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from maskkit.errors import OptionError
from maskkit.pruners import _autograd
from maskkit.pruners.base import Data, Method, MethodOptions, model_device
from maskkit.pruners.snip import (
    BATCH_SIZE_HELP,
    BATCHING_HELP,
    BATCHNORM_HELP,
    BATCHNORM_MODES,
    COMBINE_HELP,
    DEFAULT_BATCH_SIZE,
    batch_losses,
    check_batch_options,
    mean_loss_gradient,
    scoring_copy,
)

DEFAULT_TEMPERATURE = 200.0


@dataclass(frozen=True)
class GraspOptions(MethodOptions):
    batch_size: int = field(default=DEFAULT_BATCH_SIZE, metadata={"help": BATCH_SIZE_HELP})
    temperature: float = field(
        default=DEFAULT_TEMPERATURE,
        metadata={"help": "the logits are divided by this temperature before the loss"},
    )
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
        check_batch_options("grasp", self)
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
            raise OptionError(f"grasp: temperature must be a positive number, not {t!r}")
        object.__setattr__(self, "temperature", float(t))


def hessian_gradient(
    net: nn.Module,
    weights: list[Tensor],
    data: Data,
    options: GraspOptions,
    keep: list[Tensor | None],
) -> list[Tensor]:
    """H g for the mean loss, with g (and so H) restricted to the kept weights."""
    t = options.temperature
    g = mean_loss_gradient(net, weights, data, options, temperature=t)
    # Pruned weights are fixed at zero, not variables: they take no part in g . dL/dw.
    g = [gi if k is None else gi.masked_fill(~k, 0.0) for gi, k in zip(g, keep, strict=True)]
    hg = [torch.zeros_like(w) for w in weights]
    for loss in batch_losses(net, data, options, weights[0].dtype, t):
        grad_f = _autograd.grads(loss, weights, create_graph=True)
        z = sum((gi * fi).sum() for gi, fi in zip(g, grad_f, strict=True))
        for acc, h in zip(hg, _autograd.grads(z, weights), strict=True):
            acc.add_(h)
    return hg


class GraspMethod(Method):
    """grasp: w * Hg, keep the highest."""

    name = "grasp"
    Options = GraspOptions
    needs_data = True
    absolute = False

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
        keep = [
            None if mask is None else mask[n].to(w.device)
            for n, w in zip(prunable, weights, strict=True)
        ]
        with _autograd.isolated_rng(seed, model_device(net)):
            hg = hessian_gradient(net, weights, data, options, keep)
        out = {}
        for name, w, h in zip(prunable, weights, hg, strict=True):
            s = w.detach() * h.detach()
            out[name] = s.abs() if self.absolute else s
        return out


class GraspAbsMethod(GraspMethod):
    """grasp-abs: |w * Hg|, keep the highest (the paper's |GraSP|)."""

    name = "grasp-abs"
    absolute = True
