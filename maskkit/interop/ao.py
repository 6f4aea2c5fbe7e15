"""torch.ao.pruning: a sparsifier's ``state_dict()``, or a parametrized model's state_dict.

``BaseSparsifier.state_dict()`` is ``{"state": {tensor_fqn: {"mask": tensor, ...}}, "groups":
[...]}``; a bare ``{tensor_fqn: {"mask": tensor}}`` (its ``"state"`` alone) is read too. Its
``"state"`` is a ``collections.defaultdict``, which the loader reads as a plain dict.

A model prepared by a sparsifier saves ``<module>.parametrizations.<param>.original``; torch's
own ``FakeSparsity`` keeps its mask out of the state_dict, but a parametrization that registers
a ``mask`` buffer saves ``<module>.parametrizations.<param>.<index>.mask``, read as
``<module>.<param>``. A prepared model's state_dict without any mask (torch's own case) is
recognised and refused with a hint to save ``sparsifier.state_dict()`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from maskkit.errors import FormatError
from maskkit.interop._common import collect, describe, is_tensor

_PARAMETRIZED_MASK = re.compile(
    r"^(?:(?P<module>.*)\.)?parametrizations\.(?P<param>[^.]+)\.\d+\.mask$"
)
_PARAMETRIZED_ORIGINAL = re.compile(r"(?:^|\.)parametrizations\.[^.]+\.original$")


def _state(obj: Mapping[Any, Any]) -> Mapping[Any, Any] | None:
    """The per-tensor state: ``obj["state"]``, or ``obj`` itself when it is a bare state."""
    state = obj.get("state") if isinstance(obj.get("state"), Mapping) else obj
    if state and all(isinstance(v, Mapping) and "mask" in v for v in state.values()):
        return state
    return None


def _parametrized(obj: Mapping[Any, Any]) -> list[tuple[str, str, Any]]:
    pairs = []
    for key, value in obj.items():
        match = _PARAMETRIZED_MASK.match(key) if isinstance(key, str) else None
        if match and is_tensor(value):
            module = match.group("module")
            pairs.append(
                (f"{module}.{match.group('param')}" if module else match.group("param"), key, value)
            )
    return pairs


def sniff(obj: Any) -> bool:
    if not isinstance(obj, Mapping) or not obj:
        return False
    return _state(obj) is not None or bool(_parametrized(obj)) or _prepared(obj)


def _prepared(obj: Mapping[Any, Any]) -> bool:
    """A state_dict of a model under torch.ao parametrizations (``...parametrizations.w.original``)."""
    return any(isinstance(k, str) and _PARAMETRIZED_ORIGINAL.search(k) for k in obj)


def read(obj: Any, *, source: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, Mapping):
        raise FormatError(
            f"{source}: expected a sparsifier state_dict for the ao layout, found {describe(obj)}"
        )
    state = _state(obj)
    if state is not None:
        pairs = []
        for fqn, entry in state.items():
            mask = entry.get("mask")
            if mask is None:
                continue
            if not isinstance(fqn, str) or not is_tensor(mask):
                raise FormatError(f"{source}: state entry {fqn!r} has a mask that is not a tensor")
            pairs.append((fqn, f"state/{fqn}/mask", mask))
        return collect(pairs, source=source, layout="ao")
    pairs = _parametrized(obj)
    if not pairs and _prepared(obj):
        raise FormatError(
            f"{source}: a model prepared by a torch.ao.pruning sparsifier, whose state_dict "
            "holds no masks (FakeSparsity does not save them); save sparsifier.state_dict() "
            "and convert that"
        )
    return collect(pairs, source=source, layout="ao")
