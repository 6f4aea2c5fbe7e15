"""The maskkit artifact format v1 (``spec/format-v1.md``): read, check and write artifacts.

Names are resolved lazily so that header-only readers (``maskkit info``) import neither numpy
nor torch: ``from maskkit.format import read_metadata`` costs only the standard library.
"""

from maskkit._lazy import lazy_exports

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
