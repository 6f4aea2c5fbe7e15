"""Masks from and to other tools: torch.nn.utils.prune, torch.ao.pruning, OpenLTH/NNI, files.

Readers give ``{parameter name: bool array}``; :func:`import_mask` makes a maskkit v1
:class:`~maskkit.format.Mask` (bound to a model when one is named); exporters write the
torch.nn.utils.prune and OpenLTH layouts back. Foreign torch files are read with
``torch.load(weights_only=True)`` only. Names resolve lazily: importing this package costs
neither numpy nor torch.

>>> from maskkit.interop import import_mask, export_torch_prune  # doctest: +SKIP
>>> mask = import_mask("pruned_state_dict.pt")                    # doctest: +SKIP
>>> open("mask.pt", "wb").write(export_torch_prune(mask))         # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from maskkit._lazy import lazy_exports

if TYPE_CHECKING:
    from maskkit.interop._common import strip_prefixes as strip_prefixes
    from maskkit.interop.exporting import export_openlth as export_openlth
    from maskkit.interop.exporting import export_torch_prune as export_torch_prune
    from maskkit.interop.exporting import write_openlth as write_openlth
    from maskkit.interop.importing import MISSING as MISSING
    from maskkit.interop.importing import fit_to_model as fit_to_model
    from maskkit.interop.importing import import_mask as import_mask
    from maskkit.interop.reading import detect_layout as detect_layout
    from maskkit.interop.reading import read_masks as read_masks
    from maskkit.interop.reading import resolve_path as resolve_path
    from maskkit.interop.registry import TARGETS as TARGETS
    from maskkit.interop.registry import Layout as Layout
    from maskkit.interop.registry import get_layout as get_layout
    from maskkit.interop.registry import known_layouts as known_layouts

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "maskkit.interop.registry": ["TARGETS", "Layout", "get_layout", "known_layouts"],
        "maskkit.interop.reading": ["detect_layout", "read_masks", "resolve_path"],
        "maskkit.interop.importing": ["MISSING", "fit_to_model", "import_mask"],
        "maskkit.interop.exporting": ["export_openlth", "export_torch_prune", "write_openlth"],
        "maskkit.interop._common": ["strip_prefixes"],
    },
)
