"""Pick exactly k weights to prune from scores: the counting rule and the global selection.

Conventions shared by everything in :mod:`maskkit.masking`:

- Scores are ``{parameter name: floating tensor}``; a HIGHER score means KEEP.
- ``-inf`` marks a weight an earlier stage already pruned. It is always pruned, counts toward
  the pruned total, and no rule ever un-prunes it. ``+inf`` is an ordinary (very high) score.
  NaN is rejected.
- Canonical order: tensors in sorted name order (Python ``str`` sort, i.e. by code point), the
  elements of each tensor in C (row-major) order. Among equal scores the weight that comes FIRST
  in canonical order is pruned first. ``-0.0`` and ``0.0`` are equal scores.

The selection never sorts: one ``torch.kthvalue`` finds the threshold score ``t`` (the
``k``-th lowest), every weight below ``t`` is pruned, and the remaining count is taken from the
weights tied at ``t`` in canonical order. The result is exact and the same in every process.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Mapping
from fractions import Fraction

import torch
from torch import Tensor

from maskkit.errors import OptionError

_HALF = Fraction(1, 2)


def round_half_up(x: Fraction) -> int:
    """``floor(x + 1/2)``, computed exactly: the nearest integer, halves rounded up."""
    return math.floor(x + _HALF)


def check_sparsity(sparsity: float) -> Fraction:
    """The exact value of ``sparsity`` as a Fraction; OptionError unless it is in [0, 1)."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise OptionError(f"sparsity must be a number in [0, 1); got {sparsity!r}")
    value = float(sparsity)
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise OptionError(
            f"sparsity must be in [0, 1) (0 keeps every weight, 0.9 prunes 90%); got {sparsity!r}"
        )
    return Fraction(value)


def n_to_prune(sparsity: float, n: int) -> int:
    """How many of ``n`` weights a ``sparsity`` prunes: ``floor(sparsity * n + 1/2)``.

    The product is computed exactly from the float's binary value (``fractions.Fraction``), then
    rounded to the nearest integer with halves rounded UP; no float arithmetic is involved. So
    ``n_to_prune(0.29, 100) == 29`` (where ``int(0.29 * 100)`` gives 28), ``n_to_prune(0.9, 10)
    == 9`` and ``n_to_prune(0.25, 2) == 1`` (exactly one half, rounded up). ``sparsity`` must be
    in [0, 1) and ``n`` a non-negative integer (OptionError otherwise).

    >>> n_to_prune(0.9, 10), n_to_prune(0.5, 3), n_to_prune(0.0, 7)
    (9, 2, 0)
    """
    exact = check_sparsity(sparsity)
    count = _check_count(n, "n")
    return round_half_up(exact * count)


def prune_lowest(scores: Mapping[str, Tensor], n_prune: int) -> dict[str, Tensor]:
    """Masks (True = keep) pruning exactly ``n_prune`` weights over all tensors together.

    The lowest scores are pruned first; ``-inf`` entries (already pruned) come first of all;
    among equal scores the weight first in canonical order (sorted tensor names, C order
    within a tensor) is pruned first. OptionError if ``n_prune`` exceeds the number of weights,
    or is smaller than the number of ``-inf`` entries (that would un-prune weights).

    >>> import torch
    >>> m = prune_lowest({"b": torch.tensor([1.0, 0.0]), "a": torch.tensor([0.0, 2.0])}, 2)
    >>> m["a"].tolist(), m["b"].tolist()
    ([False, True], [True, False])
    """
    check_scores(scores)
    total = sum(t.numel() for t in scores.values())
    n_prune = _check_count(n_prune, "n_prune")
    if n_prune > total:
        raise OptionError(f"cannot prune {n_prune} weights: the scores hold only {total}")
    kept = kept_masks({name: scores[name] for name in sorted(scores)}, n_prune)
    return {name: kept[name] for name in scores}


