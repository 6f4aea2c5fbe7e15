"""Training and evaluating artifacts: a mask (or weights) in, trained weights or metrics out.

The model is the one the artifact is bound to, starting from the weights its init reference
names (:func:`maskkit.start_weights.initial_model`). When those weights were saved by a training run
(``--save-at``, then ``maskkit rewind --to``), training continues from the step they record:
the learning-rate schedule and the data order restart at that step with a fresh optimizer,
which is lottery-ticket rewinding. The output's ``training`` metadata records the mask's
content hash, the options, the dataset, the steps and the final metrics.

:func:`evaluate_artifact` is the ``eval`` stage: the same model (a mask applied to its starting
weights, or trained weights) evaluated on a split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from maskkit.data.types import Dataset
from maskkit.errors import FormatError, OptionError
from maskkit.format import InitRef, Mask, StageRecord, Weights, read_file, read_metadata
from maskkit.models.binding import check_dataset
from maskkit.training._errors import about
from maskkit.training.evaluation import Metrics
from maskkit.training.loop import TrainResult, model_state, train
from maskkit.training.options import Duration, TrainOptions
from maskkit.training.run_io import NO_IO, RunIO


def recorded_step(
    artifact: Mask | Weights,
    *,
    weights: str | os.PathLike[str] | None = None,
    source: str = "<artifact>",
    weights_dirs: Sequence[str | os.PathLike[str]] = (),
) -> int:
    """The training step the starting weights were saved at (0 unless a run saved them).

    From ``weights`` when given, else from the file a mask's init reference names (found and
    checked as :func:`maskkit.start_weights.initial_model` does, ``source`` being the mask's path),
    else from a weights artifact's own ``training`` metadata.
    """
    if weights is not None:
        return _step_in_file(os.fspath(weights))
    if isinstance(artifact, Weights):
        return _step_of(artifact.training)
    init = artifact.init
    if init is not None and init.sha256 is not None and init.path:
        from maskkit.init_lookup import find_init_weights

        found = find_init_weights(init.sha256, init.path, source=source, weights_dirs=weights_dirs)
        return _step_in_file(found.data, name=found.path)
    return 0


def _step_in_file(path: str | bytes, *, name: str | None = None) -> int:
    try:
        meta = read_metadata(path, name=name)
    except FormatError:  # a plain safetensors state_dict: no step recorded
        return 0
    return _step_of(meta.training)


def _step_of(training: Mapping[str, Any] | None) -> int:
    step = (training or {}).get("step", 0)
    return step if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else 0


def train_artifact(
    artifact: Mask | Weights,
    dataset: Dataset,
    options: TrainOptions,
    *,
    source: str,
    weights: str | os.PathLike[str] | None = None,
    start_step: int | None = None,
    save_at: Iterable[Duration] = (),
    on_save: Callable[[int, Weights], None] | None = None,
    io: RunIO = NO_IO,
) -> tuple[Weights, TrainResult]:
    """Train the model ``artifact`` is bound to under its mask; the trained weights and the run.

    ``weights`` overrides the mask's initial weights (else looked up as ``initial_model`` does,
    also in the ``io.weights_dirs`` folders); ``start_step`` None continues from the
    step the starting weights record (see :func:`recorded_step`), 0 trains from scratch.
    ``on_save(step, weights)`` receives a weights artifact for every ``save_at`` step (rank 0).
    A ``package.module:callable`` model is built only when ``io.trust_code`` trusts it.

    >>> mask = load("m.safetensors", kind="mask")                              # doctest: +SKIP
    >>> trained, run = train_artifact(mask, load_dataset("mnist"),
    ...                               default_options("lenet", steps=500), source="m")  # doctest: +SKIP
    >>> trained.training["metrics"]["test_accuracy"]                           # doctest: +SKIP
    0.95
    """
    from maskkit.models import prunable_names
    from maskkit.start_weights import initial_model, sha256_hex

    if not isinstance(artifact, (Mask, Weights)):
        raise OptionError(f"{source}: train needs a mask or weights artifact, not {artifact.kind}")
    if weights is not None and isinstance(artifact, Weights):
        raise OptionError(
            f"{source}: is a weights artifact; weights= goes with a mask",
            cli_message=f"{source}: is a weights artifact; --weights goes with a mask",
        )
    model, masks = initial_model(
        artifact,
        weights=weights,
        source=source,
        weights_dirs=io.weights_dirs,
        trust_code=io.trust_code,
    )
    check_dataset(artifact.model, dataset)
    start = start_step
    if start is None:
        start = recorded_step(
            artifact, weights=weights, source=source, weights_dirs=io.weights_dirs
        )
    init = artifact.init
    if weights is not None:
        path = os.fspath(weights)
        init = InitRef(sha256=sha256_hex(read_file(path, name=path)), path=path)
    described = {
        **options.to_dict(),
        "dataset": dataset.name,
        "start_step": start,
        "weights": None if weights is None else os.fspath(weights),
    }
    provenance = (
        *artifact.provenance,
        StageRecord.of("train", described, seed=options.seed, input=artifact),
    )
    prunable = prunable_names(model)
    per_epoch = options.plan(len(dataset.train)).steps_per_epoch
    base = {
        "mask": artifact.content_hash if masks is not None else None,
        "options": options.to_dict(),
        "dataset": dataset.to_dict(),
        "start_step": start,
    }

    def weights_at(net: nn.Module, step: int, extra: Mapping[str, Any]) -> Weights:
        training = {**base, "step": step, "epochs": round(step / per_epoch, 6), **extra}
        return Weights(
            model_state(net),
            prunable=prunable,
            model=artifact.model,
            init=init,
            provenance=provenance,
            training=training,
        )

    saver = None
    if on_save is not None:

        def saver(step: int, net: nn.Module) -> None:
            on_save(step, weights_at(net, step, {}))

    result = train(
        model,
        dataset,
        options,
        masks=masks,
        start_step=start,
        save_at=save_at,
        on_save=saver,
        io=io,
    )
    trained = weights_at(
        model,
        result.step,
        {
            "total_steps": result.total_steps,
            "world_size": result.world_size,
            "device": result.device.split(":")[0],
            "metrics": {
                "test_accuracy": result.metrics.accuracy,
                "test_loss": result.metrics.loss,
                "test_count": result.metrics.count,
                "train_loss": result.train_loss,
            },
        },
    )
    return trained, result


@dataclass(frozen=True)
class DataRequest:
    """A dataset asked for by name (None: the one the artifact was made with, else the model's).

    ``options`` are the dataset's options; ``seed`` None keeps a generated dataset's recorded
    seed (see :func:`maskkit.models.binding.dataset_for_artifact`).
    """

    name: str | None = None
    data_dir: str | os.PathLike[str] | None = None
    seed: int | None = None
    options: Mapping[str, Any] | None = None

    def load_for(self, artifact: Mask | Weights, *, source: str, io: RunIO = NO_IO) -> Dataset:
        from maskkit.models.binding import dataset_for_artifact

        return dataset_for_artifact(
            artifact,
            self.name,
            data_dir=self.data_dir,
            seed=self.seed,
            options=self.options,
            trust_code=io.trust_code,
            source=source,
        )


def load_run_data(
    artifact: Mask | Weights,
    request: DataRequest,
    *,
    source: str,
    weights: str | os.PathLike[str] | None = None,
    io: RunIO = NO_IO,
) -> Dataset:
    """The dataset for training ``artifact``, after the cheap checks of the model and weights.

    The model is built from the artifact's binding and its starting weights are found and
    checked first, so a wrong fingerprint or a missing weights file is reported before a
    dataset is read.
    """
    from maskkit.start_weights import initial_model

    initial_model(
        artifact,
        weights=weights,
        source=source,
        weights_dirs=io.weights_dirs,
        trust_code=io.trust_code,
    )
    return request.load_for(artifact, source=source, io=io)


@dataclass(frozen=True)
class ArtifactEvaluation:
    """What :func:`evaluate_artifact` measured, and on what."""

    kind: str
    model: str | None
    mask: str | None
    weights: str | None
    dataset: str
    split: str
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "mask": self.mask,
            "weights": self.weights,
            "dataset": self.dataset,
            "split": self.split,
            "count": self.metrics.count,
            "correct": self.metrics.correct,
            "accuracy": self.metrics.accuracy,
            "loss": self.metrics.loss,
        }


def evaluate_artifact(
    artifact: Mask | Weights,
    dataset: Dataset | DataRequest,
    *,
    source: str,
    weights: str | os.PathLike[str] | None = None,
    split: str = "test",
    batch_size: int = 1000,
    device: str = "auto",
    io: RunIO = NO_IO,
) -> ArtifactEvaluation:
    """Accuracy and mean loss of a weights artifact, or of a mask applied to its start weights.

    For a mask the model starts from ``weights`` (else the weights its init reference names,
    looked up also in ``io.weights_dirs``) with the pruned weights zeroed; ``split`` is
    ``test`` or ``train``; ``device`` as for training (``auto`` picks cuda, mps, then cpu).
    A :class:`DataRequest` is loaded once the model and its weights are checked.

    >>> ev = evaluate_artifact(load("trained.safetensors"), load_dataset("mnist"),
    ...                        source="trained.safetensors")                 # doctest: +SKIP
    >>> ev.metrics.accuracy                                                   # doctest: +SKIP
    0.97
    """
    from maskkit.start_weights import initial_model
    from maskkit.training.distributed import resolve_device
    from maskkit.training.enforce import MaskEnforcer
    from maskkit.training.evaluation import evaluate

    if weights is not None and not isinstance(artifact, Mask):
        raise OptionError(
            f"{source}: is already weights; weights= goes with a mask",
            cli_message=f"{source}: is already weights; --weights goes with a mask",
        )
    if split not in ("test", "train"):
        raise about("split", "--split", f" must be test or train, got {split!r}")
    model, masks = initial_model(
        artifact,
        weights=weights,
        source=source,
        weights_dirs=io.weights_dirs,
        trust_code=io.trust_code,
    )
    if masks is not None:
        MaskEnforcer(model, masks).apply()
    if isinstance(dataset, DataRequest):
        dataset = dataset.load_for(artifact, source=source, io=io)
    target = resolve_device(device)
    model.to(target)
    metrics = evaluate(model, getattr(dataset, split), batch_size=batch_size, device=target)
    return ArtifactEvaluation(
        kind=artifact.kind,
        model=artifact.model.name,
        mask=artifact.content_hash if masks is not None else None,
        weights=None if weights is None else os.fspath(weights),
        dataset=dataset.name,
        split=split,
        metrics=metrics,
    )


def data_run_id(
    dataset: str | None, data_seed: int | None, data_options: Iterable[str] = ()
) -> str:
    """A ``run_id`` naming where the data came from (what ``dataset.to_dict()`` cannot show).

    ``data_options`` are the dataset options as given (``KEY=VALUE`` texts), so two runs asked
    for in the same words share their checkpoints.
    """
    return json.dumps(
        {"dataset": dataset, "data_seed": data_seed, "data_option": sorted(data_options)},
        sort_keys=True,
    )
