"""Erdos-Renyi-Kernel (ERK) per-layer densities and exact integer kept counts.

ERK (Evci et al., "Rigging the Lottery", 2020) gives each layer a density proportional to
``sum(shape) / prod(shape)``: ``(n_out + n_in + kh + kw) / (n_out * n_in * kh * kw)`` for a
conv weight, ``(n_out + n_in) / (n_out * n_in)`` for a linear one. The common scale ``eps`` is
solved so the kept total is the target; a layer whose density ``eps * raw`` would exceed 1 is
made dense and ``eps`` is solved again over the others, until no layer exceeds 1.

maskkit computes this exactly in rational arithmetic (``fractions.Fraction``), so the result
does not depend on float rounding. Two differences from RigL's code, both to make the total
exact: the target kept total is ``K = N - n_to_prune(sparsity, N)`` over all layers together
(RigL sums per-layer ``floor(sparsity * n_l)``), and all layers that exceed 1 are made dense in
one step (RigL moves only the largest each step; both reach the same set, because ``eps`` only
grows as layers are made dense). A 0-d tensor counts as shape ``(1,)``; an empty tensor keeps 0.

Kept counts are then integers by largest-remainder apportionment: every layer keeps
``floor(q_l)`` of its exact quota ``q_l = eps * raw_l * n_l`` (``n_l`` for a dense layer), and the
``K - sum(floor(q_l))`` weights left over go one each to the layers with the largest fractional
parts ``q_l - floor(q_l)``, equal parts in sorted name order. The total kept is exactly ``K`` and
no layer keeps more than it has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from maskkit.masking.select import n_to_prune


def erk_densities(shapes: Mapping[str, Sequence[int]], sparsity: float) -> dict[str, Fraction]:
    """Exact ERK densities (kept fraction per layer) at the global ``sparsity``.

    >>> d = erk_densities({"a": (10, 10), "b": (2, 2)}, 0.5)
    >>> d["b"], d["a"]  # b: 4/4 = 1 would be exceeded, so b is dense and a keeps the rest
    (Fraction(1, 1), Fraction(12, 25))
    """
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    quotas = _quotas(shapes, sizes, sum(sizes.values()) - n_to_prune(sparsity, sum(sizes.values())))
    return {
        name: Fraction(1) if sizes[name] == 0 else quotas[name] / sizes[name] for name in shapes
    }


def erk_kept_counts(shapes: Mapping[str, Sequence[int]], sparsity: float) -> dict[str, int]:
    """Integer ERK kept counts per layer; they sum to exactly ``N - n_to_prune(sparsity, N)``.

    >>> erk_kept_counts({"a": (10, 10), "b": (2, 2)}, 0.5)
    {'a': 48, 'b': 4}
    """
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    total = sum(sizes.values())
    kept = total - n_to_prune(sparsity, total)
    return largest_remainder(_quotas(shapes, sizes, kept), kept)


def largest_remainder(quotas: Mapping[str, Fraction], total: int) -> dict[str, int]:
    """Integers summing to ``total``: floors of ``quotas``, plus one for the largest remainders.

    ``quotas`` must sum to exactly ``total``. Equal remainders go in sorted name order.

    >>> largest_remainder({"a": Fraction(3, 2), "b": Fraction(3, 2)}, 3)
    {'a': 2, 'b': 1}
    """
    counts = {name: math.floor(q) for name, q in quotas.items()}
    left = total - sum(counts.values())
    by_remainder = sorted(quotas, key=lambda name: (-(quotas[name] - counts[name]), name))
    for name in by_remainder[:left]:
        counts[name] += 1
    return counts


def _quotas(
    shapes: Mapping[str, Sequence[int]], sizes: Mapping[str, int], kept: int
) -> dict[str, Fraction]:
    """Exact kept quota per layer (``eps * raw * n`` or ``n`` if dense); they sum to ``kept``."""
    raw = {
        name: Fraction(sum(shape) if shape else 1, sizes[name])
        for name, shape in shapes.items()
        if sizes[name]
    }
    dense: set[str] = set()
    while True:
        scaled = [name for name in raw if name not in dense]
        budget = kept - sum(sizes[name] for name in dense)
        divisor = sum(raw[name] * sizes[name] for name in scaled)
        # kept < N leaves at least one layer below density 1, so divisor > 0 whenever the
        # budget is positive; kept == N makes every layer dense.
        eps = Fraction(budget) / divisor if divisor else Fraction(0)
        over = {name for name in scaled if eps * raw[name] > 1}
        if not over:
            break
        dense |= over
    return {
        name: Fraction(0)
        if not sizes[name]
        else Fraction(sizes[name])
        if name in dense
        else eps * raw[name] * sizes[name]
        for name in shapes
    }
