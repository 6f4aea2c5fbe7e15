"""Input checks and the common finishing step shared by every scoring method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from maskkit.errors import DataError, ModelMismatchError, OptionError


def check_prunable(model: nn.Module, prunable: Sequence[str]) -> list[str]:
    """The prunable names as a list: each a parameter of ``model``, no repeats, at least one."""
    if isinstance(prunable, str):
        raise OptionError("prunable must be a sequence of parameter names, not one string")
    names = list(prunable)
    if not names:
        raise OptionError("no prunable parameters to score")
    params = dict(model.named_parameters())
    seen: set[str] = set()
    for name in names:
        if name not in params:
            raise ModelMismatchError(f"the model has no parameter named {name!r}")
        if name in seen:
            raise OptionError(f"prunable parameter {name!r} is listed twice")
        if not params[name].is_floating_point():
            raise ModelMismatchError(f"parameter {name!r} is not a floating-point tensor")
        seen.add(name)
    return names


def check_mask(
    model: nn.Module, prunable: list[str], mask: Mapping[str, Tensor] | None
) -> dict[str, Tensor] | None:
    """The mask as CPU bool tensors; it must cover every prunable name and fit the model.

    Entries for other parameters of the model are allowed (those weights are zeroed too).
    """
    if mask is None:
        return None
    params = dict(model.named_parameters())
    missing = [n for n in prunable if n not in mask]
    if missing:
        raise ModelMismatchError(f"the mask has no entry for prunable parameter {missing[0]!r}")
    out: dict[str, Tensor] = {}
    for name, m in mask.items():
        if name not in params:
            raise ModelMismatchError(f"the mask names {name!r}, which the model does not have")
        if not isinstance(m, Tensor) or m.dtype != torch.bool:
            raise ModelMismatchError(f"mask entry {name!r} must be a bool tensor")
        if tuple(m.shape) != tuple(params[name].shape):
            raise ModelMismatchError(
                f"mask entry {name!r} has shape {tuple(m.shape)}, "
                f"the parameter has {tuple(params[name].shape)}"
            )
        out[name] = m.detach().to("cpu")
    return out


def check_data(method: str, data: object) -> tuple[Tensor, Tensor]:
    """``(inputs, integer labels)`` with the same number (>= 1) of finite examples."""
    if data is None:
        raise OptionError(f"{method} needs scoring data (inputs and labels)")
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise DataError(f"{method}: scoring data must be a pair (inputs, labels)")
    x, y = data
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise DataError(f"{method}: scoring inputs and labels must be tensors")
    if y.dim() != 1 or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise DataError(f"{method}: scoring labels must be a 1-D integer tensor")
    if x.dim() < 1 or x.shape[0] != y.shape[0] or y.shape[0] == 0:
        raise DataError(
            f"{method}: {x.shape[0] if x.dim() else 0} scoring inputs but {y.shape[0]} labels"
        )
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise DataError(f"{method}: the scoring inputs contain NaN or infinite values")
    return x, y.long()


def finish(
    method: str,
    model: nn.Module,
    prunable: list[str],
    raw: Mapping[str, Tensor],
    mask: Mapping[str, Tensor] | None,
) -> dict[str, Tensor]:
    """float32 CPU scores in ``prunable`` order; -inf where ``mask`` prunes; NaN is a bug."""
    params = dict(model.named_parameters())
    own = {p.untyped_storage().data_ptr() for p in params.values()}
    out: dict[str, Tensor] = {}
    for name in prunable:
        t = raw[name].detach().to(device="cpu", dtype=torch.float32)
        if tuple(t.shape) != tuple(params[name].shape):
            raise RuntimeError(f"{method} returned shape {tuple(t.shape)} for {name!r}")
        if mask is not None:
            t = t.masked_fill(~mask[name], float("-inf"))
        elif t.untyped_storage().data_ptr() in own:
            t = t.clone()  # no returned tensor may share memory with the model
        if bool(torch.isnan(t).any()):
            raise RuntimeError(f"{method} produced NaN scores for {name!r}")
        out[name] = t.contiguous()
    return out
