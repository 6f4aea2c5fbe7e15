"""Training and evaluation under a mask: SGD with pruned weights held at exactly zero.

>>> from maskkit.training import default_options, train_artifact
>>> opts = default_options("lenet", "mnist", steps=500)
>>> trained, run = train_artifact(mask, dataset, opts, source="m.safetensors")  # doctest: +SKIP

Importing this package is cheap: each name loads its module (and torch) on first use.
"""

from maskkit._lazy import lazy_exports

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
