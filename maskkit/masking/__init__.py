"""Turning scores (higher = keep) into boolean masks (True = keep) with exact counts.

Canonical order, used to break ties: tensors in sorted name order (Python ``str`` sort), elements
in C order within each tensor; among equal scores the weight first in that order is pruned first.
``-inf`` marks an already-pruned weight: it is always pruned and never un-pruned.
"""

from maskkit.masking.erk import erk_densities, erk_kept_counts
from maskkit.masking.mask import make_mask
from maskkit.masking.rules import RULES, get_rule, known_rules
from maskkit.masking.select import n_to_prune, prune_lowest

__all__ = [
    "RULES",
    "erk_densities",
    "erk_kept_counts",
    "get_rule",
    "known_rules",
    "make_mask",
    "n_to_prune",
    "prune_lowest",
]
