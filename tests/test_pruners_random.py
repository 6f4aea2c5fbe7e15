"""random: seeded per (seed, parameter name), independent of every other layer."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from maskkit.errors import OptionError
from maskkit.pruners import compute_scores


def net() -> nn.Module:
    return nn.Sequential(nn.Linear(30, 40), nn.ReLU(), nn.Linear(40, 30))


NAMES = ["0.weight", "2.weight"]


def test_matches_the_documented_derivation():
    # spec/methods/random.md: generator seed = first 8 bytes of SHA-256("<seed>:<name>"),
    # big-endian, shifted right by one bit; then torch.rand / torch.randn of the shape.
    got = compute_scores(net(), "random", NAMES, seed=7)
    got_n = compute_scores(net(), "random", NAMES, seed=7, options={"distribution": "normal"})
    for name, shape in zip(NAMES, [(40, 30), (30, 40)], strict=True):
        digest = hashlib.sha256(f"7:{name}".encode()).digest()
        seed = int.from_bytes(digest[:8], "big") >> 1
        assert torch.equal(
            got[name], torch.rand(shape, generator=torch.Generator().manual_seed(seed))
        )
        assert torch.equal(
            got_n[name], torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        )


def test_deterministic_and_seed_dependent():
    a = compute_scores(net(), "random", NAMES, seed=1)
    b = compute_scores(net(), "random", NAMES, seed=1)
    c = compute_scores(net(), "random", NAMES, seed=2)
    for name in NAMES:
        assert torch.equal(a[name], b[name])
        assert not torch.equal(a[name], c[name])
    # Same-shaped layers draw different numbers (the name is part of the seed).
    sq = nn.Sequential(nn.Linear(5, 5), nn.Linear(5, 5))
    s = compute_scores(sq, "random", ["0.weight", "1.weight"])
    assert not torch.equal(s["0.weight"], s["1.weight"])


def test_a_layer_does_not_depend_on_the_other_layers():
    full = compute_scores(net(), "random", NAMES, seed=3)
    alone = compute_scores(net(), "random", ["2.weight"], seed=3)
    reordered = compute_scores(net(), "random", ["2.weight", "0.weight"], seed=3)
    other = nn.Sequential(nn.Linear(3, 40), nn.ReLU(), nn.Linear(40, 30))  # first layer differs
    changed = compute_scores(other, "random", NAMES, seed=3)
    for s in (alone, reordered, changed):
        assert torch.equal(s["2.weight"], full["2.weight"])
    assert list(reordered) == ["2.weight", "0.weight"]


def test_distributions_and_global_rng_untouched():
    big = nn.Linear(200, 200)
    state = torch.get_rng_state()
    u = compute_scores(big, "random", ["weight"])["weight"]
    n = compute_scores(big, "random", ["weight"], options={"distribution": "normal"})["weight"]
    assert torch.equal(torch.get_rng_state(), state)
    assert u.dtype == torch.float32 and float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.01
    assert abs(float(n.mean())) < 0.02 and abs(float(n.std()) - 1.0) < 0.02
    with pytest.raises(OptionError, match="uniform, normal"):
        compute_scores(big, "random", ["weight"], options={"distribution": "cauchy"})
