"""``import_mask``: a foreign mask file (or a maskkit mask) in, a maskkit v1 :class:`Mask` out."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from maskkit.collapse import warn_if_collapsed
from maskkit.errors import ModelMismatchError, OptionError
from maskkit.format import Mask, load
from maskkit.format.files import Source
from maskkit.format.metadata import ENCODINGS, ModelBinding, StageRecord
from maskkit.interop.reading import AUTO, as_bytes, open_layout, read_payload
from maskkit.interop.registry import MASKKIT, MISSING

if TYPE_CHECKING:
    import torch


def import_mask(
    source: Source,
    *,
    layout: str = AUTO,
    name: str | None = None,
    model: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    missing: str = "error",
    encoding: str | None = None,
) -> Mask:
    """Read a mask file of any supported layout as a maskkit mask.

    Without ``model`` the mask is bound to no model (``name`` null, init unknown) and holds the
    tensors the file has. With ``model`` (a registry name or ``package.module:callable``, built
    with ``model_args``, ``num_classes`` and ``input_shape`` as ``maskkit.models.binding.new_model``
    takes them) every tensor must be a parameter of that model with its shape, none may be a
    parameter maskkit does not prune (a bias), and the model's prunable parameters that the file
    lacks are, by ``missing``: ``error`` (refused, listed), ``keep`` (added, all ones: unpruned)
    or ``omit`` (left out, as ``--exclude`` leaves them out). The init stays unknown: the
    foreign tool's initial weights are not the maskkit model's.

    A maskkit mask as input keeps its provenance; rebinding it to a different model (name or
    arguments) makes its init unknown. The new provenance record is ``convert`` with options
    ``{"from": layout, "input_sha256": SHA-256 of the input file's bytes}`` (plus ``missing``
    when a model is given); its ``input`` is the input mask's content hash, or ``sha256:`` + the
    SHA-256 of a foreign file's bytes (spec/format-v1.md §6.3).

    >>> mask = import_mask("fixtures/interop/openlth/mask.pth", model="lenet300",  # doctest: +SKIP
    ...                    model_args={"hidden": [6, 4]}, input_shape=(1, 2, 2), missing="keep")
    """
    if missing not in MISSING:
        raise OptionError(f"missing={missing!r}: expected one of {', '.join(MISSING)}")
    if model is None and (model_args or num_classes is not None or input_shape is not None):
        raise OptionError("model arguments, num_classes and input_shape need a model")
    if encoding not in (None, *ENCODINGS):
        raise OptionError(f"encoding={encoding!r}: expected one of {', '.join(ENCODINGS)}")
    if model is None and missing != "error":
        raise OptionError(
            f"missing={missing!r} needs a model (it fills or omits the model's layers)"
        )

    data, name = as_bytes(source, name)
    found, payload = open_layout(data, layout, source=name)
    file_sha256 = hashlib.sha256(data).hexdigest()
    if found == MASKKIT:
        base = load(payload, kind="mask", name=name)
        arrays, binding, init = dict(base.arrays), base.model, base.init
        provenance, digest = base.provenance, base.content_hash
        encoding = encoding or base.encoding
    else:
        arrays, binding, init = read_payload(found, payload, source=name), ModelBinding(), None
        provenance, digest = (), "sha256:" + file_sha256

    options: dict[str, Any] = {"from": found, "input_sha256": file_sha256}
    if model is not None:
        net, new_binding = _new_model(model, model_args, num_classes, input_shape)
        arrays = fit_to_model(arrays, net, missing=missing, source=name, model_name=model)
        if (new_binding.name, dict(new_binding.args)) != (binding.name, dict(binding.args)):
            init = None
        binding = new_binding
        options["missing"] = missing
    record = StageRecord.of("convert", options, input=digest)
    mask = Mask(
        arrays,
        encoding=encoding or "bool",
        model=binding,
        init=init,
        provenance=(*provenance, record),
    )
    warn_if_collapsed(mask.layers, what="the imported mask", source=name)
    return mask


def _new_model(
    name: str,
    args: Mapping[str, Any] | None,
    num_classes: int | None,
    input_shape: Sequence[int] | None,
) -> tuple[torch.nn.Module, ModelBinding]:
    from maskkit.models.binding import new_model

    return new_model(
        name,
        seed=0,
        num_classes=num_classes,
        input_shape=None if input_shape is None else tuple(input_shape),
        overrides=args,
    )


def fit_to_model(
    arrays: Mapping[str, np.ndarray],
    model: torch.nn.Module,
    *,
    missing: str = "error",
    source: str = "<mask>",
    model_name: str | None = None,
) -> dict[str, np.ndarray]:
    """``arrays`` checked against ``model``'s prunable parameters, completed per ``missing``.

    One ModelMismatchError lists every problem: a tensor the model lacks, one shaped
    differently, one for a parameter maskkit does not prune (a bias), and (``missing="error"``)
    every prunable parameter without a mask. ``missing="keep"`` adds those as all ones,
    ``"omit"`` leaves them out.

    >>> fit_to_model({"fc.weight": np.ones((3, 4), bool)}, net, missing="keep")  # doctest: +SKIP
    """
    from maskkit.models import prunable_names

    if missing not in MISSING:
        raise OptionError(f"missing={missing!r}: expected one of {', '.join(MISSING)}")
    params = {n: tuple(p.shape) for n, p in model.named_parameters()}
    prunable = prunable_names(model)
    problems = []
    for name in sorted(arrays):
        shape = tuple(arrays[name].shape)
        if name not in params:
            problems.append(f"{name} (no such parameter)")
        elif shape != params[name]:
            problems.append(f"{name} {list(shape)} vs model {list(params[name])}")
        elif name not in prunable:
            problems.append(f"{name} (not prunable: only conv/linear weights are)")
    absent = [n for n in prunable if n not in arrays]
    if missing == "error":
        problems += [f"{n} (no mask in the file)" for n in absent]
    if problems:
        hint = ""
        if missing == "error" and absent:
            hint = (
                "; missing='keep' (--missing keep) keeps layers without a mask unpruned, "
                "'omit' leaves them out"
            )
        label = f"model {model_name}" if model_name else "the model"
        raise ModelMismatchError(
            f"{source}: the mask does not fit {label}: {_listing(problems)}{hint}"
        )
    out = dict(arrays)
    if missing == "keep":
        out.update({n: np.ones(params[n], dtype=np.bool_) for n in absent})
    return {n: out[n] for n in sorted(out)}


def _listing(items: Sequence[str], shown: int = 8) -> str:
    text = "; ".join(items[:shown])
    return text + (f"; and {len(items) - shown} more" if len(items) > shown else "")
