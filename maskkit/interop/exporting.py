"""Exporters: a maskkit mask as the files other tools read (see each layout's module)."""

from __future__ import annotations

from maskkit.interop.openlth import export as export_openlth
from maskkit.interop.openlth import write as write_openlth
from maskkit.interop.torch_prune import export as export_torch_prune

__all__ = ["export_openlth", "export_torch_prune", "write_openlth"]
