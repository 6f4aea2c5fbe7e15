"""shuffle_masks: per-layer counts kept, positions moved, seeded and per-layer independent."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from maskkit.ablations.shuffle import layer_seed, shuffle_masks
from maskkit.errors import OptionError

REPO = Path(__file__).resolve().parents[1]


def random_masks(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "conv1.weight": torch.rand(16, 3, 3, 3, generator=generator) < 0.3,
        "layer1.weight": torch.rand(32, 16, 3, 3, generator=generator) < 0.1,
        "fc.weight": torch.rand(10, 64, generator=generator) < 0.5,
    }


def test_counts_shapes_and_order_are_preserved():
    masks = random_masks()
    shuffled = shuffle_masks(masks, seed=3)
    assert list(shuffled) == list(masks)
    for name, mask in masks.items():
        assert shuffled[name].dtype == torch.bool
        assert shuffled[name].shape == mask.shape
        assert shuffled[name].is_contiguous()
        assert int(shuffled[name].sum()) == int(mask.sum())


def test_positions_really_move():
    masks = random_masks()
    shuffled = shuffle_masks(masks, seed=3)
    for name, mask in masks.items():
        moved = int((shuffled[name] & ~mask).sum())  # kept now where it was pruned
        kept = int(mask.sum())
        density = kept / mask.numel()
        # a random permutation leaves about `density` of kept weights in kept places
        assert moved > 0.5 * kept * (1 - density), name
    assert all(m is not s for m, s in zip(masks.values(), shuffled.values(), strict=True))


def test_input_is_not_modified():
    masks = random_masks()
    before = {name: mask.clone() for name, mask in masks.items()}
    shuffle_masks(masks, seed=1)
    assert all(torch.equal(masks[name], before[name]) for name in masks)


def test_deterministic_and_seed_dependent():
    masks = random_masks()
    first = shuffle_masks(masks, seed=42)
    again = shuffle_masks(masks, seed=42)
    other = shuffle_masks(masks, seed=43)
    for name in masks:
        assert torch.equal(first[name], again[name])
        assert not torch.equal(first[name], other[name])


def test_each_layer_independent_of_the_others():
    masks = random_masks()
    together = shuffle_masks(masks, seed=7)
    for name, mask in masks.items():
        alone = shuffle_masks({name: mask}, seed=7)
        assert torch.equal(alone[name], together[name])
    # the same mask under another name gets another permutation
    renamed = shuffle_masks({"other.weight": masks["fc.weight"]}, seed=7)
    assert not torch.equal(renamed["other.weight"], together["fc.weight"])


def test_layer_seed_is_sha256_of_seed_and_name():
    digest = hashlib.sha256(b"5\x00fc.weight").digest()
    assert layer_seed(5, "fc.weight") == int.from_bytes(digest[:8], "little")
    assert layer_seed(5, "fc.weight") != layer_seed(55, ".weight")


def test_global_rng_untouched():
    state = torch.random.get_rng_state()
    shuffle_masks(random_masks(), seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_empty_and_scalar_masks():
    shuffled = shuffle_masks({"e": torch.zeros(0, 3, dtype=torch.bool), "s": torch.tensor(True)}, 0)
    assert shuffled["e"].shape == (0, 3)
    assert shuffled["s"].item() is True


def test_bad_inputs():
    with pytest.raises(OptionError, match=r"'w'.*bool.*float32"):
        shuffle_masks({"w": torch.zeros(3)}, seed=0)
    for bad in (1.5, "1", True, None):
        with pytest.raises(OptionError, match="seed"):
            shuffle_masks({"w": torch.zeros(3, dtype=torch.bool)}, seed=bad)


def test_same_result_in_a_fresh_process():
    code = """
import hashlib, torch
from maskkit.ablations.shuffle import shuffle_masks
g = torch.Generator().manual_seed(0)
masks = {f"l{i}": torch.rand(30, 20, generator=g) < 0.3 for i in range(4)}
out = shuffle_masks(masks, seed=99)
h = hashlib.sha256()
for name in sorted(out):
    h.update(out[name].numpy().tobytes())
print(h.hexdigest())
"""
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    g = torch.Generator().manual_seed(0)
    masks = {f"l{i}": torch.rand(30, 20, generator=g) < 0.3 for i in range(4)}
    out = shuffle_masks(masks, seed=99)
    digest = hashlib.sha256()
    for name in sorted(out):
        digest.update(out[name].numpy().tobytes())
    assert run.stdout.strip() == digest.hexdigest()
