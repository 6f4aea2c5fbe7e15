"""The pipeline stages as functions from artifacts to artifacts: init, score, mask, shuffle, reinit,
rewind. The CLI commands of the same names are thin layers over these.

Every stage carries the model binding and the init reference through, and appends one record to
the provenance chain naming the stage, its options, its seed and the content hash of its input.

>>> w = init_weights("lenet300", seed=0)                                    # doctest: +SKIP
>>> m = make_mask(score(w, "magnitude"), 0.9)                               # doctest: +SKIP
>>> m = reinit(shuffle(m, seed=1), seed=2)                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from maskkit._user_code import Trust
from maskkit._validate import check_seed
from maskkit.errors import MaskkitWarning, OptionError
from maskkit.format import InitRef, Mask, ModelBinding, Scores, StageRecord, Weights
from maskkit.models.binding import check_same_model, require_known_model

if TYPE_CHECKING:
    import torch

    from maskkit.data import Dataset


# -- init ----------------------------------------------------------------------------------------
def init_weights(
    model: str,
    *,
    seed: int = 0,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    model_args: Mapping[str, Any] | None = None,
    dataset: Dataset | None = None,
) -> Weights:
    """The initialised weights of a registry (or ``package.module:callable``) model.

    ``dataset`` fixes the class count and input shape not given (see
    :func:`maskkit.models.binding.dataset_for_model`) and is recorded, so that later stages default
    to it.

    >>> init_weights("lenet300", seed=0).numel                                # doctest: +SKIP
    266200
    """
    from maskkit.models import prunable_names
    from maskkit.models.binding import new_model

    seed = check_seed(seed)
    net, binding = new_model(
        model,
        seed=seed,
        num_classes=num_classes,
        input_shape=input_shape,
        overrides=model_args,
        dataset=dataset,
    )
    described: dict[str, Any] = {"model": model, "args": dict(binding.args)}
    if dataset is not None:
        described["dataset"] = dataset.name
    return Weights(
        net.state_dict(),
        prunable=prunable_names(net),
        model=binding,
        init=InitRef(seed=seed),
        provenance=[StageRecord.of("init", described, seed=seed)],
    )


# -- score ---------------------------------------------------------------------------------------
def weights_and_data(
    found: tuple[bytes, str] | None,
    *,
    model: str | None = None,
    seed: int = 0,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    model_args: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    data_seed: int | None = None,
    data_options: Mapping[str, Any] | None = None,
    needs_data: bool = False,
    trust_code: Trust = False,
) -> tuple[Weights, Dataset | None]:
    """The weights a stage such as ``score`` works on, and its dataset.

    ``found`` is the input file's ``(bytes, name)``: a weights artifact (checked against
    ``model`` when given) or a plain safetensors state_dict of ``model``; None means a fresh
    ``model`` initialised with ``seed``. The dataset is loaded when ``needs_data`` or when
    ``dataset`` is named: for a model built here it comes first and fixes the model's classes
    and input shape; for an artifact it defaults to the one the artifact was made with
    (:func:`maskkit.models.binding.dataset_for_artifact`).
    """
    from maskkit.format.plain import is_maskkit_artifact
    from maskkit.models.binding import dataset_for_artifact, dataset_for_model, weights_input

    if found is None and model is None:
        raise OptionError("no input and no model: give weights, or a model to initialise")
    built_here = found is None or not is_maskkit_artifact(found[0], name=found[1])
    data = None
    if built_here and (needs_data or dataset is not None):
        data = dataset_for_model(
            model or "",
            dataset,
            num_classes=num_classes,
            input_shape=input_shape,
            model_args=model_args,
            data_dir=data_dir,
            seed=data_seed,
            options=data_options,
        )
    shape = {"num_classes": num_classes, "input_shape": input_shape}
    if found is None:
        weights = init_weights(model, seed=seed, model_args=model_args, dataset=data, **shape)
        return weights, data
    weights = weights_input(*found, model=model, model_args=model_args, dataset=data, **shape)
    if needs_data and data is None:
        data = dataset_for_artifact(
            weights,
            dataset,
            data_dir=data_dir,
            seed=data_seed,
            options=data_options,
            trust_code=trust_code,
            source=found[1],
        )
    return weights, data


def score(
    weights: Weights | torch.nn.Module,
    method: str,
    *,
    options: Mapping[str, Any] | None = None,
    dataset: Dataset | None = None,
    samples_per_class: int = 10,
    sample_seed: int = 0,
    mask: Mask | None = None,
    seed: int = 0,
    trust_code: Trust = False,
    name: str = "the weights",
    progress: Callable[[int, int], Any] | None = None,
) -> Scores:
    """Scores (higher = keep) of every prunable weight by ``method``.

    ``weights`` is a weights artifact, or a model (bound as unknown: fine for the Python API,
    but ``train`` cannot rebuild it). SNIP and GraSP score on ``samples_per_class`` examples of
    every class of ``dataset``'s training split, chosen with ``sample_seed``. SynFlow needs
    ``options={"sparsity": S}`` (its iterative target); its input shape comes from the model.
    Weights pruned by ``mask`` score -inf, so no later stage can keep them. A weights artifact
    bound to a ``package.module:callable`` model is rebuilt only when ``trust_code`` trusts it
    (True, or a collection of names); ``name`` names the weights in messages.
    ``progress(done, total)`` hears of long methods' progress (SynFlow's rounds), and its
    ``close()``, if any, is called when scoring ends.

    >>> s = score(init_weights("lenet300"), "synflow", options={"sparsity": 0.9})  # doctest: +SKIP
    """
    from maskkit.pruners import compute_scores, get_method

    if isinstance(weights, Weights):
        model = _model_holding(weights, trust_code, name)
    else:
        model, weights = weights, _unbound_weights(weights)
    m = get_method(method)
    values = dict(options or {})
    if m.needs_input_shape and "input_shape" not in values:
        values["input_shape"] = _input_shape(m.name, weights.model)
    opts = m.make_options(values)
    described: dict[str, Any] = {"method": m.name, **opts.to_dict()}

    data = None
    if m.needs_data:
        if dataset is None:
            raise OptionError(f"{m.name} scores on data: give a dataset")
        from maskkit.data import class_balanced

        chosen = class_balanced(
            dataset.train, samples_per_class, seed=sample_seed, num_classes=dataset.num_classes
        )
        data = (chosen.x, chosen.y)
        described.update(
            # (recorded under its first name, "data_seed": the format does not change)
            dataset=dataset.name,
            samples_per_class=samples_per_class,
            data_seed=sample_seed,
        )

    masks = None
    if mask is not None:
        check_same_model(mask, weights, what="the mask", other="the weights")
        masks = mask.tensors()
        described["mask"] = mask.content_hash

    scores = compute_scores(
        model,
        m.name,
        weights.prunable,
        options=opts,
        data=data,
        mask=masks,
        seed=seed,
        progress=progress,
    )
    return Scores(
        scores,
        model=weights.model,
        init=weights.init,
        provenance=(
            *weights.provenance,
            StageRecord.of("score", described, seed=seed, input=weights),
        ),
    )


def _unbound_weights(model: torch.nn.Module) -> Weights:
    """``model``'s state as weights bound to an unknown model (it has no registry name)."""
    from maskkit.models import prunable_names
    from maskkit.models.binding import model_fingerprint

    binding = ModelBinding(fingerprint=model_fingerprint(model))
    return Weights(model.state_dict(), prunable=prunable_names(model), model=binding)


