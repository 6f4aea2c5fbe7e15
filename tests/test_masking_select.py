"""n_to_prune and prune_lowest against independent computations (Decimal counts, full sorts)."""

from __future__ import annotations

import decimal
import hashlib
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from maskkit.errors import OptionError
from maskkit.masking import make_mask, n_to_prune, prune_lowest
from maskkit.masking.select import kept_masks

REPO = Path(__file__).resolve().parents[1]


def decimal_count(sparsity: float, n: int) -> int:
    """floor(sparsity * n + 1/2) with the float's exact decimal expansion (no Fraction)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 2000
        value = decimal.Decimal(sparsity) * n + decimal.Decimal("0.5")
        return int(value.to_integral_value(rounding=decimal.ROUND_FLOOR))


def reference_pruned(scores: dict[str, torch.Tensor], n_prune: int) -> dict[str, list[bool]]:
    """Full stable sort over (already pruned first, score as a Python float, canonical index)."""
    items = []
    index = 0
    for name in sorted(scores):
        for value in scores[name].reshape(-1).tolist():
            items.append((value != -math.inf, value, index, name))
            index += 1
    flags = {name: [] for name in sorted(scores)}
    order = sorted(items, key=lambda item: item[:3])
    pruned_index = {item[2] for item in order[:n_prune]}
    for _, _, idx, name in items:
        flags[name].append(idx in pruned_index)
    return flags


def as_pruned_lists(masks: dict[str, torch.Tensor]) -> dict[str, list[bool]]:
    return {name: (~masks[name]).reshape(-1).tolist() for name in sorted(masks)}


# --- n_to_prune -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sparsity", "n", "expected"),
    [
        (0.0, 0, 0),
        (0.0, 1000, 0),
        (0.29, 100, 29),  # int(0.29 * 100) == 28
        (0.9, 10, 9),
        (0.57, 100, 57),  # 0.57 * 100 == 56.99999999999999 in floats
        (0.25, 2, 1),  # exactly one half rounds up
        (0.5, 3, 2),  # 1.5 -> 2
        (0.5, 1, 1),
        (0.1, 4, 0),  # 0.4 -> 0
        (0.999, 10, 10),  # 9.99 -> 10: everything
        (0.8, 620, 496),
        (0.9, 270_896, 243_806),  # 243806.4
    ],
)
def test_n_to_prune_hand_cases(sparsity, n, expected):
    assert n_to_prune(sparsity, n) == expected


def test_n_to_prune_matches_exact_decimal_count():
    rng = random.Random(1234)
    cases = [(k / 100, n) for k in range(100) for n in (1, 7, 10, 99, 100, 1000, 270_896)]
    cases += [(k / 1000, 10**6 + 7) for k in range(0, 1000, 7)]
    cases += [(rng.random(), rng.randrange(0, 10**8)) for _ in range(500)]
    # Values that sit exactly on a half: sparsity * n = m + 1/2 with a dyadic sparsity.
    cases += [((2 * m + 1) / 2**k, 2 ** (k - 1)) for k in range(1, 12) for m in range(3)]
    for sparsity, n in cases:
        if sparsity >= 1:
            continue
        assert n_to_prune(sparsity, n) == decimal_count(sparsity, n), (sparsity, n)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, math.nan, math.inf, -math.inf, True, "0.5", None])
def test_n_to_prune_rejects_bad_sparsity(bad):
    with pytest.raises(OptionError, match="sparsity"):
        n_to_prune(bad, 10)


@pytest.mark.parametrize("bad", [-1, 2.0, True, "3"])
def test_n_to_prune_rejects_bad_n(bad):
    with pytest.raises(OptionError):
        n_to_prune(0.5, bad)


# --- prune_lowest: hand-built cases ---------------------------------------------------------


def test_ties_go_in_sorted_name_then_c_order():
    scores = {
        "b": torch.tensor([[1.0, 1.0], [1.0, 0.0]]),
        "a": torch.tensor([1.0, 1.0, 1.0]),
    }
    masks = prune_lowest(scores, 3)
    # b[1, 1] = 0 is lowest; then the tied 1s: a comes before b, a[0] before a[1].
    assert masks["a"].tolist() == [False, False, True]
    assert masks["b"].tolist() == [[True, True], [True, False]]
    masks = prune_lowest(scores, 5)
    assert masks["a"].tolist() == [False, False, False]
    assert masks["b"].tolist() == [[False, True], [True, False]]


def test_sort_is_by_code_point_not_natural_order():
    scores = {"layer10.w": torch.zeros(2), "layer2.w": torch.zeros(2), "Z": torch.zeros(1)}
    masks = prune_lowest(scores, 2)
    # "Z" < "layer10.w" < "layer2.w" as Python strings.
    assert masks["Z"].tolist() == [False]
    assert masks["layer10.w"].tolist() == [False, True]
    assert masks["layer2.w"].tolist() == [True, True]


def test_negative_zero_ties_with_zero():
    masks = prune_lowest({"w": torch.tensor([0.0, -0.0, 0.0, -1.0])}, 2)
    assert masks["w"].tolist() == [False, True, True, False]


def test_non_contiguous_input_uses_logical_c_order():
    base = torch.tensor([[1.0, 5.0], [1.0, 5.0]])  # transposed: [[1, 1], [5, 5]]
    masks = prune_lowest({"w": base.t()}, 1)
    assert masks["w"].tolist() == [[False, True], [True, True]]
    assert masks["w"].flags.c_contiguous


def test_infinite_scores():
    scores = {"w": torch.tensor([math.inf, 3.0, -math.inf, math.inf, -5.0])}
    assert (~prune_lowest(scores, 1)["w"]).tolist() == [False, False, True, False, False]
    assert (~prune_lowest(scores, 3)["w"]).tolist() == [False, True, True, False, True]
    # +inf is an ordinary score: the first +inf goes before the second.
    assert (~prune_lowest(scores, 4)["w"]).tolist() == [True, True, True, False, True]


def test_exact_counts_for_many_sparsities():
    generator = torch.Generator().manual_seed(0)
    scores = {
        "conv.weight": torch.randint(0, 5, (8, 3, 3, 3), generator=generator).float(),
        "fc.weight": torch.randn(10, 17, generator=generator),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(0.5),
    }
    total = sum(t.numel() for t in scores.values())
    for k in range(0, 100):
        sparsity = k / 100
        n = n_to_prune(sparsity, total)
        masks = prune_lowest(scores, n)
        assert sum(int((~m).sum()) for m in masks.values()) == decimal_count(sparsity, total)


def test_output_is_bool_contiguous_separate_and_in_input_order():
    scores = {"z": torch.rand(3, 4), "a": torch.rand(5), "m": torch.rand(2, 2, 2)}
    masks = prune_lowest(scores, 7)
    assert list(masks) == ["z", "a", "m"]
    pointers = set()
    for name, mask in masks.items():
        assert mask.dtype == np.bool_
        assert mask.shape == scores[name].shape
        assert mask.flags.c_contiguous
        pointers.add(mask.__array_interface__["data"][0])
        assert not any(
            np.shares_memory(mask, other) for other in masks.values() if other is not mask
        )
    assert len(pointers) == 3


def test_float64_scores_are_ranked_at_full_precision():
    a = torch.tensor([1.0 + 2**-40, 1.0, 1.0 + 2**-45], dtype=torch.float64)
    assert (~prune_lowest({"a": a}, 2)["a"]).tolist() == [False, True, True]
    # mixed with float32 tensors, still exact
    masks = prune_lowest({"a": a, "b": torch.tensor([1.0, 2.0])}, 3)
    assert (~masks["a"]).tolist() == [False, True, True]
    assert (~masks["b"]).tolist() == [True, False]


# --- never un-prune -------------------------------------------------------------------------


def test_minus_inf_is_pruned_first_and_counted():
    scores = {"a": torch.tensor([-math.inf, -100.0]), "b": torch.tensor([5.0, -math.inf, 0.0])}
    masks = prune_lowest(scores, 3)
    assert masks["a"].tolist() == [False, False]
    assert masks["b"].tolist() == [True, False, True]
    masks = prune_lowest(scores, 2)
    assert masks["a"].tolist() == [False, True]
    assert masks["b"].tolist() == [True, False, True]


def test_unprune_is_an_error_with_both_numbers():
    scores = {"a": torch.tensor([-math.inf, -math.inf, 1.0, 2.0]), "b": torch.tensor([-math.inf])}
    with pytest.raises(OptionError, match=r"un-prune.*3 of 5.*0\.6.*only 2.*0\.4"):
        prune_lowest(scores, 2)
    with pytest.raises(OptionError, match="un-prune"):
        prune_lowest(scores, 0)


def test_count_out_of_range():
    scores = {"a": torch.zeros(3)}
    with pytest.raises(OptionError, match="only 3"):
        prune_lowest(scores, 4)
    for bad in (-1, 1.5, True):
        with pytest.raises(OptionError):
            prune_lowest(scores, bad)


def test_nan_is_rejected_with_the_tensor_name():
    scores = {"ok": torch.zeros(3), "bad.weight": torch.tensor([[0.0, 1.0], [math.nan, 2.0]])}
    with pytest.raises(OptionError, match=r"'bad\.weight'.*NaN.*index 2"):
        prune_lowest(scores, 1)


def test_non_float_scores_are_rejected():
    with pytest.raises(OptionError, match="dtype"):
        prune_lowest({"a": torch.zeros(3, dtype=torch.int64)}, 1)


# --- randomized comparison with the sort-based reference ------------------------------------


def random_scores(rng: random.Random, generator: torch.Generator) -> dict[str, torch.Tensor]:
    scores = {}
    for i in range(rng.randrange(1, 5)):
        shape = tuple(rng.randrange(0, 5) for _ in range(rng.randrange(0, 4)))
        dtype = rng.choice([torch.float32, torch.float32, torch.float64])
        values = torch.randint(-3, 4, shape, generator=generator).to(dtype) / 2
        special = torch.rand(shape, generator=generator)
        values[special < 0.15] = -math.inf
        if rng.random() < 0.3:
            values[special > 0.92] = math.inf
        if rng.random() < 0.3:
            values = values + torch.randn(shape, generator=generator, dtype=dtype) * 1e-3
        scores[f"{rng.choice('abcAB')}{i}.w"] = values
    return scores


def test_random_cases_match_the_full_sort_reference():
    rng = random.Random(7)
    generator = torch.Generator().manual_seed(7)
    checked = 0
    while checked < 300:
        scores = random_scores(rng, generator)
        total = sum(t.numel() for t in scores.values())
        n_inf = sum(int(torch.isneginf(t).sum()) for t in scores.values())
        for n_prune in {n_inf, total, rng.randint(n_inf, total), rng.randint(n_inf, total)}:
            got = as_pruned_lists(prune_lowest(scores, n_prune))
            assert got == reference_pruned(scores, n_prune), (scores, n_prune)
            checked += 1


def test_large_tensor_with_many_ties_matches_reference():
    generator = torch.Generator().manual_seed(3)
    scores = {
        "x": torch.randint(0, 20, (300, 70), generator=generator).float(),
        "y": torch.randint(0, 20, (50, 11, 3), generator=generator).float(),
    }
    scores["x"][torch.rand(300, 70, generator=generator) < 0.05] = -math.inf
    total = sum(t.numel() for t in scores.values())
    for fraction in (0.06, 0.33, 0.5, 0.9):
        n_prune = int(total * fraction)
        assert as_pruned_lists(prune_lowest(scores, n_prune)) == reference_pruned(scores, n_prune)


def test_same_masks_in_a_fresh_process():
    code = """
