"""torch.nn.utils.prune: ``<param>_orig`` plus a float ``<param>_mask`` buffer in the state_dict.

Reading takes every ``<param>_mask`` tensor whose ``<param>_orig`` is present (a pruned model's
state_dict), or every ``*_mask`` tensor of a file that holds nothing else (a masks-only file,
as :func:`export` writes). Other tensors are ignored.

The export is a ``torch.save``'d dict ``{"<param>_mask": float32 tensor}`` (1 = keep), loadable
with ``torch.load(path, weights_only=True)``. Apply it to a model with::

    import torch
    from torch.nn.utils import prune

    masks = torch.load("mask.pt", weights_only=True)
    for key, mask in masks.items():
        module_name, _, param = key.removesuffix("_mask").rpartition(".")
        prune.custom_from_mask(model.get_submodule(module_name), param, mask)

after which ``model.state_dict()`` holds ``<param>_orig`` and ``<param>_mask`` as if
``torch.nn.utils.prune`` had pruned it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from maskkit.errors import FormatError
from maskkit.interop._common import collect, describe, is_tensor
from maskkit.interop._torchfile import save_torch

if TYPE_CHECKING:
    from maskkit.format import Mask

MASK, ORIG = "_mask", "_orig"


def _mask_keys(obj: Mapping[Any, Any]) -> list[str]:
    keys = [k for k in obj if isinstance(k, str) and k.endswith(MASK) and len(k) > len(MASK)]
    if any(isinstance(k, str) and k.endswith(ORIG) for k in obj):
        keys = [k for k in keys if k[: -len(MASK)] + ORIG in obj]
    return keys


def sniff(obj: Any) -> bool:
    """A pruned state_dict (``_mask`` keys with their ``_orig``), or a dict of ``_mask`` tensors only."""
    if not isinstance(obj, Mapping) or not obj:
        return False
    keys = [k for k in obj if isinstance(k, str) and k.endswith(MASK)]
    if any(k[: -len(MASK)] + ORIG in obj for k in keys):
        return True
    return len(keys) == len(obj) and all(is_tensor(v) for v in obj.values())


def read(obj: Any, *, source: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, Mapping):
        raise FormatError(
            f"{source}: expected a state_dict for the torch-prune layout, found {describe(obj)}"
        )
    return collect(
        ((key[: -len(MASK)], key, obj[key]) for key in _mask_keys(obj) if is_tensor(obj[key])),
        source=source,
        layout="torch-prune",
    )


def export(mask: Mask) -> bytes:
    """The torch.nn.utils.prune layout: ``torch.save`` bytes of ``{"<param>_mask": float32}``.

    >>> open("mask.pt", "wb").write(export(mask))  # doctest: +SKIP
    >>> torch.load("mask.pt", weights_only=True)["fc.weight_mask"].dtype  # doctest: +SKIP
    torch.float32
    """
    import torch

    return save_torch(
        {
            f"{name}{MASK}": torch.from_numpy(mask.arrays[name].astype(np.float32))
            for name in sorted(mask.arrays)
        }
    )
