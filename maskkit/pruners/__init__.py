"""Pruning-at-initialization scoring methods: random, magnitude, SNIP, GraSP, |GraSP|, SynFlow.

>>> scores = compute_scores(model, "magnitude", ["fc.weight"])   # doctest: +SKIP
>>> get_method("snip").needs_data
True

Each method's exact formula and defaults are in ``spec/methods/<name>.md``.
"""

from __future__ import annotations

from maskkit.pruners.base import Method, MethodOptions
from maskkit.pruners.compute import compute_scores
from maskkit.pruners.grasp import GraspOptions
from maskkit.pruners.magnitude import MagnitudeOptions
from maskkit.pruners.random_scores import RandomOptions
from maskkit.pruners.registry import get_method, known_methods
from maskkit.pruners.snip import SnipOptions
from maskkit.pruners.synflow import SynflowOptions

__all__ = [
    "GraspOptions",
    "MagnitudeOptions",
    "Method",
    "MethodOptions",
    "RandomOptions",
    "SnipOptions",
    "SynflowOptions",
    "compute_scores",
    "get_method",
    "known_methods",
]
