"""Helpers every reader shares: wrapper-prefix stripping, the 0/1 check, and name collection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from maskkit.errors import FormatError

#: Prefixes that wrappers add to parameter names: DataParallel/DDP and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def strip_prefixes(name: str) -> str:
    """``name`` without leading wrapper prefixes, removed repeatedly and in any order.

    >>> strip_prefixes("module._orig_mod.module.fc.weight")
    'fc.weight'
    """
    while True:
        for prefix in WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
        else:
            return name


def is_tensor(value: Any) -> bool:
    """True for a torch tensor, checked without importing torch."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def to_bool(value: Any, *, tensor: str, source: str) -> np.ndarray:
    """A 0/1 torch tensor or numpy array as a bool array; FormatError naming ``tensor`` otherwise."""
    if is_tensor(value):
        return _tensor_to_bool(value, tensor=tensor, source=source)
    array = np.asarray(value)
    if array.dtype == np.bool_:
        return _checked_bool(array, tensor=tensor, source=source)
    if array.dtype.kind not in "iuf":
        raise FormatError(
            f"{source}: tensor {tensor!r} has dtype {array.dtype}; a mask must be 0/1"
        )
    bad = ~((array == 0) | (array == 1))
    if bad.any():
        raise _not_binary(source, tensor, array[bad].reshape(-1)[0].item())
    return np.ascontiguousarray(array != 0)


def _tensor_to_bool(value: Any, *, tensor: str, source: str) -> np.ndarray:
    import torch

    if value.layout != torch.strided:
        raise FormatError(f"{source}: tensor {tensor!r} is {value.layout}; a mask must be dense")
    if value.is_quantized or value.is_complex():
        raise FormatError(f"{source}: tensor {tensor!r} is {value.dtype}; a mask must be 0/1")
    value = value.detach().cpu()
    if value.dtype == torch.bool:
        return _checked_bool(value.contiguous().numpy(), tensor=tensor, source=source)
    bad = ~((value == 0) | (value == 1))
    if bool(bad.any()):
        raise _not_binary(source, tensor, value[bad].reshape(-1)[0].item())
    return (value != 0).contiguous().numpy().copy()


def _checked_bool(array: np.ndarray, *, tensor: str, source: str) -> np.ndarray:
    # A bool read straight from file bytes may hold any byte; only 0 and 1 are booleans.
    raw = np.ascontiguousarray(array).view(np.uint8)
    if raw.size and raw.max() > 1:
        raise _not_binary(source, tensor, int(raw[raw > 1].reshape(-1)[0]))
    return raw.view(np.bool_).copy()


def _not_binary(source: str, tensor: str, example: Any) -> FormatError:
    return FormatError(
        f"{source}: tensor {tensor!r} holds values other than 0 and 1 (for example {example!r}); "
        "a mask must be 0/1"
    )


def collect(
    pairs: Iterable[tuple[str, str, Any]], *, source: str, layout: str
) -> dict[str, np.ndarray]:
    """Bool masks keyed by stripped parameter name, from ``(name, key in the file, value)``.

    Refuses two keys that strip to the same name, an empty name, and a file with no masks.
    """
    masks: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for name, key, value in pairs:
        clean = strip_prefixes(name)
        if not clean or "\0" in clean:
            raise FormatError(f"{source}: key {key!r} gives no usable parameter name")
        if clean in masks:
            raise FormatError(
                f"{source}: keys {origin[clean]!r} and {key!r} both name parameter {clean!r} "
                "(after stripping module./_orig_mod. prefixes)"
            )
        masks[clean] = to_bool(value, tensor=key, source=source)
        origin[clean] = key
    if not masks:
        raise FormatError(f"{source}: no mask tensors found (read as the {layout} layout)")
    return {name: masks[name] for name in sorted(masks)}


def describe(obj: Any) -> str:
    """A few words on what a torch file holds, for 'unknown content' messages."""
    if isinstance(obj, Mapping):
        keys = [repr(k) for k in list(obj)[:4]]
        more = f", ... ({len(obj)} keys)" if len(obj) > 4 else ""
        return f"a dict with keys {', '.join(keys)}{more}" if keys else "an empty dict"
    return f"a {type(obj).__name__}"
