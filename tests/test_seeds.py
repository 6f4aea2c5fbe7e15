"""The three SHA-256 seed derivations, against the formulas written out with hashlib."""

from __future__ import annotations

import hashlib

import pytest

from maskkit._seeds import random_scores_seed, shuffle_seed, tuple_seed


def _head(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:8]


@pytest.mark.parametrize("seed", [0, 7, 2**70])
@pytest.mark.parametrize("name", ["fc.weight", "blocks.0.conv1.weight", "größe"])
def test_each_derivation_keeps_its_text_and_byte_order(seed: int, name: str) -> None:
    assert random_scores_seed(seed, name) == int.from_bytes(_head(f"{seed}:{name}"), "big") >> 1
    assert shuffle_seed(seed, name) == int.from_bytes(_head(f"{seed}\0{name}"), "little")
    parts = ("batches", seed, name)
    assert tuple_seed(*parts) == int.from_bytes(_head(repr(parts)), "big") >> 1