import hashlib, torch
from maskkit.masking import make_mask
g = torch.Generator().manual_seed(11)
scores = {f"l{i}": torch.randint(0, 50, (40, 30), generator=g).float() for i in range(6)}
masks = make_mask(scores, 0.73)
h = hashlib.sha256()
for name in sorted(masks):
    h.update(masks[name].tobytes())
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
    from maskkit.masking import make_mask

    g = torch.Generator().manual_seed(11)
    scores = {f"l{i}": torch.randint(0, 50, (40, 30), generator=g).float() for i in range(6)}
    masks = make_mask(scores, 0.73)
    digest = hashlib.sha256()
    for name in sorted(masks):
        digest.update(masks[name].tobytes())
    assert run.stdout.strip() == digest.hexdigest()
    assert reference_pruned(scores, n_to_prune(0.73, 7200)) == as_pruned_lists(masks)


# --- numpy inputs against an independent brute force ----------------------------------------


def brute_force_pruned(scores: dict[str, np.ndarray], n_prune: int, invert: bool = False):
    """A stable sort of the key over the canonical concatenation; the first n_prune are pruned.

    The key is float64 (exact for float16/32/64): -inf (already pruned) first of all, then the
    score, or with invert the negated score with +inf as the lowest surviving key.
    """
    names = sorted(scores)
    flat = np.concatenate([np.asarray(scores[name], dtype=np.float64).ravel() for name in names])
    alive = flat != -np.inf
    key = np.where(np.isposinf(flat), -np.inf, -flat) if invert else flat.copy()
    key[~alive] = -np.inf
    order = np.lexsort((key, alive))  # stable: equal keys stay in canonical order
    pruned = np.zeros(flat.size, dtype=bool)
    pruned[order[:n_prune]] = True
    out, start = {}, 0
    for name in names:
        size = np.asarray(scores[name]).size
        out[name] = pruned[start : start + size].reshape(np.shape(scores[name]))
        start += size
    return out


