"""Keeping pruned weights exactly zero during training.

After every optimizer step each masked parameter is multiplied in place by its 0/1 mask. This is
the cheapest way that is exact whatever the optimizer does: weight decay and momentum may move a
pruned weight during the step (its momentum buffer is not zero), and the multiplication puts it
back to exactly 0 before the next forward pass. Unlike torch.nn.utils.prune's forward pre-hook
(weight = orig * mask at every forward, plus the backward of that product), nothing is added to
the forward or backward pass: one fused multiply per step over the prunable tensors.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from maskkit.models.binding import check_fits


class MaskEnforcer:
    """Holds the masks as float tensors on the parameters' device, ready to multiply.

    >>> model = torch.nn.Linear(3, 2)
    >>> enforcer = MaskEnforcer(model, {"weight": torch.tensor([[1, 0, 1], [0, 1, 1]]).bool()})
    >>> enforcer.apply()
    >>> int((model.weight == 0).sum()) >= 2
    True
    """

    def __init__(self, model: nn.Module, masks: Mapping[str, Tensor]) -> None:
        params = dict(model.named_parameters())
        check_fits(
            {n: m.detach().cpu().numpy() for n, m in masks.items()},
            {n: tuple(p.shape) for n, p in params.items()},
            what="mask",
        )
        self.names = sorted(masks)
        self.params = [params[n] for n in self.names]
        self.masks = [
            masks[n].to(device=p.device, dtype=p.dtype)
            for n, p in zip(self.names, self.params, strict=True)
        ]

    @torch.no_grad()
    def apply(self) -> None:
        """Zero every pruned weight (in place)."""
        if self.params:
            torch._foreach_mul_(self.params, self.masks)

    def violations(self) -> int:
        """How many pruned weights are not exactly zero (0 after :meth:`apply`)."""
        return sum(
            int(((m == 0) & (p.detach() != 0)).sum())
            for p, m in zip(self.params, self.masks, strict=True)
        )
