"""The ``train`` stage: a mask (or weights) artifact in, a trained weights artifact out.

The model is the one the artifact is bound to, starting from the weights its init reference
names (:func:`maskkit.start_weights.initial_model`). When those weights were saved by a training run
(``--save-at``, then ``maskkit rewind --to``), training continues from the step they record:
the learning-rate schedule and the data order restart at that step with a fresh optimizer,
which is lottery-ticket rewinding. The output's ``training`` metadata records the mask's
content hash, the options, the dataset, the steps and the final metrics.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from torch import nn

from maskkit.data.types import Dataset
from maskkit.errors import FormatError, OptionError
from maskkit.format import InitRef, Mask, Weights, read_file, read_metadata
from maskkit.models.binding import check_dataset
from maskkit.training.loop import Progress, TrainResult, model_state, train
from maskkit.training.options import Duration, TrainOptions


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

        found = find_init_weights(
            init.sha256, init.path, source=source, weights_dirs=weights_dirs
        )
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
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: Duration | None = None,
    log_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    run_id: str = "",
    weights_dirs: Sequence[str | os.PathLike[str]] = (),
    trust_code: bool | Collection[str] = False,
) -> tuple[Weights, TrainResult]:
    """Train the model ``artifact`` is bound to under its mask; the trained weights and the run.

    ``weights`` overrides the mask's initial weights (else looked up as ``initial_model`` does,
    also in the ``weights_dirs`` folders); ``start_step`` None continues from the
    step the starting weights record (see :func:`recorded_step`), 0 trains from scratch.
    ``on_save(step, weights)`` receives a weights artifact for every ``save_at`` step (rank 0).
    A ``package.module:callable`` model is built only when ``trust_code`` trusts it.

    >>> mask = load("m.safetensors", kind="mask")                              # doctest: +SKIP
    >>> trained, run = train_artifact(mask, load_dataset("mnist"),
    ...                               default_options("lenet", steps=500), source="m")  # doctest: +SKIP
    >>> trained.training["metrics"]["test_accuracy"]                           # doctest: +SKIP
    0.95
    """
    from maskkit import stages
    from maskkit.models import prunable_names
    from maskkit.start_weights import initial_model, sha256_hex

    if not isinstance(artifact, (Mask, Weights)):
        raise OptionError(f"{source}: train needs a mask or weights artifact, not {artifact.kind}")
    if weights is not None and isinstance(artifact, Weights):
        raise OptionError(f"{source}: is a weights artifact; --weights goes with a mask")
    model, masks = initial_model(
        artifact, weights=weights, source=source, weights_dirs=weights_dirs, trust_code=trust_code
    )
    check_dataset(artifact.model, dataset)
    start = start_step
    if start is None:
        start = recorded_step(
            artifact, weights=weights, source=source, weights_dirs=weights_dirs
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
        stages.record("train", described, seed=options.seed, input=artifact),
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
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        run_id=run_id,
        log_path=log_path,
        progress=progress,
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
