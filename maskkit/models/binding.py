"""The link between an artifact and a model: binding a model, rebuilding it from a binding, and
the dataset that fits it.

Names read from a file (the binding's model, a recorded dataset) pass the trust gate of
:mod:`maskkit._user_code` before anything is imported; names the caller gives are the caller's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from maskkit._user_code import Trust, require_trusted
from maskkit.errors import DataError, ModelMismatchError, OptionError
from maskkit.format.metadata import ModelBinding, fingerprint

if TYPE_CHECKING:
    import torch

    from maskkit.data.types import Dataset
    from maskkit.format import Artifact, Mask, Weights


def model_fingerprint(model: torch.nn.Module) -> str:
    """Fingerprint of a model's parameter names and shapes (spec: "Model binding")."""
    return fingerprint((name, tuple(p.shape)) for name, p in model.named_parameters())


def bind(name: str, args: Mapping[str, Any], model: torch.nn.Module) -> ModelBinding:
    """The binding recorded in every artifact made for ``model`` (built as ``name(**args)``)."""
    return ModelBinding(name=name, args=dict(args), fingerprint=model_fingerprint(model))


def _require_known(binding: ModelBinding, source: str) -> str:
    if binding.name is None:
        unknown = f"{source}: the model is unknown (the mask was imported without one)"
        raise ModelMismatchError(
            f"{unknown}; rebind it with maskkit.import_mask(..., model=NAME)",
            cli_message=f"{unknown}; rebind it with 'maskkit convert --model NAME'",
        )
    return binding.name


def build_bound_model(
    binding: ModelBinding, *, seed: int, source: str, trust_code: Trust = False
) -> torch.nn.Module:
    """Rebuild the model an artifact is bound to, initialised with ``seed``.

    Refuses an artifact whose model is unknown, a ``package.module:callable`` model that
    ``trust_code`` does not trust (True, or a collection holding the name), and a rebuilt model
    whose parameter names or shapes differ from the recorded fingerprint (a different maskkit
    or user-model version).
    """
    from maskkit.models import build_model

    name = _require_known(binding, source)
    require_trusted(name, "user model", trust_code, source=source)
    try:
        model = build_model(name, binding.args, seed=seed)
    except OptionError as exc:  # the file's record, not the command line: bad data (exit 1)
        cli = f"{source}: {exc.cli_message}" if exc.cli_message else None
        raise ModelMismatchError(f"{source}: {exc}", cli_message=cli) from exc
    check_fingerprint(binding, model, name=source)
    return model


def check_fingerprint(binding: ModelBinding, model: torch.nn.Module, *, name: str) -> None:
    if binding.fingerprint is not None and model_fingerprint(model) != binding.fingerprint:
        raise ModelMismatchError(
            f"{name}: model {binding.name} built with {dict(binding.args)} does not match the "
            "fingerprint recorded in the file (its parameter names or shapes differ)"
        )


def new_model(
    name: str,
    *,
    seed: int,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    overrides: Mapping[str, Any] | None = None,
    dataset: Dataset | None = None,
) -> tuple[torch.nn.Module, ModelBinding]:
    """Build a registry (or ``package.module:callable``) model and the binding that records it.

    ``dataset`` fixes the class count and input shape that are not given explicitly (and must
    agree with those that are).
    """
    from maskkit.models import build_model, model_args

    rest = overrides or {}
    if dataset is not None:
        if num_classes is None and rest.get("num_classes") is None:
            num_classes = dataset.num_classes
        if input_shape is None and rest.get("input_shape") is None:
            input_shape = tuple(dataset.input_shape)
    args = model_args(name, num_classes=num_classes, input_shape=input_shape, overrides=rest)
    model = build_model(name, args, seed=seed)
    binding = bind(name, args, model)
    if dataset is not None:
        check_dataset(binding, dataset)
    return model, binding


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


def check_model_choice(
    binding: ModelBinding,
    model: str,
    *,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    overrides: Mapping[str, Any] | None = None,
    name: str,
) -> None:
    """ModelMismatchError unless the artifact is bound to ``model`` with the arguments given."""
    from maskkit.models import model_args

    if binding.name != model:
        raise ModelMismatchError(f"{name}: holds weights of model {binding.name}, not {model}")
    given = set(overrides or {})
    given |= {"num_classes"} if num_classes is not None else set()
    given |= {"input_shape"} if input_shape is not None else set()
    if not given:
        return
    asked = model_args(model, num_classes=num_classes, input_shape=input_shape, overrides=overrides)
    differ = sorted(k for k in given if asked.get(k) != binding.args.get(k))
    if differ:
        shown = ", ".join(f"{k}={binding.args.get(k)!r}" for k in differ)
        raise ModelMismatchError(
            f"{name}: its model {model} was built with {shown}, not as the options say"
        )