def check_scores(scores: Mapping[str, Tensor]) -> None:
    """OptionError unless every entry is a floating tensor keyed by a str (NaN: see below)."""
    for name, tensor in scores.items():
        if not isinstance(name, str):
            raise OptionError(f"score tensor names must be str; got {name!r}")
        if not isinstance(tensor, Tensor):
            raise OptionError(f"score {name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        if not tensor.is_floating_point():
            raise OptionError(f"score tensor {name!r} has dtype {tensor.dtype}; expected float")


def check_no_nan(scores: Mapping[str, Tensor]) -> None:
    """OptionError naming the first tensor (in iteration order) that holds a NaN."""
    for name, tensor in scores.items():
        # max() propagates NaN and is several times faster than isnan().any().
        if tensor.numel() and math.isnan(tensor.max().item()):
            first = int(torch.isnan(tensor.reshape(-1)).nonzero()[0])
            raise OptionError(
                f"score tensor {name!r} contains NaN (first at flat index {first}); scores must "
                "be numbers, with -inf marking already-pruned weights"
            )


def kept_masks(
    scores: Mapping[str, Tensor], n_prune: int, *, invert: bool = False, layer: str = ""
) -> dict[str, Tensor]:
    """Masks (True = keep, one new tensor each) pruning exactly ``n_prune`` of ``scores``.

    ``scores`` must be in canonical (sorted name) order, checked by :func:`check_scores`, and
    ``0 <= n_prune <= total``; a NaN is an OptionError. The ranking key is the score, or with
    ``invert`` the negated score with ``+inf`` mapped to ``-inf`` (the lowest surviving key).
    Weights scored ``-inf`` (already pruned) rank below every key; OptionError if there are
    more than ``n_prune``. ``layer`` names the tensor in that error for per-layer rules.
    """
    names = list(scores)
    if not names:
        return {}
    sizes = [scores[name].numel() for name in names]
    total = sum(sizes)
    dtype = torch.float32
    for name in names:
        dtype = torch.promote_types(dtype, scores[name].dtype)
    # One vector in canonical order: its flat index order is the tie-breaking order.
    flat = torch.cat([scores[name].reshape(-1).to(dtype) for name in names])
    if total and math.isnan(flat.max().item()):
        check_no_nan(scores)
    if invert:
        flat.neg_().masked_fill_(torch.isposinf(flat), -math.inf)

    def already() -> Tensor:
        if not invert:
            return torch.isneginf(flat)
        return torch.cat([torch.isneginf(scores[name].reshape(-1)) for name in names])

    if n_prune == total:
        pruned = torch.ones(total, dtype=torch.bool, device=flat.device)
    elif n_prune == 0:
        pruned = already()
        _check_unprune(pruned, n_prune, layer)
    else:
        threshold = kth_smallest(flat, n_prune)
        if threshold.item() == -math.inf:
            # All n_prune lie among the -inf keys: the already-pruned weights go first, then
            # inverted +inf scores (-inf keys, not yet pruned) in canonical order.
            pruned = already()
            remaining = _check_unprune(pruned, n_prune, layer)
            if remaining:
                _take_first(pruned, torch.isneginf(flat) & ~pruned, remaining)
        else:
            # Already-pruned weights have key -inf < threshold, so they are pruned here.
            pruned = flat <= threshold
            if int(torch.count_nonzero(pruned)) > n_prune:  # ties at the threshold
                pruned = flat < threshold
                remaining = n_prune - int(torch.count_nonzero(pruned))
                _take_first(pruned, flat == threshold, remaining)
    # logical_not gives each tensor its own storage (a file writer refuses shared storage).
    return {
        name: torch.logical_not(part).reshape(scores[name].shape)
        for name, part in zip(names, pruned.split(sizes), strict=True)
    }


def kth_smallest(flat: Tensor, k: int, *, direct_below: int = 1 << 20) -> Tensor:
    """The ``k``-th smallest value (1-based) of the 1-D ``flat``, as a 0-d tensor; exact.

    Equal to ``torch.kthvalue(flat, k).values``, but for large inputs about twice as fast: a
    strided sample of ``_SAMPLE`` values brackets the answer in ``[lo, hi]``, one count of the
    values below ``lo`` checks the bracket, and ``kthvalue`` runs on the few values inside it.
    If the bracket misses (possible only for unusual orderings of the data), it falls back to
    ``kthvalue`` on everything, so the answer never depends on the sample.
    """
    n = flat.numel()
    if n < direct_below:
        return torch.kthvalue(flat, k).values
    sample = torch.sort(flat[:: max(1, n // _SAMPLE)]).values
    m = sample.numel()
    centre = (k * m) // n
    margin = 4 * math.isqrt(m)
    lo_at, hi_at = centre - margin, centre + margin
    lo = sample[lo_at] if lo_at > 0 else None
    hi = sample[hi_at] if hi_at < m - 1 else None
    below = int(torch.count_nonzero(flat < lo)) if lo is not None else 0
    if below < k:
        inside = flat >= lo if lo is not None else None
        if hi is not None:
            inside = flat <= hi if inside is None else inside.logical_and_(flat <= hi)
        candidates = flat if inside is None else flat[inside]
        if below + candidates.numel() >= k:
            return torch.kthvalue(candidates, k - below).values
    return torch.kthvalue(flat, k).values


_SAMPLE = 1 << 16


def _take_first(pruned: Tensor, ties: Tensor, count: int) -> None:
    """Set ``pruned`` at the first ``count`` True positions of ``ties`` (flat, C order)."""
    if count:
        positions = ties.nonzero()[:count, 0]
        if positions.numel() != count:  # kthvalue guarantees enough ties
            raise RuntimeError(f"selection found {positions.numel()} of {count} tied weights")
        pruned[positions] = True


def _check_unprune(already: Tensor, n_prune: int, layer: str) -> int:
    """OptionError if more weights are already pruned than ``n_prune``; else the difference."""
    n_already = int(torch.count_nonzero(already))
    if n_already > n_prune:
        total = already.numel()
        where = f" in {layer!r}" if layer else ""
        raise OptionError(
            f"cannot un-prune{where}: {n_already} of {total} weights are already pruned (-inf "
            f"scores, sparsity {n_already / total:.6g}) but only {n_prune} are to be pruned "
            f"(sparsity {n_prune / total:.6g}); ask for at least sparsity {n_already / total:.6g}"
        )
    return n_prune - n_already


def _check_count(value: int, what: str) -> int:
    if isinstance(value, bool):
        raise OptionError(f"{what} must be a non-negative integer; got {value!r}")
    try:
        count = operator.index(value)
    except TypeError:
        raise OptionError(f"{what} must be a non-negative integer; got {value!r}") from None
    if count < 0:
        raise OptionError(f"{what} must be a non-negative integer; got {count}")
    return count
