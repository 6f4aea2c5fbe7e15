"""maskkit: pruning masks as shareable, versioned files.

The pipeline stages are functions from artifacts to artifacts; the ``maskkit`` command is a thin
layer over them:

>>> import maskkit                                                          # doctest: +SKIP
>>> weights = maskkit.init_weights("lenet300", seed=0)
>>> scores = maskkit.score(weights, "snip", dataset=maskkit.load_dataset("mnist"))
>>> mask = maskkit.make_mask(scores, 0.9).shuffle(seed=1).reinit(seed=2)
>>> mask.save("m.safetensors"); mask.densities()

Names resolve on first use, so ``import maskkit`` imports neither torch nor numpy.
"""

from maskkit._lazy import lazy_exports
from maskkit._version import __version__

__getattr__, __dir__, _names = lazy_exports(
    __name__,
    {
        "maskkit.format": [
            "Artifact",
            "Mask",
            "Scores",
            "Weights",
            "load",
            "read_metadata",
            "save",
        ],
        "maskkit.stages": ["init_weights", "make_mask", "reinit", "rewind", "score", "shuffle"],
        "maskkit.initial": ["initial_model"],
        "maskkit.compare": ["compare_masks"],
        "maskkit.models": ["build_model", "known_models", "prunable_names"],
        "maskkit.data": ["known_datasets", "load_dataset"],
        "maskkit.pruners": ["known_methods"],
        "maskkit.training": [
            "TrainOptions",
            "default_options",
            "evaluate",
            "iterative_magnitude_pruning",
            "train",
            "train_artifact",
        ],
        "maskkit.interop": ["export_openlth", "export_torch_prune", "import_mask", "write_openlth"],
    },
)
__all__ = ["__version__", *_names]
