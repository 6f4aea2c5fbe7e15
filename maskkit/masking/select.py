"""Pick exactly k weights to prune from scores: the counting rule and the global selection.

Conventions shared by everything in :mod:`maskkit.masking`:

- Scores are ``{parameter name: floating array}``; a HIGHER score means KEEP. Arrays are numpy
  arrays, or torch tensors, read through ``.detach().numpy()`` without importing torch. Inputs
  are only read, never written.
- ``-inf`` marks a weight an earlier stage already pruned. It is always pruned, counts toward
  the pruned total, and no rule ever un-prunes it. ``+inf`` is an ordinary (very high) score.
  NaN is rejected.
- Canonical order: tensors in sorted name order (Python ``str`` sort, i.e. by code point), the
  elements of each tensor in C (row-major) order. Among equal scores the weight that comes FIRST
  in canonical order is pruned first. ``-0.0`` and ``0.0`` are equal scores.
- Masks come back as numpy bool arrays (True = keep), C-contiguous, each with its own memory.

The selection never sorts everything: a k-th smallest search (``np.partition`` on the few
values a sample brackets) finds the threshold key ``t``, every weight below ``t`` is pruned, and
the remaining count is taken from the weights tied at ``t`` in canonical order. The key is held
in the promoted dtype of all inputs (at least float32), so it holds every score exactly; the
result is exact and the same in every process.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from maskkit._validate import check_fraction, check_int
from maskkit.errors import OptionError

_HALF = Fraction(1, 2)


def round_half_up(x: Fraction) -> int:
    """``floor(x + 1/2)``, computed exactly: the nearest integer, halves rounded up."""
    return math.floor(x + _HALF)


def check_sparsity(sparsity: float) -> Fraction:
    """The exact value of ``sparsity`` as a Fraction; OptionError unless it is in [0, 1)."""
    value = check_fraction(sparsity, "sparsity", meaning="0 keeps every weight, 0.9 prunes 90%")
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
    count = check_int(n, "n")
    return round_half_up(exact * count)


def prune_lowest(scores: Mapping[str, Any], n_prune: int) -> dict[str, np.ndarray]:
    """Masks (True = keep) pruning exactly ``n_prune`` weights over all tensors together.

    The lowest scores are pruned first; ``-inf`` entries (already pruned) come first of all;
    among equal scores the weight first in canonical order (sorted tensor names, C order
    within a tensor) is pruned first. OptionError if ``n_prune`` exceeds the number of weights,
    or is smaller than the number of ``-inf`` entries (that would un-prune weights).

    >>> import numpy as np
    >>> m = prune_lowest({"b": np.array([1.0, 0.0]), "a": np.array([0.0, 2.0])}, 2)
    >>> m["a"].tolist(), m["b"].tolist()
    ([False, True], [True, False])
    """
    arrays = check_scores(scores)
    total = sum(a.size for a in arrays.values())
    n_prune = check_int(n_prune, "n_prune")
    if n_prune > total:
        raise OptionError(f"cannot prune {n_prune} weights: the scores hold only {total}")
    kept = kept_masks({name: arrays[name] for name in sorted(arrays)}, n_prune)
    return {name: kept[name] for name in arrays}


def as_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a numpy array, without copying one; torch tensors via ``.detach().numpy()``.

    OptionError unless it is a numpy array or a torch tensor (CPU, or moved to the CPU).
    """
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        tensor = value.detach()
        if hasattr(tensor, "cpu"):
            tensor = tensor.cpu()  # the same tensor when it is already on the CPU
        try:
            return tensor.numpy()
        except TypeError:
            # bfloat16 and float8 have no numpy dtype; float32 holds all their values exactly.
            if getattr(tensor, "is_floating_point", lambda: False)():
                return tensor.float().numpy()
            raise OptionError(f"score {name!r} has dtype {tensor.dtype}; expected float") from None
    raise OptionError(f"score {name!r} is a {type(value).__name__}, not a numpy array or tensor")


