"""Pruning-at-initialization scoring methods: random, magnitude, SNIP, GraSP, |GraSP|, SynFlow.

>>> from maskkit.pruners import compute_scores, get_method
>>> scores = compute_scores(model, "magnitude", ["fc.weight"])   # doctest: +SKIP
>>> get_method("snip").needs_data
True

Each method's exact formula and defaults are in ``spec/methods/<name>.md``. Names resolve on
first use, so ``known_methods()`` imports neither torch nor any method's module.
"""

from __future__ import annotations

from maskkit._lazy import lazy_exports

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
