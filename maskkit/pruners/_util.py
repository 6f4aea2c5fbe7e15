"""Helpers shared by the methods that run the model: a masked working copy, batches, RNG."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor, nn


def working_copy(
    model: nn.Module,
    prunable: list[str],
    mask: Mapping[str, Tensor] | None,
    dtype: torch.dtype | None = None,
) -> tuple[nn.Module, list[Tensor]]:
    """A deep copy with the masked weights zeroed; returns it and its prunable parameters.

    Only the prunable parameters require gradients, so backward passes skip the rest.
    """
    net = copy.deepcopy(model)
    if dtype is not None:
        net = net.to(dtype)
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            p.grad = None
            p.requires_grad_(name in prunable)
            if mask is not None and name in mask:
                p.masked_fill_(~mask[name].to(p.device), 0.0)
    return net, [params[n] for n in prunable]


def batches(data: tuple[Tensor, Tensor], batch_size: int, device: torch.device) -> Iterator:
    """``(inputs, labels, fraction)`` in order, in ceil(n / batch_size) near-equal batches.

    Near-equal sizes (they differ by at most one) avoid a last batch of one example, which
    BatchNorm in train mode cannot normalise. ``fraction`` = batch size / n, so that summing
    ``fraction * mean batch loss`` gives the mean loss over all examples.
    """
    x, y = data
    n = x.shape[0]
    k = math.ceil(n / batch_size)
    for xb, yb in zip(torch.tensor_split(x, k), torch.tensor_split(y, k), strict=True):
        yield xb.to(device), yb.to(device), xb.shape[0] / n


@contextlib.contextmanager
def isolated_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run with torch's global RNG seeded by ``seed`` and restored afterwards.

    Scoring passes run the model in train mode, so a model with dropout draws from the global RNG;
    this keeps those draws reproducible without touching the caller's RNG state.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def grads(output: Tensor, inputs: list[Tensor], create_graph: bool = False) -> list[Tensor]:
    """d output / d inputs; zeros (not None) for inputs the output does not depend on."""
    if not output.requires_grad:
        return [torch.zeros_like(t) for t in inputs]
    return list(
        torch.autograd.grad(
            output,
            inputs,
            create_graph=create_graph,
            allow_unused=True,
            materialize_grads=True,
        )
    )