def weights_input(
    data: bytes,
    name: str,
    *,
    model: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    dataset: Dataset | None = None,
) -> Weights:
    """The weights in an input file: a maskkit weights artifact (checked against ``model`` when
    given), or a plain safetensors state_dict of ``model`` (built here, shaped by ``dataset``).
    """
    from maskkit.format import load
    from maskkit.format.plain import is_maskkit_artifact
    from maskkit.models import prunable_names

    if is_maskkit_artifact(data, name=name):
        weights = load(data, kind="weights", name=name)
        if model is not None:
            check_model_choice(
                weights.model,
                model,
                num_classes=num_classes,
                input_shape=input_shape,
                overrides=model_args,
                name=name,
            )
        return weights
    if model is None:
        plain = f"{name}: a plain safetensors file without maskkit metadata"
        raise OptionError(
            f"{plain}: give model= to say which model's state_dict it is",
            cli_message=f"{plain}: give --model to say which model's state_dict it is",
        )
    net, binding = new_model(
        model,
        seed=0,
        num_classes=num_classes,
        input_shape=input_shape,
        overrides=model_args,
        dataset=dataset,
    )
    return weights_from_plain(
        data, name=name, model=net, binding=binding, prunable=prunable_names(net)
    )


# -- the dataset that fits a model -------------------------------------------------------------
def dataset_for_model(
    model: str,
    dataset: str | None = None,
    *,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    model_args: Mapping[str, Any] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Dataset:
    """The dataset a model about to be built is for: ``dataset``, else the model's own.

    Data read from files fixes the model's classes and input shape (build the model with
    ``new_model(..., dataset=)`` afterwards); generated data (synthetic) takes them from the
    explicit values, else from the model's defaults, else its own defaults.
    """
    from maskkit.data import load_dataset
    from maskkit.models import default_dataset, shape_defaults

    name = dataset or default_dataset(model)
    if name is None:
        raise _no_default_dataset(model)
    if _generated(name):
        rest = {k: v for k, v in (model_args or {}).items() if v is not None}
        if num_classes is not None:
            rest["num_classes"] = num_classes
        if input_shape is not None:
            rest["input_shape"] = list(input_shape)
        classes, shape = shape_defaults(model, rest)
        num_classes = classes if num_classes is None else num_classes
        input_shape = tuple(shape) if input_shape is None and shape else input_shape
    return load_dataset(
        name,
        data_dir=data_dir,
        seed=0 if seed is None else seed,
        input_shape=input_shape,
        num_classes=num_classes,
        options=options,
    )


def _no_default_dataset(model: str) -> OptionError:
    return OptionError(
        f"model {model} has no default dataset: give a dataset",
        cli_message=f"model {model} has no default dataset: give --dataset",
    )


def recorded_dataset(artifact: Artifact) -> dict[str, Any] | None:
    """The dataset an artifact was made with: the one its weights were trained on, else the
    latest stage of its provenance that names one (``score`` with data, ``train``, ``init``).

    A dict with at least ``name`` (and the split sizes when training recorded them), or None.
    """
    trained = getattr(artifact, "training", None) or {}
    recorded = trained.get("dataset") if isinstance(trained, Mapping) else None
    if isinstance(recorded, Mapping) and isinstance(recorded.get("name"), str):
        return dict(recorded)
    for stage in reversed(artifact.provenance):
        name = stage.options.get("dataset")
        if isinstance(name, str):
            return {"name": name}
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _generated(name: str) -> bool:
    from maskkit.data.registry import canonical_name

    return ":" not in name and canonical_name(name) == "synthetic"


def _recorded_options(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The options that regenerate a generated dataset as it was (synthetic: its sizes)."""
    return {k: recorded[k] for k in ("train_size", "test_size") if _is_int(recorded.get(k))}


def dataset_for_artifact(
    artifact: Artifact,
    dataset: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    trust_code: Trust = False,
    source: str,
) -> Dataset:
    """The dataset for an artifact's bound model, checked to fit it.

    ``dataset`` (the caller's choice), else the one the artifact was made with
    (:func:`recorded_dataset`; a ``package.module:callable`` only when ``trust_code`` trusts
    it), else the model's own. A generated dataset that is the recorded one is drawn again as
    recorded: its seed unless ``seed`` is given, its sizes unless ``options`` are.
    """
    from maskkit.data import load_dataset
    from maskkit.models import default_dataset

    binding = artifact.model
    model = _require_known(binding, source)
    opts = dict(options or {})
    name = dataset
    recorded = recorded_dataset(artifact)
    if name is None and recorded is not None:
        name = recorded["name"]
        require_trusted(name, "user dataset", trust_code, source=source)
    if recorded is not None and name == recorded["name"] and _generated(name):
        opts = opts or _recorded_options(recorded)
        if seed is None and _is_int(recorded.get("seed")):
            seed = recorded["seed"]
    if name is None:
        name = default_dataset(model)
    if name is None:
        raise _no_default_dataset(model)
    shape = binding.args.get("input_shape")
    data = load_dataset(
        name,
        data_dir=data_dir,
        seed=0 if seed is None else seed,
        input_shape=tuple(shape) if shape else None,
        num_classes=binding.args.get("num_classes"),
        options=opts,
    )
    check_dataset(binding, data)
    return data


# -- do these tensors fit this model ---------------------------------------------------------
def _shown(problems: list[str], limit: int = 6) -> str:
    more = len(problems) - limit
    return "; ".join(problems[:limit]) + (f"; and {more} more" if more > 0 else "")


def misfits(
    given: Mapping[str, tuple[int, ...]],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    exact: bool = False,
) -> list[str]:
    """Every tensor of ``given`` that ``shapes`` (the model's) lacks or shapes differently, and
    with ``exact`` every model tensor ``given`` lacks: one phrase per problem."""
    problems = []
    for name, shape in given.items():
        if name not in shapes:
            problems.append(f"{name} (not in the model)")
        elif tuple(shape) != tuple(shapes[name]):
            problems.append(f"{name} {list(shape)} vs model {list(shapes[name])}")
    if exact:
        problems += [f"missing {name}" for name in shapes if name not in given]
    return problems


def check_fits(
    arrays: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    what: str,
    exact: bool = False,
) -> None:
    """ModelMismatchError listing every tensor of ``arrays`` the model lacks or shapes otherwise.

    ``exact`` also refuses model tensors that ``arrays`` does not provide.
    """
    given = {name: tuple(a.shape) for name, a in arrays.items()}
    problems = misfits(given, shapes, exact=exact)
    if problems:
        raise ModelMismatchError(f"the {what} does not fit the model: {_shown(problems)}")


def check_masks_fit(masks: Mapping[str, Any], model: torch.nn.Module, *, name: str) -> None:
    """ModelMismatchError unless every mask tensor is a parameter of ``model`` of its shape."""
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    check_fits(masks, shapes, what=f"mask {name}")


def apply_mask(mask: Mask, model: torch.nn.Module) -> torch.nn.Module:
    """Zero the pruned weights of ``model`` in place and return it.

    Refuses (ModelMismatchError, listing every mismatch) a model that lacks a masked parameter
    or has it with another shape.
    """
    import torch

    params = dict(model.named_parameters())
    check_fits(mask.arrays, {n: tuple(p.shape) for n, p in params.items()}, what="mask")
    with torch.no_grad():
        for name, keep in mask.tensor_views().items():
            param = params[name]
            param.mul_(keep.to(device=param.device, dtype=param.dtype))
    return model


def load_strict(model: torch.nn.Module, state: Mapping[str, Any], *, name: str) -> None:
    """Copy ``state`` into ``model``, naming every missing, extra or mis-shaped tensor."""
    own = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    problems = misfits({n: tuple(t.shape) for n, t in state.items()}, own, exact=True)
    if problems:
        raise ModelMismatchError(
            f"{name}: the weights do not fit the model: {_shown(sorted(problems))}"
        )
    model.load_state_dict(dict(state))


def check_same_fingerprint(a: ModelBinding, b: ModelBinding, *, what: str) -> None:
    """ModelMismatchError when both bindings record fingerprints and they differ (``what`` is
    the subject of the message: "the masks", "the mask and the weights")."""
    fa, fb = a.fingerprint, b.fingerprint
    if fa and fb and fa != fb:
        raise ModelMismatchError(
            f"{what} fit different models (model {a.name or 'unknown'}, fingerprint "
            f"{fa[:19]}…, vs model {b.name or 'unknown'}, fingerprint {fb[:19]}…)"
        )


def check_same_model(a: Artifact, b: Artifact, *, what: str, other: str) -> None:
    """ModelMismatchError unless two artifacts fit one model and cover the same tensors."""
    check_same_fingerprint(a.model, b.model, what=f"{what} and {other}")
    given = {n: tuple(x.shape) for n, x in a.arrays.items() if n in a.layer_names}
    shapes = {n: tuple(x.shape) for n, x in b.arrays.items() if n in b.layer_names}
    problems = misfits(given, shapes, exact=True)
    if problems:
        raise ModelMismatchError(
            f"{what} and {other} cover different tensors: {_shown(sorted(problems))}"
        )


def require_known_model(artifact: Artifact, stage: str) -> None:
    """ModelMismatchError when ``stage`` needs to rebuild the model of an artifact bound to none."""
    _require_known(artifact.model, stage)


def weights_from_plain(
    data: bytes, *, name: str, model: torch.nn.Module, binding: ModelBinding, prunable: list[str]
) -> Weights:
    """A plain safetensors state_dict for ``model`` as a weights artifact whose provenance starts here.

    Its init reference is the file itself (path and SHA-256), so later stages can find it again.
    """
    from maskkit.format import InitRef, Weights
    from maskkit.format.plain import plain_state_dict, sha256_hex

    state = plain_state_dict(data, name=name)
    load_strict(model, state, name=name)
    return Weights(
        model.state_dict(),
        prunable=prunable,
        model=binding,
        init=InitRef(sha256=sha256_hex(data), path=name),
    )