def check_scores(scores: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The scores as numpy arrays (no copies), in the same key order; OptionError unless every
    entry is a floating array or tensor keyed by a str (NaN: see :func:`check_no_nan`)."""
    arrays = {}
    for name, value in scores.items():
        if not isinstance(name, str):
            raise OptionError(f"score tensor names must be str; got {name!r}")
        array = as_array(value, name)
        if not np.issubdtype(array.dtype, np.floating):
            raise OptionError(f"score tensor {name!r} has dtype {array.dtype}; expected float")
        arrays[name] = array
    return arrays


def check_no_nan(scores: Mapping[str, np.ndarray]) -> None:
    """OptionError naming the first tensor (in iteration order) that holds a NaN."""
    for name, array in scores.items():
        # max() propagates NaN and is several times faster than isnan().any().
        if array.size and math.isnan(array.max()):
            first = int(np.argmax(np.isnan(array).reshape(-1)))
            raise OptionError(
                f"score tensor {name!r} contains NaN (first at flat index {first}); scores must "
                "be numbers, with -inf marking already-pruned weights"
            )


def kept_masks(
    scores: Mapping[str, Any], n_prune: int, *, invert: bool = False, layer: str = ""
) -> dict[str, np.ndarray]:
    """Masks (True = keep, one new bool array each) pruning exactly ``n_prune`` of ``scores``.

    ``scores`` must be in canonical (sorted name) order, of float dtype (:func:`check_scores`),
    and ``0 <= n_prune <= total``; a NaN is an OptionError. The ranking key is the score, or with
    ``invert`` the negated score with ``+inf`` mapped to ``-inf`` (the lowest surviving key).
    Weights scored ``-inf`` (already pruned) rank below every key; OptionError if there are
    more than ``n_prune``. ``layer`` names the tensor in that error for per-layer rules.
    """
    arrays = {name: as_array(value, name) for name, value in scores.items()}
    names = list(arrays)
    if not names:
        return {}
    sizes = [arrays[name].size for name in names]
    total = sum(sizes)
    # The promoted dtype (at least float32) holds every score exactly.
    dtype = np.result_type(np.float32, *(arrays[name].dtype for name in names))
    # One new vector in canonical order (never a view of an input, so it may be negated in
    # place): its flat index order is the tie-breaking order.
    flat = np.concatenate([arrays[name].reshape(-1) for name in names], dtype=dtype)
    if total and math.isnan(flat.max()):
        check_no_nan(arrays)
    if invert:
        np.negative(flat, out=flat)
        flat[np.isposinf(flat)] = -np.inf  # +inf scores, and -inf ones (told apart below)
    segments = [flat[start:stop] for start, stop in itertools.pairwise(np.cumsum([0, *sizes]))]
    shapes = [arrays[name].shape for name in names]

    if n_prune == total:
        keep = [np.zeros(shape, dtype=bool) for shape in shapes]
    elif n_prune == 0 or (threshold := kth_smallest(flat, n_prune)) == -np.inf:
        # All n_prune lie among the -inf keys: the already-pruned weights go first, then
        # inverted +inf scores (-inf keys, not yet pruned) in canonical order.
        sources = [arrays[name] for name in names] if invert else segments
        keep = [_compare(np.not_equal, a, -np.inf, s) for a, s in zip(sources, shapes, strict=True)]
        n_already = total - sum(int(np.count_nonzero(part)) for part in keep)
        _check_unprune(n_already, total, n_prune, layer)
        _prune_first(keep, segments, -np.inf, n_prune - n_already)
    else:
        # Already-pruned weights have key -inf < threshold, so they are pruned here; the
        # threshold is the k-th smallest key, so enough weights tie at it to fill the count.
        keep = [
            _compare(np.greater_equal, segment, threshold, shape)
            for segment, shape in zip(segments, shapes, strict=True)
        ]
        n_below = total - sum(int(np.count_nonzero(part)) for part in keep)
        _prune_first(keep, segments, threshold, n_prune - n_below)
    return dict(zip(names, keep, strict=True))


def _compare(ufunc: np.ufunc, values: np.ndarray, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``ufunc(values, value)`` into a new C-contiguous bool array of ``shape`` (0-d included)."""
    return ufunc(values.reshape(shape), value, out=np.empty(shape, dtype=bool))


def kth_smallest(flat: np.ndarray, k: int, *, direct_below: int = 1 << 20) -> Any:
    """The ``k``-th smallest value (1-based) of the 1-D, NaN-free ``flat``, as a numpy scalar.

    Equal to ``np.partition(flat, k - 1)[k - 1]``, but for large inputs faster and without a
    full-size copy: a strided sample of ``_SAMPLE`` values brackets the answer in ``[lo, hi]``,
    one count of the values below ``lo`` checks the bracket, and ``np.partition`` runs on the few
    values inside it. If the bracket misses (possible only for unusual orderings of the data),
    it falls back to partitioning everything, so the answer never depends on the sample.
    """
    n = flat.size
    if n < direct_below:
        return np.partition(flat, k - 1)[k - 1]
    sample = np.sort(flat[:: max(1, n // _SAMPLE)])
    m = sample.size
    centre = (k * m) // n
    margin = 4 * math.isqrt(m)
    lo_at, hi_at = centre - margin, centre + margin
    inside: np.ndarray | None = None
    below = 0
    if lo_at > 0:
        inside = np.greater_equal(flat, sample[lo_at])
        below = n - int(np.count_nonzero(inside))
    if below < k:
        if hi_at < m - 1:
            at_most_hi = np.less_equal(flat, sample[hi_at])
            inside = (
                at_most_hi if inside is None else np.logical_and(inside, at_most_hi, out=inside)
            )
        candidates = flat if inside is None else flat[inside]
        if below + candidates.size >= k:
            return np.partition(candidates, k - below - 1)[k - below - 1]
    return np.partition(flat, k - 1)[k - 1]


_SAMPLE = 1 << 16
_CHUNK = 1 << 20


def _prune_first(
    keep: list[np.ndarray], segments: list[np.ndarray], value: Any, count: int
) -> None:
    """Clear ``keep`` at the first ``count`` kept positions whose key equals ``value``.

    Walks the segments in canonical order, in chunks, and stops as soon as ``count`` are found,
    so it never builds an index of all ties (there may be millions, e.g. of zero scores).
    """
    for kept, segment in zip(keep, segments, strict=True):
        part = kept.reshape(-1)  # a view: kept is C-contiguous
        for start in range(0, segment.size, _CHUNK):
            if count <= 0:
                return
            stop = start + _CHUNK
            ties = np.equal(segment[start:stop], value)
            np.logical_and(ties, part[start:stop], out=ties)
            found = int(np.count_nonzero(ties))
            if found <= count:
                np.logical_xor(part[start:stop], ties, out=part[start:stop])
                count -= found
            else:
                part[start + np.flatnonzero(ties)[:count]] = False
                count = 0
    if count > 0:  # the k-th smallest key guarantees enough ties
        raise RuntimeError(f"selection is {count} tied weights short")


def _check_unprune(n_already: int, total: int, n_prune: int, layer: str) -> None:
    """OptionError if more weights are already pruned than ``n_prune``."""
    if n_already > n_prune:
        where = f" in {layer!r}" if layer else ""
        raise OptionError(
            f"cannot un-prune{where}: {n_already} of {total} weights are already pruned (-inf "
            f"scores, sparsity {n_already / total:.6g}) but only {n_prune} are to be pruned "
            f"(sparsity {n_prune / total:.6g}); ask for at least sparsity {n_already / total:.6g}"
        )
