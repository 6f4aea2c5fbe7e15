"""The link between an artifact and a model: binding a model, and rebuilding it from a binding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from maskkit.errors import DataError, ModelMismatchError
from maskkit.format.metadata import ModelBinding, fingerprint

if TYPE_CHECKING:
    import torch


def model_fingerprint(model: torch.nn.Module) -> str:
    """Fingerprint of a model's parameter names and shapes (spec: "Model binding")."""
    return fingerprint((name, tuple(p.shape)) for name, p in model.named_parameters())


def bind(name: str, args: Mapping[str, Any], model: torch.nn.Module) -> ModelBinding:
    """The binding recorded in every artifact made for ``model`` (built as ``name(**args)``)."""
    return ModelBinding(name=name, args=dict(args), fingerprint=model_fingerprint(model))


def build_bound_model(binding: ModelBinding, *, seed: int, source: str) -> torch.nn.Module:
    """Rebuild the model an artifact is bound to, initialised with ``seed``.

    Refuses an artifact whose model is unknown, and a rebuilt model whose parameter names or
    shapes differ from the recorded fingerprint (a different maskkit or user-model version).
    """
    from maskkit.models import build_model

    if binding.name is None:
        raise ModelMismatchError(
            f"{source}: the model is unknown (the mask was imported without one); "
            "rebind it with 'maskkit convert --model NAME'"
        )
    model = build_model(binding.name, binding.args, seed=seed)
    check_fingerprint(binding, model, source=source)
    return model


def check_fingerprint(binding: ModelBinding, model: torch.nn.Module, *, source: str) -> None:
    if binding.fingerprint is not None and model_fingerprint(model) != binding.fingerprint:
        raise ModelMismatchError(
            f"{source}: model {binding.name} built with {dict(binding.args)} does not match the "
            "fingerprint recorded in the file (its parameter names or shapes differ)"
        )


def new_model(
    name: str,
    *,
    seed: int,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[torch.nn.Module, ModelBinding]:
    """Build a registry (or ``package.module:callable``) model and the binding that records it."""
    from maskkit.models import build_model, model_args

    args = model_args(name, num_classes=num_classes, input_shape=input_shape, overrides=overrides)
    model = build_model(name, args, seed=seed)
    return model, bind(name, args, model)


def check_dataset(binding: ModelBinding, dataset: Any) -> None:
    """DataError when the dataset's inputs or classes do not fit the bound model."""
    shape = binding.args.get("input_shape")
    classes = binding.args.get("num_classes")
    if shape and tuple(shape) != tuple(dataset.input_shape):
        raise DataError(
            f"dataset {dataset.name} has inputs of shape {list(dataset.input_shape)}, "
            f"model {binding.name} takes {list(shape)}"
        )
    if classes and classes != dataset.num_classes:
        raise DataError(
            f"dataset {dataset.name} has {dataset.num_classes} classes, "
            f"model {binding.name} has {classes} outputs"
        )
