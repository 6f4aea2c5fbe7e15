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

from typing import TYPE_CHECKING

from maskkit._lazy import lazy_exports
from maskkit._version import __version__

if TYPE_CHECKING:
    from maskkit.data import known_datasets as known_datasets
    from maskkit.data import load_dataset as load_dataset
    from maskkit.format import Artifact as Artifact
    from maskkit.format import Mask as Mask
    from maskkit.format import Scores as Scores
    from maskkit.format import Weights as Weights
    from maskkit.format import load as load
    from maskkit.format import read_metadata as read_metadata
    from maskkit.format import save as save
    from maskkit.interop import export_openlth as export_openlth
    from maskkit.interop import export_torch_prune as export_torch_prune
    from maskkit.interop import import_mask as import_mask
    from maskkit.interop import write_openlth as write_openlth
    from maskkit.masking.overlap import compare_masks as compare_masks
    from maskkit.models import build_model as build_model
    from maskkit.models import known_models as known_models
    from maskkit.models import prunable_names as prunable_names
    from maskkit.models.binding import apply_mask as apply_mask
    from maskkit.pruners import known_methods as known_methods
    from maskkit.stages import init_weights as init_weights
    from maskkit.stages import make_mask as make_mask
    from maskkit.stages import reinit as reinit
    from maskkit.stages import rewind as rewind
    from maskkit.stages import score as score
    from maskkit.stages import shuffle as shuffle
    from maskkit.start_weights import initial_model as initial_model
    from maskkit.training import RunIO as RunIO
    from maskkit.training import TrainOptions as TrainOptions
    from maskkit.training import default_options as default_options
    from maskkit.training import evaluate as evaluate
    from maskkit.training import evaluate_artifact as evaluate_artifact
    from maskkit.training import iterative_magnitude_pruning as iterative_magnitude_pruning
    from maskkit.training import train as train
    from maskkit.training import train_artifact as train_artifact

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