def _model_holding(weights: Weights, trust_code: Trust, name: str) -> torch.nn.Module:
    """The bound model with ``weights`` loaded (``name`` names them in messages)."""
    from maskkit.models.binding import build_bound_model, load_strict

    model = build_bound_model(weights.model, seed=0, source=name, trust_code=trust_code)
    load_strict(model, weights.tensor_views(), name=name)  # (load_state_dict copies)
    return model


def _input_shape(method: str, binding: ModelBinding) -> tuple[int, ...]:
    shape = binding.args.get("input_shape")
    if not shape:
        missing = f"{method} needs the model's input shape; model {binding.name} records none"
        raise OptionError(
            f"{missing} (give input_shape in the options)",
            cli_message=f"{missing} (give --input-shape)",
        )
    return tuple(int(s) for s in shape)


# -- mask ----------------------------------------------------------------------------------------
def make_mask(
    scores: Scores,
    sparsity: float | None = None,
    *,
    rule: str | None = None,
    like: Mask | None = None,
    densities: Mapping[str, float] | None = None,
    invert: bool = False,
    exclude: Sequence[str] = (),
    encoding: str = "bool",
) -> Mask:
    """The mask pruning ``round(sparsity * N)`` weights by ``scores`` (see ``spec/masking.md``).

    ``rule`` is ``global`` (default), ``layerwise`` or ``erk``; ``like`` (another mask of the
    same model, whose per-layer kept counts are copied) and ``densities`` (per-layer densities)
    replace both the rule and ``sparsity``.

    >>> make_mask(scores, 0.9, rule="erk").density                            # doctest: +SKIP
    0.1
    """
    from maskkit import masking

    if like is not None or densities is not None:
        if rule is not None or sparsity is not None or (like is not None and densities is not None):
            raise OptionError(
                "like= and densities= set the per-layer counts: give one, without rule or sparsity"
            )
        rule = "like" if like is not None else "densities"
    else:
        rule = rule or "global"
        if sparsity is None:
            raise OptionError(f"the {rule} rule needs a sparsity")
    described: dict[str, Any] = {"rule": rule}
    if sparsity is not None:
        described["sparsity"] = sparsity
    like_counts = None
    if like is not None:
        check_same_model(like, scores, what="the like= mask", other="the scores")
        like_counts = {name: c.kept for name, c in like.layers.items()}
        described["like"] = like.content_hash
    if densities is not None:
        described["densities"] = dict(sorted(densities.items()))
    if invert:
        described["invert"] = True
    if exclude:
        described["exclude"] = list(exclude)
    _warn_target_sparsity(scores, sparsity, rule)
    masks = masking.make_mask(
        scores.arrays,
        0.0 if sparsity is None else sparsity,  # (ignored by the like and densities rules)
        rule=rule,
        like=like_counts,
        densities=densities,
        invert=invert,
        exclude=exclude,
    )
    return Mask(
        masks,
        encoding=encoding,
        model=scores.model,
        init=scores.init,
        provenance=(*scores.provenance, StageRecord.of("mask", described, input=scores)),
    )


