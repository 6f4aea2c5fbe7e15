"""Safetensors files without maskkit metadata: a plain state_dict someone saved.

Stages accept one where a model says what it is (``score --model``, ``train --weights``); the
strict container checks of :func:`maskkit.format.read_header` run first, with maskkit's messages.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from maskkit.errors import FormatError
from maskkit.format.files import read_header
from maskkit.format.metadata import METADATA_KEY

if TYPE_CHECKING:
    import torch


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_maskkit_artifact(data: bytes, *, name: str) -> bool:
    """True when the safetensors header carries maskkit metadata (a plain state_dict does not)."""
    metadata = read_header(data, name=name).metadata
    return bool(metadata) and METADATA_KEY in metadata


def plain_state_dict(data: bytes, *, name: str) -> dict[str, torch.Tensor]:
    """A safetensors file without maskkit metadata, as a name -> tensor dict."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    read_header(data, name=name)  # the strict checks, with maskkit's error messages
    try:
        return load_safetensors(bytes(data))
    except SafetensorError as exc:
        raise FormatError(f"{name}: not a readable safetensors file ({exc})") from None
