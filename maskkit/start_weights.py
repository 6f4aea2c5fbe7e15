"""Where a run's starting weights come from: a seed, a weights file named by hash, or a plain file.

An artifact's init reference says how to rebuild the weights training starts from. A seed means
the model's own initialiser; a weights file is named by its SHA-256, so a mask shared between
labs cannot silently start from different weights than the ones it was made with.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from maskkit.errors import FormatError, KindError
from maskkit.format import InitRef, Mask, ModelBinding, Weights, load, read_file
from maskkit.format.plain import is_maskkit_artifact, plain_state_dict
from maskkit.format.plain import sha256_hex as sha256_hex  # (callers import it from here)
from maskkit.models.binding import (
    build_bound_model,
    check_masks_fit,
    check_same_fingerprint,
    load_strict,
)

if TYPE_CHECKING:
    import torch


def read_weights(path: str | os.PathLike[str], *, binding: ModelBinding) -> dict[str, torch.Tensor]:
    """The state_dict in a maskkit weights artifact or a plain safetensors file at ``path``."""
    name = os.fspath(path)
    data = read_file(path, name=name)
    return state_from_bytes(data, name=name, binding=binding)


def state_from_bytes(data: bytes, *, name: str, binding: ModelBinding) -> dict[str, torch.Tensor]:
    """The state_dict in the bytes of a weights artifact (fitting ``binding``) or plain file."""
    if not is_maskkit_artifact(data, name=name):
        return plain_state_dict(data, name=name)
    weights = load(data, kind="weights", name=name)
    check_same_fingerprint(weights.model, binding, what=f"{name}: the weights and the mask")
    return weights.tensor_views()  # (only ever loaded into a model, which copies)


def resolve_init_weights(
    init: InitRef,
    *,
    binding: ModelBinding,
    source: str,
    weights_dirs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, torch.Tensor]:
    """The state_dict an init reference of type weights names, checked against its SHA-256.

    ``source`` is the path of the artifact holding ``init`` (its folder is where a relative
    path resolves), or a name such as ``<stdin>``; the lookup order is
    :mod:`maskkit.init_lookup`'s.
    """
    from maskkit.init_lookup import find_init_weights

    found = find_init_weights(
        init.sha256 or "", init.path, source=source, weights_dirs=weights_dirs
    )
    return state_from_bytes(found.data, name=found.path, binding=binding)


def initial_model(
    artifact: Mask | Weights,
    *,
    weights: str | os.PathLike[str] | None = None,
    source: str,
    weights_dirs: Sequence[str | os.PathLike[str]] = (),
    trust_code: bool | Collection[str] = False,
) -> tuple[torch.nn.Module, dict[str, torch.Tensor] | None]:
    """The bound model with the weights training starts from, and the masks to train under.

    For a mask: the model built from its binding and initialised as its init reference says (the
    initialiser with a seed, or a weights file checked against its SHA-256); ``weights`` (a
    maskkit weights artifact or a plain safetensors state_dict) overrides the init reference.
    For a weights artifact: the model holding those weights, and no masks (dense training).
    ``source`` is the artifact's path (a relative init path resolves against its folder) or a
    name such as ``<stdin>``; ``weights_dirs`` are further folders to look for the init file in.
    A ``package.module:callable`` model is built only when ``trust_code`` trusts it.

    >>> model, masks = initial_model(load("m.safetensors"), source="m.safetensors")  # doctest: +SKIP
    """

    if isinstance(artifact, Weights):
        model = build_bound_model(artifact.model, seed=0, source=source, trust_code=trust_code)
        load_strict(model, artifact.tensor_views(), name=source)
        return model, None
    if not isinstance(artifact, Mask):
        raise KindError(f"{source}: is a {artifact.kind} artifact, expected mask or weights")
    init = artifact.init
    seed = init.seed if init is not None and init.seed is not None else 0
    model = build_bound_model(artifact.model, seed=seed, source=source, trust_code=trust_code)
    if weights is not None:
        load_strict(model, read_weights(weights, binding=artifact.model), name=os.fspath(weights))
    elif init is None:
        missing = f"{source}: the mask records no initial weights"
        raise FormatError(
            f"{missing}; pass them with weights=, or give it a seed with maskkit.reinit()",
            cli_message=f"{missing}; pass them with --weights, or give it a seed with "
            "'maskkit reinit'",
        )
    elif init.sha256 is not None:
        state = resolve_init_weights(
            init, binding=artifact.model, source=source, weights_dirs=weights_dirs
        )
        load_strict(model, state, name=init.path or source)
    masks = artifact.tensors()
    check_masks_fit(masks, model, name=source)
    return model, masks
