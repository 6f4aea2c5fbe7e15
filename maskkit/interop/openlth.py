"""OpenLTH and NNI ``mask.pth``: parameter name -> 0/1 tensor.

OpenLTH saves ``{state_dict name: int32 0/1 tensor}`` as ``mask.pth`` beside a
``sparsity_report.json`` of ``{"total": float, "unpruned": float}``. NNI's ``export_model``
writes ``mask.pth`` as ``{module name: {"weight": tensor, "bias": tensor or None}}`` (older
versions: ``weight_mask``/``bias_mask``); that nesting is read as ``<module>.weight`` and so on.
Any 0/1 dtype is accepted; ``None`` entries are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskkit.errors import FormatError
from maskkit.interop import ao, torch_prune
from maskkit.interop._common import collect, describe, is_tensor
from maskkit.interop._torchfile import save_torch

if TYPE_CHECKING:
    from maskkit.format import Mask

MASK_FILE = "mask.pth"
REPORT_FILE = "sparsity_report.json"


def _flat(obj: Mapping[Any, Any]) -> bool:
    return all(isinstance(k, str) and is_tensor(v) for k, v in obj.items())


def _nested(obj: Mapping[Any, Any]) -> bool:
    return all(
        isinstance(k, str)
        and isinstance(v, Mapping)
        and "mask" not in v  # {fqn: {"mask": ...}} is a sparsifier's state
        and all(isinstance(t, str) and (t2 is None or is_tensor(t2)) for t, t2 in v.items())
        for k, v in obj.items()
    )


def sniff(obj: Any) -> bool:
    """A flat dict of tensors (that is not another layout), or NNI's per-module nesting."""
    if not isinstance(obj, Mapping) or not obj:
        return False
    if _flat(obj):
        return not torch_prune.sniff(obj) and not ao.sniff(obj)
    return _nested(obj)


def read(obj: Any, *, source: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, Mapping) or not (_flat(obj) or _nested(obj)):
        raise FormatError(
            f"{source}: expected a dict of 0/1 tensors for the openlth layout, found {describe(obj)}"
        )
    if _flat(obj):
        pairs = [(key, key, value) for key, value in obj.items()]
    else:
        pairs = [
            (
                f"{module}.{target.removesuffix('_mask')}"
                if module
                else target.removesuffix("_mask"),
                f"{module}/{target}",
                value,
            )
            for module, targets in obj.items()
            for target, value in targets.items()
            if value is not None
        ]
    return collect(pairs, source=source, layout="openlth")


def export(mask: Mask) -> dict[str, bytes]:
    """The OpenLTH files: ``mask.pth`` (int32 0/1 tensors) and ``sparsity_report.json``.

    The report is written as OpenLTH writes it: float counts, 4-space indent, no final newline.

    >>> sorted(export(mask))  # doctest: +SKIP
    ['mask.pth', 'sparsity_report.json']
    """
    import torch

    tensors = {
        name: torch.from_numpy(mask.arrays[name].astype(np.int32)) for name in sorted(mask.arrays)
    }
    report = {"total": float(mask.numel), "unpruned": float(mask.kept)}
    return {
        MASK_FILE: save_torch(tensors),
        REPORT_FILE: json.dumps(report, indent=4).encode("ascii"),
    }


def write(mask: Mask, folder: str | os.PathLike[str]) -> list[Path]:
    """Write the OpenLTH files into ``folder`` (created with its parents), each atomically.

    Both files are built before either is written, so a bad mask writes nothing.

    >>> write(mask, "run/level_3/main")  # doctest: +SKIP
    [PosixPath('run/level_3/main/mask.pth'), PosixPath('run/level_3/main/sparsity_report.json')]
    """
    from maskkit.format.files import write_atomic

    files = export(mask)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, data in files.items():
        write_atomic(target / file_name, [data])
        written.append(target / file_name)
    return written
