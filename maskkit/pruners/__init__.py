"""Pruning-at-initialization scoring methods: random, magnitude, SNIP, GraSP, |GraSP|, SynFlow.

>>> from maskkit.pruners import compute_scores, get_method
>>> scores = compute_scores(model, "magnitude", ["fc.weight"])   # doctest: +SKIP
>>> get_method("snip").needs_data
True

Each method's exact formula and defaults are in ``spec/methods/<name>.md``. Names resolve on
first use, so ``known_methods()`` imports neither torch nor any method's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maskkit._lazy import lazy_exports

if TYPE_CHECKING:
    from maskkit.pruners.base import Method as Method
    from maskkit.pruners.base import MethodOptions as MethodOptions
    from maskkit.pruners.grasp import GraspOptions as GraspOptions
    from maskkit.pruners.magnitude import MagnitudeOptions as MagnitudeOptions
    from maskkit.pruners.random_scores import RandomOptions as RandomOptions
    from maskkit.pruners.registry import METHODS as METHODS
    from maskkit.pruners.registry import compute_scores as compute_scores
    from maskkit.pruners.registry import get_method as get_method
    from maskkit.pruners.registry import known_methods as known_methods
    from maskkit.pruners.snip import SnipOptions as SnipOptions
    from maskkit.pruners.synflow import SynflowOptions as SynflowOptions

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "maskkit.pruners.base": ["Method", "MethodOptions"],
        "maskkit.pruners.registry": ["METHODS", "compute_scores", "get_method", "known_methods"],
        "maskkit.pruners.grasp": ["GraspOptions"],
        "maskkit.pruners.magnitude": ["MagnitudeOptions"],
        "maskkit.pruners.random_scores": ["RandomOptions"],
        "maskkit.pruners.snip": ["SnipOptions"],
        "maskkit.pruners.synflow": ["SynflowOptions"],
    },
)
