"""The shuffle ablation: permute each layer's mask at random, keeping its kept count.

Each tensor is permuted (as a flat C-order vector) by ``torch.randperm`` with a CPU
``torch.Generator`` seeded from the first 8 bytes (little-endian) of
``SHA-256(f"{seed}\\0{name}")`` (UTF-8), so a layer's permutation depends only on the seed and
its own name, not on which other layers exist, and is the same in every process (for a given
torch version). Unlike Synaptic-Flow's shuffle, the positions really move.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Mapping

import torch
from torch import Tensor

from maskkit.errors import OptionError


def shuffle_masks(masks: Mapping[str, Tensor], seed: int) -> dict[str, Tensor]:
    """Each mask independently and randomly permuted; per-tensor kept counts are unchanged.

    >>> import torch
    >>> m = {"w": torch.arange(12).reshape(3, 4) < 4}
    >>> s = shuffle_masks(m, seed=0)["w"]
    >>> int(s.sum()), s.shape
    (4, torch.Size([3, 4]))
    """
    if isinstance(seed, bool):
        raise OptionError(f"seed must be an integer; got {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise OptionError(f"seed must be an integer; got {seed!r}") from None
    shuffled = {}
    for name, mask in masks.items():
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            what = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise OptionError(f"mask {name!r} must be a bool tensor; got {what}")
        generator = torch.Generator(device="cpu").manual_seed(layer_seed(seed, name))
        # int32 halves the permutation's memory; randperm draws the same numbers for either
        # dtype, and index_select (unlike indexing) takes int32 indices without widening them.
        dtype = torch.int32 if mask.numel() < 2**31 else torch.int64
        order = torch.randperm(mask.numel(), generator=generator, dtype=dtype).to(mask.device)
        shuffled[name] = mask.reshape(-1).index_select(0, order).reshape(mask.shape)
    return shuffled


def layer_seed(seed: int, name: str) -> int:
    """The 64-bit generator seed of tensor ``name`` under ``seed``."""
    digest = hashlib.sha256(f"{seed}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")
