"""maskkit: pruning masks as shareable, versioned files.

The pipeline stages are functions from artifacts to artifacts; the ``maskkit`` command is a thin
layer over them (here on generated data of MNIST's shape; ``load_dataset("mnist")`` for the
real one):

>>> import maskkit
>>> weights = maskkit.init_weights("lenet300", seed=0)
>>> data = maskkit.load_dataset("synthetic", input_shape=(1, 28, 28))
>>> scores = maskkit.score(weights, "snip", dataset=data)
>>> mask = maskkit.reinit(maskkit.shuffle(maskkit.make_mask(scores, 0.9), seed=1), seed=2)
>>> mask
<Mask lenet300: 3 layers, 26620/266200 kept (10.00%)>
>>> [record.stage for record in mask.provenance]
['init', 'score', 'mask', 'shuffle', 'reinit']

``mask.save(path)`` writes it; ``maskkit.load(path)`` reads it back. Names resolve on first use,
so ``import maskkit`` imports neither torch nor numpy.
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
        "maskkit.start_weights": ["initial_model"],
        "maskkit.masking.overlap": ["compare_masks"],
        "maskkit.models": ["build_model", "known_models", "prunable_names"],
        "maskkit.models.binding": ["apply_mask"],
        "maskkit.data": ["known_datasets", "load_dataset"],
        "maskkit.pruners": ["known_methods"],
        "maskkit.training": [
            "RunIO",
            "TrainOptions",
            "default_options",
            "evaluate",
            "evaluate_artifact",
            "iterative_magnitude_pruning",
            "train",
            "train_artifact",
        ],
        "maskkit.interop": ["export_openlth", "export_torch_prune", "import_mask", "write_openlth"],
    },
)
__all__ = ["__version__", *_names]
