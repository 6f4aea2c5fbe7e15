"""Training and evaluation under a mask: SGD with pruned weights held at exactly zero.

>>> from maskkit.training import default_options, train_artifact
>>> opts = default_options("lenet", "mnist", steps=500)
>>> trained, run = train_artifact(mask, dataset, opts, source="m.safetensors")  # doctest: +SKIP

Importing this package is cheap: each name loads its module (and torch) on first use.
"""

from typing import TYPE_CHECKING

from maskkit._lazy import lazy_exports

if TYPE_CHECKING:
    from maskkit.training.artifact_runs import ArtifactEvaluation as ArtifactEvaluation
    from maskkit.training.artifact_runs import DataRequest as DataRequest
    from maskkit.training.artifact_runs import data_run_id as data_run_id
    from maskkit.training.artifact_runs import evaluate_artifact as evaluate_artifact
    from maskkit.training.artifact_runs import load_run_data as load_run_data
    from maskkit.training.artifact_runs import recorded_step as recorded_step
    from maskkit.training.artifact_runs import train_artifact as train_artifact
    from maskkit.training.checkpoint import CheckpointDir as CheckpointDir
    from maskkit.training.checkpoint import run_identity as run_identity
    from maskkit.training.enforce import MaskEnforcer as MaskEnforcer
    from maskkit.training.evaluation import Metrics as Metrics
    from maskkit.training.evaluation import evaluate as evaluate
    from maskkit.training.events import Events as Events
    from maskkit.training.events import Schedule as Schedule
    from maskkit.training.imp import ImpRound as ImpRound
    from maskkit.training.imp import iterative_magnitude_pruning as iterative_magnitude_pruning
    from maskkit.training.imp import round_sparsity as round_sparsity
    from maskkit.training.loop import TrainResult as TrainResult
    from maskkit.training.loop import train as train
    from maskkit.training.options import Plan as Plan
    from maskkit.training.options import TrainOptions as TrainOptions
    from maskkit.training.options import default_options as default_options
    from maskkit.training.options import family_defaults as family_defaults
    from maskkit.training.options import parse_duration as parse_duration
    from maskkit.training.run_io import RunIO as RunIO

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "maskkit.training.options": [
            "Plan",
            "TrainOptions",
            "default_options",
            "family_defaults",
            "parse_duration",
        ],
        "maskkit.training.loop": ["TrainResult", "train"],
        "maskkit.training.run_io": ["RunIO"],
        "maskkit.training.events": ["Events", "Schedule"],
        "maskkit.training.evaluation": ["Metrics", "evaluate"],
        "maskkit.training.enforce": ["MaskEnforcer"],
        "maskkit.training.checkpoint": ["CheckpointDir", "run_identity"],
        "maskkit.training.artifact_runs": [
            "ArtifactEvaluation",
            "DataRequest",
            "data_run_id",
            "evaluate_artifact",
            "load_run_data",
            "recorded_step",
            "train_artifact",
        ],
        "maskkit.training.imp": ["ImpRound", "iterative_magnitude_pruning", "round_sparsity"],
    },
)