def random_numpy_scores(rng: np.random.Generator, big: bool = False) -> dict[str, np.ndarray]:
    scores = {}
    for i in range(int(rng.integers(1, 5))):
        if big:
            shape = (int(rng.integers(200, 700)), int(rng.integers(200, 700)))
        else:
            shape = tuple(int(s) for s in rng.integers(0, 6, size=int(rng.integers(0, 4))))
        dtype = rng.choice([np.float16, np.float32, np.float32, np.float64])
        values = rng.integers(-3, 4, size=shape).astype(np.float64) / 2  # many ties
        if dtype == np.float64 and rng.random() < 0.5:
            # Near-ties that a float32 key would merge: the key must be float64 here.
            values += rng.integers(-1, 2, size=shape) * 2.0**-40
        values = np.array(values, dtype=dtype)  # (0-d arithmetic gives numpy scalars)
        special = rng.random(shape)
        values[special < rng.choice([0.0, 0.1, 0.5])] = -np.inf
        if rng.random() < 0.4:
            values[special > 0.9] = np.inf
        if rng.random() < 0.3:
            values[(special > 0.8) & (special <= 0.9)] = -0.0
        if values.ndim == 2 and rng.random() < 0.3:
            values = values.T  # a non-contiguous view: C order of the logical shape counts
        scores[f"{rng.choice(list('abcAB'))}{i}.w"] = values
    return scores