def _warn_target_sparsity(scores: Scores, sparsity: float | None, rule: str) -> None:
    # A method with a sparsity option (SynFlow) prunes iteratively towards it: its scores
    # encode that one mask, which only the global rule at the same sparsity reproduces.
    last = scores.provenance[-1] if scores.provenance else None
    if last is None or last.stage != "score" or last.options.get("sparsity") is None:
        return
    target = last.options.get("sparsity")
    method = last.options.get("method")
    if rule != "global" or target != sparsity:
        warnings.warn(
            f"these {method} scores were made for the global rule at sparsity {target}; masking "
            f"them with rule {rule} at {sparsity} does not give the iterative {method} mask",
            MaskkitWarning,
            stacklevel=2,
        )


# -- ablations -----------------------------------------------------------------------------------
def shuffle(mask: Mask, seed: int) -> Mask:
    """Each layer's mask randomly permuted: per-layer densities kept, positions redrawn."""
    from maskkit.ablations.shuffle import shuffle_masks

    shuffled = shuffle_masks(mask.arrays, seed)
    return mask.derive(StageRecord.of("shuffle", {}, seed=seed, input=mask), arrays=shuffled)


def reinit(mask: Mask, seed: int) -> Mask:
    """The same mask, whose training starts from a fresh draw of the initialiser with ``seed``."""
    require_known_model(mask, "reinit")
    seed = check_seed(seed)
    return mask.derive(StageRecord.of("reinit", {}, seed=seed, input=mask), init=InitRef(seed=seed))


def rewind(
    mask: Mask,
    to: str | os.PathLike[str],
    *,
    relative_to: str | os.PathLike[str] | None = None,
    trust_code: Trust = False,
) -> Mask:
    """The same mask, whose training starts from the weights file ``to`` (named by its SHA-256).

    ``to`` must be a regular file holding weights that fit the mask's model (for lottery-ticket
    rewinding, the weights saved at step k of the dense run). ``to`` is recorded relative to
    ``relative_to``, the folder the mask will be saved in (None: as given); a symbolic link is
    recorded as its target.
    """
    from maskkit.format.plain import sha256_hex
    from maskkit.init_lookup import read_regular_safetensors
    from maskkit.models.binding import build_bound_model, load_strict
    from maskkit.start_weights import state_from_bytes

    require_known_model(mask, "rewind")
    path = os.fspath(to)
    data = read_regular_safetensors(path, follow_symlinks=True)
    state = state_from_bytes(data, name=path, binding=mask.model)
    model = build_bound_model(mask.model, seed=0, source="the mask", trust_code=trust_code)
    load_strict(model, state, name=path)
    digest = sha256_hex(data)
    recorded = _recorded_path(path, relative_to)
    return mask.derive(
        StageRecord.of("rewind", {"to": recorded, "sha256": digest}, input=mask),
        init=InitRef(sha256=digest, path=recorded),
    )


def _recorded_path(path: str, relative_to: str | os.PathLike[str] | None) -> str:
    # Readers refuse a recorded symbolic link, so name the file it points to.
    target = os.path.realpath(path) if os.path.islink(path) else path
    if relative_to is None:  # as given: absolute stays absolute, relative to the current folder
        return target if target == path or os.path.isabs(path) else os.path.relpath(target)
    try:
        return os.path.relpath(os.path.abspath(target), os.path.abspath(relative_to))
    except ValueError:  # another drive (Windows): no relative path exists
        return os.path.abspath(target)
