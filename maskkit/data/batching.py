"""Seeded, resumable, distributable mini-batches over an in-memory split.

One epoch's order is ``torch.randperm(n)`` drawn from a CPU generator seeded with
``derive_seed(seed, epoch)``: the same in every process and on every device. Batch ``b`` is
``order[b * batch_size : (b + 1) * batch_size]``; a batch is one tensor index into the split
(no per-example Python call), and resuming at ``start_batch`` only skips the slicing.

Distributed rule (``world_size`` > 1): ``batch_size`` is the GLOBAL batch and must be a multiple
of ``world_size``; rank ``r`` gets ``global_batch[r::world_size]`` of every global batch, so the
ranks partition each batch and every rank yields the same number of batches
(:func:`batches_per_epoch`). A last partial batch whose size is not a multiple of
``world_size`` is padded with the first examples of the epoch's order (as torch's
DistributedSampler pads), so no rank gets an empty batch; ``drop_last=True`` drops it instead.

Augmentation (CIFAR's): pad 4 pixels of zeros (zero = the training mean, as the inputs are already
normalised; torchvision pads black before normalising), crop back to the original size at a
random offset, and flip horizontally with probability 1/2. The draws for batch ``b`` come from a
generator seeded with ``derive_seed("augment", seed, epoch, b)`` and are made for the whole
global batch before it is split between ranks, so a resumed or distributed run sees exactly
the images a single uninterrupted process would.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from maskkit.data.seeding import derive_seed
from maskkit.data.types import Split
from maskkit.errors import DataError, OptionError

PADDING = 4


def batches_per_epoch(n: int, batch_size: int, *, drop_last: bool = False) -> int:
    """How many batches one epoch of ``n`` examples gives (the same on every rank).

    Example:
        >>> batches_per_epoch(10, 4), batches_per_epoch(10, 4, drop_last=True)
        (3, 2)
    """
    if n < 0:
        raise OptionError(f"the number of examples must be non-negative, got {n}")
    if batch_size < 1:
        raise OptionError(f"batch size must be at least 1, got {batch_size}")
    return n // batch_size if drop_last else -(-n // batch_size)


def epoch_order(n: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True) -> Tensor:
    """The epoch's order of example indices (int64 [n], on the CPU).

    Example:
        >>> epoch_order(5, shuffle=False).tolist()
        [0, 1, 2, 3, 4]
    """
    if not shuffle:
        return torch.arange(n)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(derive_seed(seed, epoch))
    return torch.randperm(n, generator=gen)


def crop_flip(x: Tensor, offsets: Tensor, flips: Tensor, *, padding: int = PADDING) -> Tensor:
    """Crop each zero-padded image of ``x`` [N, C, H, W] at ``offsets`` [N, 2] (row, column,
    each in ``0..2*padding``) and mirror it horizontally where ``flips`` [N] is True.

    Vectorised over the batch: every possible crop of an image starts at a different offset
    into its padded copy, so one strided view ``[N, start, C, H, W]`` holds them all and one
    index picks each image's crop (no per-image Python).

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> crop_flip(x, torch.tensor([[1, 1]]), torch.tensor([True]), padding=1).tolist()
        [[[[1.0, 0.0], [3.0, 2.0]]]]
    """
    n, c, h, w = x.shape
    if offsets.numel() and not 0 <= int(offsets.min()) <= int(offsets.max()) <= 2 * padding:
        raise ValueError(
            f"crop offsets must lie in 0..{2 * padding}"
        )  # else the view reads wrong pixels
    device = x.device
    offsets = offsets.to(device)
    flips = flips.to(device)
    padded = F.pad(x, (padding, padding, padding, padding)).contiguous()
    height, width = h + 2 * padding, w + 2 * padding
    starts = 2 * padding * width + 2 * padding + 1  # crop (dy, dx) starts at dy * width + dx
    crops = padded.as_strided(
        (n, starts, c, h, w), (c * height * width, 1, height * width, width, 1)
    )
    out = crops[torch.arange(n, device=device), offsets[:, 0] * width + offsets[:, 1]]
    out[flips] = out[flips].flip(-1)
    return out


def augment_draws(m: int, *, seed: int, epoch: int, batch: int) -> tuple[Tensor, Tensor]:
    """The crop offsets [m, 2] and flips [m] of global batch ``batch`` (CPU tensors)."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(derive_seed("augment", seed, epoch, batch))
    offsets = torch.randint(0, 2 * PADDING + 1, (m, 2), generator=gen)
    flips = torch.randint(0, 2, (m,), generator=gen).bool()
    return offsets, flips


def batches(
    split: Split,
    batch_size: int,
    *,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    augment: bool = False,
    start_batch: int = 0,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of ``(inputs, labels)`` batches of ``split``, on the split's device.

    See the module docstring for the order, the distributed rule and the augmentation.
    Arguments are checked when this is called, not at the first batch.

    Example:
        >>> s = Split(torch.zeros(10, 1, 4, 4), torch.arange(10))
        >>> [len(y) for _, y in batches(s, 4)]
        [4, 4, 2]
        >>> [len(y) for _, y in batches(s, 4, start_batch=1, rank=1, world_size=2)]
        [2, 1]
    """
    n = len(split)
    count = batches_per_epoch(n, batch_size, drop_last=drop_last)
    if world_size < 1 or not 0 <= rank < world_size:
        raise OptionError(f"rank {rank} is not in 0..{world_size - 1} (world size {world_size})")
    if batch_size % world_size:
        raise OptionError(
            f"batch size {batch_size} is not a multiple of the world size {world_size} "
            "(the batch size is the global batch, split evenly between ranks)"
        )
    if not 0 <= start_batch <= count:
        raise OptionError(
            f"start batch {start_batch} is not in 0..{count} ({count} batches per epoch)"
        )
    if augment and split.x.dim() != 4:
        raise DataError(
            f"augmentation needs image inputs [C, H, W], got inputs of shape {list(split.x.shape[1:])}"
        )
    return _iterate(
        split, batch_size, seed, epoch, shuffle, augment, start_batch, count, rank, world_size
    )


def _iterate(
    split: Split,
    batch_size: int,
    seed: int,
    epoch: int,
    shuffle: bool,
    augment: bool,
    start_batch: int,
    count: int,
    rank: int,
    world_size: int,
) -> Iterator[tuple[Tensor, Tensor]]:
    n = len(split)
    order = epoch_order(n, seed=seed, epoch=epoch, shuffle=shuffle)
    device = split.x.device
    for b in range(start_batch, count):
        index = order[b * batch_size : (b + 1) * batch_size]
        short = -len(index) % world_size
        if short:
            index = torch.cat([index, order[torch.arange(short) % n]])
        if augment:
            offsets, flips = augment_draws(len(index), seed=seed, epoch=epoch, batch=b)
        if world_size > 1:
            index = index[rank::world_size]
            if augment:
                offsets, flips = offsets[rank::world_size], flips[rank::world_size]
        # index_select: about 10x faster than x[index] for [N, C, H, W] on the CPU
        x = split.x.index_select(0, index.to(device))
        if augment:
            x = crop_flip(x, offsets, flips)
        yield x, split.y.index_select(0, index.to(split.y.device))
