"""Seeds derived from SHA-256, the same in every process and on every machine.

Three derivations exist, and each is pinned (by a spec page, or by recorded results that must
not move), so their text encodings and byte orders differ and must stay as they are. Each draw
depends only on its own inputs, never on which other layers exist or on the order of work. The
list is in ``docs/reference.md`` ("Seeds").

>>> random_scores_seed(0, "fc.weight") == random_scores_seed(0, "fc.weight") < 2**63
True
"""

from __future__ import annotations

import hashlib


def _first_8_bytes(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:8]


def random_scores_seed(seed: int, name: str) -> int:
    """The torch generator seed of tensor ``name``'s random scores (``spec/methods/random.md``,
    "Score"): the first 8 bytes of ``SHA-256("<seed>:<name>")``, big-endian, shifted right by
    one (63 bits). The seed is an integer, so the first colon ends it unambiguously."""
    return int.from_bytes(_first_8_bytes(f"{seed}:{name}"), "big") >> 1


def shuffle_seed(seed: int, name: str) -> int:
    """The numpy ``PCG64`` seed of tensor ``name``'s shuffle permutation (``docs/reference.md``,
    "Seeds"; the masks of recorded shuffles depend on it): the first 8 bytes of
    ``SHA-256("<seed>\\0<name>")``, little-endian (64 bits)."""
    return int.from_bytes(_first_8_bytes(f"{seed}\0{name}"), "little")


def tuple_seed(*parts: object) -> int:
    """The seed of everything else drawn from a tuple of values (data order, augmentation,
    class-balanced samples): the first 8 bytes of ``SHA-256(repr(parts))``, big-endian, shifted
    right by one (63 bits). ``parts`` are ints and strings, whose ``repr`` is stable."""
    return int.from_bytes(_first_8_bytes(repr(parts)), "big") >> 1
