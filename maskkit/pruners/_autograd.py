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


#: How the scoring data is cut into forward passes (the ``batching`` option of SNIP and GraSP).
BATCHINGS = ("near-equal", "fixed", "class-halves")
#: How the per-batch mean losses are combined (the ``combine`` option).
COMBINES = ("mean", "sum")


def batches(
    data: tuple[Tensor, Tensor],
    batch_size: int,
    device: torch.device,
    batching: str = "near-equal",
    combine: str = "mean",
) -> Iterator:
    """``(inputs, labels, weight)`` for each forward pass, in order.

    ``near-equal``: ceil(n / batch_size) consecutive batches whose sizes differ by at most one,
    which avoids a last batch of one example (BatchNorm in train mode cannot normalise it).
    ``fixed``: consecutive batches of exactly ``batch_size``, the last one smaller (a
    DataLoader's batches). ``class-halves``: the examples in a stable sort by label, cut into
    the first ``n // 2`` and the rest (the original GraSP's two passes); ``batch_size`` is not
    used. ``weight`` is batch size / n for ``combine="mean"``, so that summing ``weight * mean
    batch loss`` gives the mean loss over all examples, and 1 for ``"sum"``.
    """
    x, y = data
    n = x.shape[0]
    if batching == "near-equal":
        k = math.ceil(n / batch_size)
        xs, ys = torch.tensor_split(x, k), torch.tensor_split(y, k)
    elif batching == "fixed":
        xs, ys = torch.split(x, batch_size), torch.split(y, batch_size)
    elif batching == "class-halves":
        order = torch.sort(y.cpu(), stable=True).indices
        xs = torch.tensor_split(x[order.to(x.device)], [n // 2])
        ys = torch.tensor_split(y[order.to(y.device)], [n // 2])
    else:
        raise ValueError(f"unknown batching {batching!r}")
    for xb, yb in zip(xs, ys, strict=True):
        if xb.shape[0] == 0:
            continue
        yield xb.to(device), yb.to(device), xb.shape[0] / n if combine == "mean" else 1.0


def set_batchnorm_mode(net: nn.Module, batchnorm: str) -> None:
    """Train mode for the whole copy; with ``"eval"``, BatchNorm layers use running statistics."""
    net.train()
    if batchnorm == "eval":
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def has_batchnorm_in_train_mode(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in net.modules())


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