def test_numpy_inputs_match_a_brute_force_stable_sort_with_many_ties():
    rng = np.random.default_rng(17)
    checked = 0
    while checked < 600:
        scores = random_numpy_scores(rng)
        canonical = {name: scores[name] for name in sorted(scores)}
        total = sum(a.size for a in scores.values())
        n_inf = sum(int(np.isneginf(a).sum()) for a in scores.values())
        for n_prune in {n_inf, total, int(rng.integers(n_inf, total + 1))}:
            results = [
                (False, prune_lowest(scores, n_prune)),
                (False, kept_masks(canonical, n_prune)),
                (True, kept_masks(canonical, n_prune, invert=True)),
            ]
            for invert, masks in results:
                expected = brute_force_pruned(scores, n_prune, invert=invert)
                for name, mask in masks.items():
                    assert type(mask) is np.ndarray and mask.dtype == np.bool_
                    assert mask.flags.c_contiguous and mask.shape == scores[name].shape
                    assert np.array_equal(~mask, expected[name]), (scores, n_prune, invert)
            checked += 1


@pytest.mark.parametrize("invert", [False, True])
def test_large_inputs_take_the_sampled_threshold_path_and_stay_exact(invert):
    # Over 2**20 weights: the k-th smallest key comes from a sample bracket, which must not
    # change the answer, whatever the order of the data (sorted data included).
    rng = np.random.default_rng(5)
    scores = {
        "a": rng.integers(0, 20, size=(900, 700)).astype(np.float32),
        "b": np.sort(rng.integers(-5, 5, size=500_000)).astype(np.float64),
        "c": rng.standard_normal((300, 400)).astype(np.float32),
    }
    scores["a"][rng.random((900, 700)) < 0.05] = -np.inf
    scores["c"][rng.random((300, 400)) < 0.02] = np.inf
    total = sum(a.size for a in scores.values())
    for sparsity in (0.04, 0.33, 0.5, 0.9, 0.999):
        n = n_to_prune(sparsity, total)
        masks = make_mask(scores, sparsity, invert=invert)
        expected = brute_force_pruned(scores, n, invert=invert)
        for name in scores:
            assert np.array_equal(~masks[name], expected[name]), (name, sparsity)


