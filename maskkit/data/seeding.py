"""Seeded generators derived from a tuple of values, identical in every process."""

from __future__ import annotations

import torch

from maskkit._seeds import tuple_seed


def derive_seed(*parts: object) -> int:
    """A 63-bit seed that depends only on ``parts`` (their ``repr``), never on the process.

    Example:
        >>> derive_seed("batches", 0, 3) == derive_seed("batches", 0, 3)
        True
    """
    return tuple_seed(*parts)


def generator(*parts: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``parts``; torch's global RNG is left untouched."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(derive_seed(*parts))
    return gen
