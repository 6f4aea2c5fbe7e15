"""shuffle_masks: per-layer counts kept, positions moved, seeded and per-layer independent."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from maskkit.ablations.shuffle import layer_seed, shuffle_masks
from maskkit.errors import OptionError

REPO = Path(__file__).resolve().parents[1]


def random_masks(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "conv1.weight": rng.random((16, 3, 3, 3)) < 0.3,
        "layer1.weight": rng.random((32, 16, 3, 3)) < 0.1,
        "fc.weight": rng.random((10, 64)) < 0.5,
    }


def test_counts_shapes_and_order_are_preserved():
    masks = random_masks()
    shuffled = shuffle_masks(masks, seed=3)
    assert list(shuffled) == list(masks)
    for name, mask in masks.items():
        assert shuffled[name].dtype == np.bool_
        assert shuffled[name].shape == mask.shape
        assert shuffled[name].flags.c_contiguous
        assert int(shuffled[name].sum()) == int(mask.sum())


def test_positions_really_move():
    masks = random_masks()
    shuffled = shuffle_masks(masks, seed=3)
    for name, mask in masks.items():
        moved = int((shuffled[name] & ~mask).sum())  # kept now where it was pruned
        kept = int(mask.sum())
        density = kept / mask.size
        # a random permutation leaves about `density` of kept weights in kept places
        assert moved > 0.5 * kept * (1 - density), name
        assert not np.shares_memory(mask, shuffled[name])


def test_torch_tensors_are_accepted_and_give_the_same_result():
    masks = random_masks()
    from_torch = shuffle_masks({n: torch.from_numpy(m) for n, m in masks.items()}, seed=3)
    from_numpy = shuffle_masks(masks, seed=3)
    assert all(np.array_equal(from_torch[n], from_numpy[n]) for n in masks)


def test_the_permutation_is_the_documented_one():
    # Independent recomputation from the module docstring's definition.
    mask = random_masks()["fc.weight"]
    s = int.from_bytes(hashlib.sha256(b"11\x00fc.weight").digest()[:8], "little")
    order = np.random.Generator(np.random.PCG64(s)).permutation(mask.size)
    expected = mask.reshape(-1)[order].reshape(mask.shape)
    assert np.array_equal(shuffle_masks({"fc.weight": mask}, seed=11)["fc.weight"], expected)


def test_input_is_not_modified():
    masks = random_masks()
    before = {name: mask.copy() for name, mask in masks.items()}
    shuffle_masks(masks, seed=1)
    assert all(np.array_equal(masks[name], before[name]) for name in masks)


def test_deterministic_and_seed_dependent():
    masks = random_masks()
    first = shuffle_masks(masks, seed=42)
    again = shuffle_masks(masks, seed=42)
    other = shuffle_masks(masks, seed=43)
    for name in masks:
        assert np.array_equal(first[name], again[name])
        assert not np.array_equal(first[name], other[name])


def test_each_layer_independent_of_the_others():
    masks = random_masks()
    together = shuffle_masks(masks, seed=7)
    for name, mask in masks.items():
        alone = shuffle_masks({name: mask}, seed=7)
        assert np.array_equal(alone[name], together[name])
    # the same mask under another name gets another permutation
    renamed = shuffle_masks({"other.weight": masks["fc.weight"]}, seed=7)
    assert not np.array_equal(renamed["other.weight"], together["fc.weight"])


def test_layer_seed_is_sha256_of_seed_and_name():
    digest = hashlib.sha256(b"5\x00fc.weight").digest()
    assert layer_seed(5, "fc.weight") == int.from_bytes(digest[:8], "little")
    assert layer_seed(5, "fc.weight") != layer_seed(55, ".weight")


def test_global_rngs_untouched():
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    shuffle_masks(random_masks(), seed=0)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_empty_and_scalar_masks():
    shuffled = shuffle_masks({"e": np.zeros((0, 3), bool), "s": np.array(True)}, 0)
    assert shuffled["e"].shape == (0, 3)
    assert shuffled["s"].shape == () and bool(shuffled["s"]) is True


def test_bad_inputs():
    with pytest.raises(OptionError, match=r"'w'.*bool.*float"):
        shuffle_masks({"w": np.zeros(3)}, seed=0)
    for bad in (1.5, "1", True, None):
        with pytest.raises(OptionError, match="seed"):
            shuffle_masks({"w": np.zeros(3, bool)}, seed=bad)


def test_same_result_in_a_fresh_process():
    code = """
import hashlib, numpy as np
from maskkit.ablations.shuffle import shuffle_masks
rng = np.random.default_rng(0)
masks = {f"l{i}": rng.random((30, 20)) < 0.3 for i in range(4)}
out = shuffle_masks(masks, seed=99)
h = hashlib.sha256()
for name in sorted(out):
    h.update(out[name].tobytes())
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
    rng = np.random.default_rng(0)
    masks = {f"l{i}": rng.random((30, 20)) < 0.3 for i in range(4)}
    out = shuffle_masks(masks, seed=99)
    digest = hashlib.sha256()
    for name in sorted(out):
        digest.update(out[name].tobytes())
    assert run.stdout.strip() == digest.hexdigest()
