"""Allocation rules: how many weights each layer (or the whole model) prunes.

A rule maps the shapes of the tensors being pruned (excluded tensors already left out) to
either one int, the number pruned over all tensors together under one threshold, or a dict
giving the number pruned in each tensor. Which weights are pruned is then decided by the scores
(:func:`maskkit.masking.select.kept_masks`).

Rules (``N`` = weights of all pruned tensors, ``n_l`` = weights of tensor ``l``):

- ``global``: ``n_to_prune(sparsity, N)`` over all tensors under one threshold.
- ``layerwise``: ``n_to_prune(sparsity, n_l)`` in each tensor.
- ``erk``: Erdos-Renyi-Kernel kept counts (:mod:`maskkit.masking.erk`), total exactly as global.
- ``like``: keep the given per-tensor kept counts (of another mask); ``sparsity`` is ignored.
- ``densities``: keep ``n_l - floor((1 - d_l) * n_l + 1/2)`` in tensor ``l`` for an explicit
  density ``d_l`` in [0, 1] (exact arithmetic on the float's value, halves of a weight go to
  pruning); ``sparsity`` is ignored.

For ``like`` and ``densities`` every pruned tensor must be listed; excluded tensors may be listed
and are then ignored (they stay dense).
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Mapping
from fractions import Fraction

from maskkit._registry import Registry
from maskkit.errors import ModelMismatchError, OptionError
from maskkit.masking.erk import erk_kept_counts
from maskkit.masking.select import n_to_prune, round_half_up

Shapes = Mapping[str, tuple[int, ...]]
Rule = Callable[..., "int | dict[str, int]"]


def global_rule(shapes: Shapes, sparsity: float, **_: object) -> int:
    """One threshold over all tensors: ``n_to_prune(sparsity, N)`` weights in total."""
    return n_to_prune(sparsity, sum(math.prod(shape) for shape in shapes.values()))


def layerwise_rule(shapes: Shapes, sparsity: float, **_: object) -> dict[str, int]:
    """The same sparsity in every tensor: ``n_to_prune(sparsity, n_l)`` each."""
    return {name: n_to_prune(sparsity, math.prod(shape)) for name, shape in shapes.items()}


def erk_rule(shapes: Shapes, sparsity: float, **_: object) -> dict[str, int]:
    """Erdos-Renyi-Kernel kept counts at the global sparsity (exact total)."""
    kept = erk_kept_counts(shapes, sparsity)
    return {name: math.prod(shape) - kept[name] for name, shape in shapes.items()}


def like_rule(
    shapes: Shapes,
    sparsity: float,
    *,
    like: Mapping[str, int],
    excluded: frozenset[str],
    **_: object,
) -> dict[str, int]:
    """Keep ``like[name]`` weights of each tensor (the per-layer kept counts of another mask)."""
    problems = _unlisted(shapes, like, excluded, extra="unexpected")
    if problems:
        raise ModelMismatchError(f"the 'like' kept counts do not fit the scores: {problems}")
    prune = {}
    for name, shape in shapes.items():
        size = math.prod(shape)
        kept = _count(like[name], name)
        if kept > size:
            raise ModelMismatchError(
                f"the 'like' counts keep {kept} weights of {name!r}, which has only {size}"
            )
        prune[name] = size - kept
    return prune


def densities_rule(
    shapes: Shapes,
    sparsity: float,
    *,
    densities: Mapping[str, float],
    excluded: frozenset[str],
    **_: object,
) -> dict[str, int]:
    """Keep ``n_l - floor((1 - d_l) * n_l + 1/2)`` weights of each tensor, computed exactly."""
    problems = _unlisted(shapes, densities, excluded, extra="unknown tensors")
    if problems:
        raise OptionError(f"densities must list every pruned tensor: {problems}")
    prune = {}
    for name, shape in shapes.items():
        density = densities[name]
        if isinstance(density, bool) or not isinstance(density, numbers.Real):
            raise OptionError(f"density of {name!r} must be a number in [0, 1]; got {density!r}")
        value = float(density)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise OptionError(f"density of {name!r} must be in [0, 1]; got {density!r}")
        prune[name] = round_half_up((1 - Fraction(value)) * math.prod(shape))
    return prune


RULES: Registry[Rule] = Registry(
    "mask rule",
    {
        "global": global_rule,
        "layerwise": layerwise_rule,
        "erk": erk_rule,
        "like": like_rule,
        "densities": densities_rule,
    },
)
"""Rule name -> rule. ``RULES.register("mine", "package.module:my_rule")`` adds one."""


def known_rules() -> list[str]:
    """The registered rule names, in registration order."""
    return RULES.names()


def get_rule(name: str) -> Rule:
    """The allocation rule called ``name``; OptionError listing the known rules otherwise."""
    return RULES.get(name)


def _unlisted(
    shapes: Shapes, given: Mapping[str, object], excluded: frozenset[str], *, extra: str
) -> str:
    """The pruned tensors ``given`` lacks and the names it has beyond them ("" if none)."""
    missing = sorted(set(shapes) - set(given))
    beyond = sorted(set(given) - set(shapes) - excluded)
    return "; ".join(
        f"{what} {names}" for what, names in (("missing", missing), (extra, beyond)) if names
    )


def _count(value: int, name: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        count = operator.index(value)
    except TypeError:
        raise OptionError(f"kept count of {name!r} must be an integer; got {value!r}") from None
    if count < 0:
        raise OptionError(f"kept count of {name!r} must not be negative; got {count}")
    return count
