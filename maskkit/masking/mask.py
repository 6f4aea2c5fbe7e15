"""make_mask: scores in, boolean masks out, under an allocation rule."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from maskkit.collapse import warn_if_collapsed
from maskkit.errors import OptionError
from maskkit.format.metadata import LayerCount
from maskkit.masking.rules import get_rule
from maskkit.masking.select import check_no_nan, check_scores, check_sparsity, kept_masks


def make_mask(
    scores: Mapping[str, Any],
    sparsity: float,
    *,
    rule: str = "global",
    like: Mapping[str, int] | None = None,
    densities: Mapping[str, float] | None = None,
    invert: bool = False,
    exclude: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Boolean masks (True = keep) from scores (higher = keep), one per score tensor.

    Scores are numpy arrays or torch tensors (read, never written; torch is not imported); the
    masks are new numpy bool arrays, C-contiguous, each with its own memory and the shape of
    its scores.

    ``rule`` decides how many weights each tensor prunes (see :mod:`maskkit.masking.rules`:
    ``global``, ``layerwise``, ``erk``, ``like`` with ``like=`` per-tensor kept counts,
    ``densities`` with ``densities=`` per-tensor densities); the scores decide which. Within
    one selection the lowest scores are pruned first, ``-inf`` (already pruned) before all
    others, and equal scores in canonical order: sorted tensor names, C order within a tensor,
    the first pruned first.

    ``invert=True`` keeps the lowest-scoring weights: the ranking runs on the negated scores
    (``+inf`` becomes the lowest surviving score), ``-inf`` weights are still pruned first, and
    equal scores are still pruned first-in-canonical-order-first. The counts do not change.

    ``exclude`` holds ``fnmatch`` patterns (case-sensitive) of tensor names to leave out: they
    are kept dense, except their ``-inf`` weights, and do not count toward ``N``. A pattern
    that matches no tensor is an OptionError (a typo would otherwise pass silently).

    No rule ever un-prunes: every ``-inf`` score is False in the output; asking for fewer
    pruned weights than there are ``-inf`` scores (overall, or in one tensor for per-layer
    rules) is an OptionError. The masks come back in the key order of ``scores``. A mask that
    keeps no weight of some tensor (layer collapse) gives a LayerCollapseWarning naming them.

    >>> import numpy as np
    >>> s = {"w": np.array([[0.5, -1.0], [2.0, 0.5]])}
    >>> make_mask(s, 0.5)["w"].tolist()
    [[False, False], [True, True]]
    >>> make_mask(s, 0.5, invert=True)["w"].tolist()  # the tied 0.5s: the first is pruned
    [[False, True], [False, True]]
    """
    allocate = get_rule(rule)
    check_sparsity(sparsity)
    if (like is not None) != (rule == "like"):
        raise OptionError("like= (per-tensor kept counts) goes with rule='like' and only with it")
    if (densities is not None) != (rule == "densities"):
        raise OptionError("densities= goes with rule='densities' and only with it")
    arrays = check_scores(scores)

    excluded = _excluded(list(arrays), exclude)
    check_no_nan({name: arrays[name] for name in arrays if name in excluded})
    names = sorted(name for name in arrays if name not in excluded)
    shapes = {name: tuple(arrays[name].shape) for name in names}
    allocation = allocate(
        shapes, sparsity, like=like, densities=densities, excluded=frozenset(excluded)
    )

    ranked = {name: arrays[name] for name in names}
    if isinstance(allocation, int):
        kept = kept_masks(ranked, allocation, invert=invert)
    else:
        kept = {}
        for name in names:
            kept.update(
                kept_masks({name: ranked[name]}, allocation[name], invert=invert, layer=name)
            )

    masks = {}
    for name, array in arrays.items():
        if name in excluded:
            masks[name] = np.not_equal(array, -np.inf, out=np.empty(array.shape, dtype=bool))
        else:
            masks[name] = kept[name]
    warn_if_collapsed(
        {name: LayerCount(m.shape, int(np.count_nonzero(m))) for name, m in masks.items()},
        stacklevel=2,
    )
    return masks


def _excluded(names: list[str], patterns: Sequence[str]) -> set[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    excluded: set[str] = set()
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise OptionError(f"exclude patterns must be strings; got {pattern!r}")
        hits = {name for name in names if fnmatch.fnmatchcase(name, pattern)}
        if not hits:
            raise OptionError(
                f"exclude pattern {pattern!r} matches no score tensor; known: {', '.join(names)}"
            )
        excluded |= hits
    return excluded
