"""The maskkit artifact format v1 (``spec/format-v1.md``): read, check and write artifacts.

Names are resolved lazily so that header-only readers (``maskkit info``) import neither numpy
nor torch: ``from maskkit.format import read_metadata`` costs only the standard library.
"""

from typing import TYPE_CHECKING

from maskkit._lazy import lazy_exports

if TYPE_CHECKING:
    from maskkit.format.artifact import Artifact as Artifact
    from maskkit.format.artifact import Mask as Mask
    from maskkit.format.artifact import Scores as Scores
    from maskkit.format.artifact import Weights as Weights
    from maskkit.format.artifact import save as save
    from maskkit.format.files import read_file as read_file
    from maskkit.format.files import read_header as read_header
    from maskkit.format.files import read_metadata as read_metadata
    from maskkit.format.files import write_atomic as write_atomic
    from maskkit.format.metadata import FORMAT_VERSION as FORMAT_VERSION
    from maskkit.format.metadata import InitRef as InitRef
    from maskkit.format.metadata import LayerCount as LayerCount
    from maskkit.format.metadata import Metadata as Metadata
    from maskkit.format.metadata import ModelBinding as ModelBinding
    from maskkit.format.metadata import StageRecord as StageRecord
    from maskkit.format.metadata import fingerprint as fingerprint
    from maskkit.format.reader import expect_kind as expect_kind
    from maskkit.format.reader import load as load

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "maskkit.format.artifact": [
            "Artifact",
            "Mask",
            "Scores",
            "Weights",
            "save",
        ],
        "maskkit.format.reader": ["expect_kind", "load"],
        "maskkit.format.files": ["read_file", "read_header", "read_metadata", "write_atomic"],
        "maskkit.format.metadata": [
            "FORMAT_VERSION",
            "InitRef",
            "LayerCount",
            "Metadata",
            "ModelBinding",
            "StageRecord",
            "fingerprint",
        ],
    },
)