def test_kth_smallest_equals_a_full_partition_for_any_order():
    from maskkit.masking.select import kth_smallest

    rng = np.random.default_rng(8)
    n = 1_500_000
    data = {
        "random": rng.random(n, dtype=np.float32),
        "sorted": np.sort(rng.random(n)),
        "reversed": np.sort(rng.random(n))[::-1].copy(),
        "ties": rng.integers(0, 3, n).astype(np.float32),
        "half -inf": np.where(rng.random(n) < 0.5, -np.inf, rng.random(n)),
    }
    for label, values in data.items():
        for k in (1, 2, n // 10, n // 2, int(n * 0.9), n - 1, n):
            assert kth_smallest(values, k) == np.sort(values)[k - 1], (label, k)


def test_inputs_are_never_written_and_may_be_read_only():
    rng = np.random.default_rng(2)
    scores = {"a": rng.standard_normal((30, 20)), "b": rng.standard_normal(50).astype(np.float32)}
    scores["a"][0, :5] = -np.inf
    scores["b"][:3] = np.inf
    before = {name: a.copy() for name, a in scores.items()}
    for a in scores.values():
        a.setflags(write=False)
    for rule in ("global", "layerwise", "erk"):
        for invert in (False, True):
            make_mask(scores, 0.6, rule=rule, invert=invert, exclude=["b"] if invert else ())
    for name, a in scores.items():
        assert np.array_equal(a, before[name])


def test_torch_tensor_inputs_give_the_same_numpy_masks():
    generator = torch.Generator().manual_seed(4)
    scores = {
        "a": torch.randint(0, 4, (6, 7), generator=generator).float().requires_grad_(),
        "b": torch.randint(0, 4, (5, 3), generator=generator).to(torch.bfloat16),
        "c": torch.randint(0, 4, (4, 4), generator=generator).double().t(),
    }
    arrays = {
        "a": scores["a"].detach().numpy(),
        "b": scores["b"].float().numpy(),
        "c": scores["c"].numpy(),
    }
    for invert in (False, True):
        from_tensors = make_mask(scores, 0.55, invert=invert)
        from_arrays = make_mask(arrays, 0.55, invert=invert)
        for name in scores:
            assert isinstance(from_tensors[name], np.ndarray)
            assert np.array_equal(from_tensors[name], from_arrays[name])
            assert np.array_equal(
                ~from_arrays[name], brute_force_pruned(arrays, n_to_prune(0.55, 73), invert)[name]
            )


def test_non_array_scores_are_rejected():
    with pytest.raises(OptionError, match="list"):
        prune_lowest({"a": [1.0, 2.0]}, 1)
    with pytest.raises(OptionError, match="dtype"):
        make_mask({"a": np.arange(3)}, 0.5)


def test_masking_does_not_import_torch():
    code = """
import sys
import numpy as np
import maskkit.masking
from maskkit.masking import make_mask, prune_lowest
scores = {"b": np.array([[1.0, -np.inf], [np.inf, 0.0]]), "a": np.arange(6, dtype=np.float32)}
for rule in ("global", "layerwise", "erk"):
    make_mask(scores, 0.5, rule=rule)
    make_mask(scores, 0.5, rule=rule, invert=True, exclude=["a"])
make_mask(scores, 0.0, rule="like", like={"a": 2, "b": 1})
make_mask(scores, 0.0, rule="densities", densities={"a": 0.5, "b": 0.5})
masks = prune_lowest(scores, 4)
assert all(type(m) is np.ndarray for m in masks.values())
loaded = sorted(name for name in sys.modules if name == "torch" or name.startswith("torch."))
print(loaded)
"""
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert run.stdout.strip() == "[]", run.stdout
