"""The shuffle ablation: permute each layer's mask at random, keeping its kept count.

Each tensor is permuted (as a flat C-order vector) by ``numpy.random.Generator(PCG64(s))
.permutation``, where ``s`` is the first 8 bytes (little-endian) of
``SHA-256(f"{seed}\\0{name}")`` (UTF-8). So a layer's permutation depends only on the seed and its
own name, not on which other layers exist, and is the same in every process for a given numpy
version. Unlike Synaptic-Flow's shuffle, the positions really move. numpy only: the ``shuffle``
stage never pays for importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from maskkit._seeds import shuffle_seed
from maskkit._validate import check_seed
from maskkit.errors import OptionError


def shuffle_masks(masks: Mapping[str, Any], seed: int) -> dict[str, np.ndarray]:
    """Each mask independently and randomly permuted; per-tensor kept counts are unchanged.

    ``masks`` holds bool numpy arrays (or CPU torch tensors); the results are new bool arrays.

    >>> import numpy as np
    >>> m = {"w": np.arange(12).reshape(3, 4) < 4}
    >>> s = shuffle_masks(m, seed=0)["w"]
    >>> int(s.sum()), s.shape
    (4, (3, 4))
    """
    seed = check_seed(seed)
    shuffled = {}
    for name, mask in masks.items():
        array = _as_bool_array(name, mask)
        generator = np.random.Generator(np.random.PCG64(layer_seed(seed, name)))
        order = generator.permutation(array.size)
        shuffled[name] = array.reshape(-1)[order].reshape(array.shape)
    return shuffled


def layer_seed(seed: int, name: str) -> int:
    """The 64-bit generator seed of tensor ``name`` under ``seed``."""
    return shuffle_seed(seed, name)


def _as_bool_array(name: str, mask: Any) -> np.ndarray:
    if hasattr(mask, "detach"):  # a torch tensor, without importing torch
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        what = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
        raise OptionError(f"mask {name!r} must be a bool array; got {what}")
    return mask
