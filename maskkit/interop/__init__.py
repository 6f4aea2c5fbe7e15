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

from maskkit._lazy import lazy_exports

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
