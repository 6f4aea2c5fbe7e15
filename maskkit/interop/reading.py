"""Reading masks from foreign files: detect the layout by content, then run its reader."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from maskkit.errors import FormatError
from maskkit.format import container
from maskkit.format.files import Source, read_file
from maskkit.format.metadata import METADATA_KEY
from maskkit.interop import npz, plain_safetensors
from maskkit.interop._common import describe
from maskkit.interop._torchfile import NotTorchFile, load_torch
from maskkit.interop.openlth import MASK_FILE
from maskkit.interop.registry import MASKKIT, get_layout, known_layouts

AUTO = "auto"


def resolve_path(path: str | os.PathLike[str]) -> str:
    """``path``, or ``path/mask.pth`` when ``path`` is a folder holding one (an OpenLTH level)."""
    candidate = os.path.join(path, MASK_FILE)
    return candidate if os.path.isdir(path) and os.path.isfile(candidate) else os.fspath(path)


def as_bytes(source: Source, name: str | None = None) -> tuple[bytes | bytearray | memoryview, str]:
    """The bytes of ``source`` (a path, or bytes already read) and its name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source, name or "<bytes>"
    path = resolve_path(source)
    return read_file(path, name=name or path), name or path


def open_layout(
    data: bytes | bytearray | memoryview, layout: str, *, source: str
) -> tuple[str, Any]:
    """The layout name (detected when ``layout`` is ``auto``) and what its reader is fed."""
    if len(data) == 0:
        raise FormatError(f"{source}: empty file")
    if layout == MASKKIT:
        return MASKKIT, data
    if layout != AUTO:
        spec = get_layout(layout)
        return layout, (load_torch(data, source=source) if spec.container == "torch" else data)
    if plain_safetensors.sniff(data):
        header = container.read_header(data, name=source)
        return (MASKKIT if METADATA_KEY in (header.metadata or {}) else "safetensors"), data
    if npz.sniff(data):
        return "npz", data
    try:
        obj = load_torch(data, source=source)
    except NotTorchFile as exc:
        raise FormatError(
            f"{source}: not a mask file maskkit reads: neither safetensors, .npz nor a torch "
            f"file ({exc.reason})"
        ) from None
    found = [
        n
        for n in known_layouts()
        if get_layout(n).container == "torch" and get_layout(n).load().sniff(obj)
    ]
    listing = f"known layouts: {', '.join(known_layouts())}, {MASKKIT}"
    if not found:
        raise FormatError(
            f"{source}: not a mask in a known layout (the torch file holds {describe(obj)}); {listing}"
        )
    if len(found) > 1:
        ambiguous = f"{source}: ambiguous content, it reads as {' and as '.join(found)}"
        raise FormatError(
            f"{ambiguous}; choose one with layout= ({listing})",
            cli_message=f"{ambiguous}; choose one with --from ({listing})",
        )
    return found[0], obj


def read_payload(layout: str, payload: Any, *, source: str) -> dict[str, np.ndarray]:
    """Run ``layout``'s reader on what :func:`open_layout` returned."""
    if layout == MASKKIT:
        from maskkit.format import load

        return dict(load(payload, kind="mask", name=source).arrays)
    return get_layout(layout).load().read(payload, source=source)


def detect_layout(source: Source, *, name: str | None = None) -> str:
    """The layout of a file, by content (FormatError when unknown or ambiguous).

    >>> detect_layout("fixtures/interop/torch_prune_state_dict.pt")  # doctest: +SKIP
    'torch-prune'
    """
    data, name = as_bytes(source, name)
    return open_layout(data, AUTO, source=name)[0]


def read_masks(
    source: Source, *, layout: str = AUTO, name: str | None = None
) -> tuple[str, dict[str, np.ndarray]]:
    """The layout and the masks of a foreign file: bool arrays keyed by parameter name.

    Wrapper prefixes (``module.``, ``_orig_mod.``) are stripped; values other than 0/1 are a
    FormatError naming the tensor.

    >>> layout, masks = read_masks("fixtures/interop/masks.npz")  # doctest: +SKIP
    >>> layout, sorted(masks)[:1]  # doctest: +SKIP
    ('npz', ['fc.weight'])
    """
    data, name = as_bytes(source, name)
    found, payload = open_layout(data, layout, source=name)
    return found, read_payload(found, payload, source=name)
