"""The foreign mask layouts by name: one registration line per layout.

Each layout is a module of ``maskkit.interop`` with ``sniff()`` and ``read()``. ``torch`` layouts
receive the object ``torch.load(weights_only=True)`` returns; ``bytes`` layouts receive the raw
file bytes. This module imports neither numpy nor torch, so the CLI can list the names cheaply.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from maskkit._registry import Registry


@dataclass(frozen=True)
class Layout:
    """A foreign mask layout: where its reader lives and what it is fed."""

    name: str
    module: str
    container: str  # "torch" or "bytes"
    help: str

    def load(self) -> ModuleType:
        return importlib.import_module(f"maskkit.interop.{self.module}")


#: A maskkit v1 mask is an input too (to rebind it to a model, or re-encode it).
MASKKIT = "maskkit"

LAYOUTS: Registry[Layout] = Registry(
    "mask layout",
    {
        "torch-prune": Layout(
            "torch-prune", "torch_prune", "torch", "torch.nn.utils.prune state_dict (<param>_mask)"
        ),
        "openlth": Layout(
            "openlth", "openlth", "torch", "OpenLTH or NNI mask.pth (name -> 0/1 tensor)"
        ),
        "ao": Layout("ao", "ao", "torch", "torch.ao.pruning sparsifier state_dict"),
        "safetensors": Layout(
            "safetensors", "plain_safetensors", "bytes", "plain safetensors file of 0/1 tensors"
        ),
        "npz": Layout("npz", "npz", "bytes", "numpy .npz of 0/1 arrays"),
    },
    # What --from accepts: detection, the layouts, and a maskkit mask.
    listed=lambda names: ["auto", *names, MASKKIT],
)
"""Layout name -> :class:`Layout`, in detection-report order."""

#: What a mask can be written as: a maskkit v1 mask, or a foreign layout with an exporter.
TARGETS = (MASKKIT, "torch-prune", "openlth")

#: What importing does with a prunable layer the file has no mask for (``missing=``).
MISSING = ("error", "keep", "omit")


def known_layouts() -> list[str]:
    """The foreign layout names, in detection-report order."""
    return LAYOUTS.names()


def get_layout(name: str) -> Layout:
    """The layout called ``name``; OptionError listing the known ones otherwise."""
    return LAYOUTS.get(name)
