"""Comparing two masks layer by layer: densities, weight overlap, and the overlap chance gives.

The paper's question is whether two pruning methods agree on *which* weights to keep or only on
*how many* per layer. Independent random masks answer it: if a layer of n weights keeps a
weights in mask A and b in mask B, each placed uniformly at random, the number kept by both is
hypergeometric with mean a*b/n and variance a*b*(n-a)*(n-b) / (n^2 * (n-1)). The observed
overlap k is reported against that distribution as a ratio (k / mean) and a z-score
((k - mean) / sd), per layer and pooled over layers (means and variances add, since layers are
independent). An overlap within :data:`CHANCE_Z` standard deviations of the mean is what
agreement on the layer densities alone gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from maskkit.errors import ModelMismatchError
from maskkit.format.artifact import Mask

#: |z| below this counts as overlap at chance (about 1 in 370 for a normal variable).
CHANCE_Z = 3.0


def hypergeometric_moments(numel: int, kept_a: int, kept_b: int) -> tuple[float, float]:
    """Mean and variance of the overlap of two independent uniform random subsets.

    The subsets have sizes ``kept_a`` and ``kept_b`` out of ``numel`` items.

    >>> hypergeometric_moments(8, 4, 3)
    (1.5, 0.5357142857142857)
    """
    # Python ints, exact up to the one division: n^4 overflows int64 (numpy counts) at n ~ 55,000.
    n, a, b = int(numel), int(kept_a), int(kept_b)
    if n == 0:
        return 0.0, 0.0
    mean = a * b / n
    variance = a * b * (n - a) * (n - b) / (n * n * (n - 1)) if n > 1 else 0.0
    return mean, variance


@dataclass(frozen=True)
class LayerOverlap:
    name: str
    numel: int
    kept_a: int
    kept_b: int
    both: int  # weights kept by both masks
    #: set when layers are pooled: the sums of the per-layer means and variances
    pooled_moments: tuple[float, float] | None = None

    @property
    def density_a(self) -> float:
        return self.kept_a / self.numel if self.numel else 1.0

    @property
    def density_b(self) -> float:
        return self.kept_b / self.numel if self.numel else 1.0

    @property
    def jaccard(self) -> float:
        """|A and B| / |A or B|; 1.0 when both keep nothing (they agree)."""
        union = self.kept_a + self.kept_b - self.both
        return self.both / union if union else 1.0

    @property
    def a_in_b(self) -> float | None:
        """Fraction of A's kept weights that B also keeps (None when A keeps nothing)."""
        return self.both / self.kept_a if self.kept_a else None

    @property
    def _moments(self) -> tuple[float, float]:
        if self.pooled_moments is not None:
            return self.pooled_moments
        return hypergeometric_moments(self.numel, self.kept_a, self.kept_b)

    @property
    def expected_both(self) -> float:
        """Mean overlap of independent random masks with these kept counts."""
        return self._moments[0]

    @property
    def variance_both(self) -> float:
        return self._moments[1]

    @property
    def sd_both(self) -> float:
        return math.sqrt(self.variance_both)

    @property
    def overlap_ratio(self) -> float | None:
        """Observed overlap / chance overlap (None when chance gives 0: then so must the masks)."""
        mean = self.expected_both
        return self.both / mean if mean > 0 else None

    @property
    def z(self) -> float | None:
        """(overlap - mean) / sd; None when the counts fix the overlap (zero variance)."""
        variance = self.variance_both
        return (self.both - self.expected_both) / math.sqrt(variance) if variance > 0 else None

    @property
    def chance(self) -> str:
        """``"at"``, ``"above"`` or ``"below"`` chance, by :data:`CHANCE_Z`.

        Zero variance means the kept counts alone fix the overlap: that is "at" chance.
        """
        z = self.z
        if z is None or abs(z) < CHANCE_Z:
            return "at"
        return "above" if z > 0 else "below"

    @property
    def expected_a_in_b(self) -> float | None:
        return self.expected_both / self.kept_a if self.kept_a else None

    @property
    def expected_jaccard(self) -> float:
        """Jaccard index of independent random masks with these counts (ratio of expectations)."""
        union = self.kept_a + self.kept_b - self.expected_both
        return self.expected_both / union if union else 1.0

    @property
    def identical(self) -> bool:
        return self.both == self.kept_a == self.kept_b

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "numel": self.numel,
            "kept_a": self.kept_a,
            "kept_b": self.kept_b,
            "both": self.both,
            "density_a": self.density_a,
            "density_b": self.density_b,
            "density_diff": self.density_b - self.density_a,
            "jaccard": self.jaccard,
            "a_in_b": self.a_in_b,
            "expected_jaccard": self.expected_jaccard,
            "expected_a_in_b": self.expected_a_in_b,
            "expected_both": self.expected_both,
            "sd_both": self.sd_both,
            "overlap_ratio": self.overlap_ratio,
            "z": self.z,
            "chance": self.chance,
        }


@dataclass(frozen=True)
class MaskComparison:
    layers: tuple[LayerOverlap, ...]
    #: whether training from A and from B starts from the same weights (seed or weights SHA-256)
    same_init: bool = True

    @property
    def total(self) -> LayerOverlap:
        """All layers pooled."""
        return LayerOverlap(
            "total",
            sum(x.numel for x in self.layers),
            sum(x.kept_a for x in self.layers),
            sum(x.kept_b for x in self.layers),
            sum(x.both for x in self.layers),
            (
                sum(x.expected_both for x in self.layers),
                sum(x.variance_both for x in self.layers),
            ),
        )

    @property
    def identical(self) -> bool:
        """The mask tensors are equal (the initial weights may still differ: see ``difference``)."""
        return all(x.identical for x in self.layers)

    @property
    def same_densities(self) -> bool:
        return all(x.kept_a == x.kept_b for x in self.layers)

    @property
    def difference(self) -> str:
        """The largest kind of difference: ``none``, ``init``, ``weights`` or ``densities``.

        ``init``: equal tensors, other initial weights; ``weights``: the same kept counts in
        every layer but other weights kept; ``densities``: some layer keeps another count.
        """
        if not self.same_densities:
            return "densities"
        if not self.identical:
            return "weights"
        return "none" if self.same_init else "init"

    def to_dict(self) -> dict[str, object]:
        return {
            "identical": self.identical,
            "same_densities": self.same_densities,
            "same_init": self.same_init,
            "difference": self.difference,
            "z_threshold": CHANCE_Z,
            "total": self.total.to_dict(),
            "layers": [x.to_dict() for x in self.layers],
        }


def compare_masks(a: Mask, b: Mask) -> MaskComparison:
    """Per-layer overlap of two masks of the same model, against independent random masks.

    Raises ModelMismatchError when the masks cover different layers or shapes, or are bound to
    models with different fingerprints.
    """
    from maskkit.models.binding import check_same_fingerprint

    check_same_fingerprint(a.model, b.model, what="the masks")
    problems = sorted(
        {f"{n} (only in A)" for n in a.arrays.keys() - b.arrays.keys()}
        | {f"{n} (only in B)" for n in b.arrays.keys() - a.arrays.keys()}
        | {
            f"{n} {list(a.arrays[n].shape)} vs {list(b.arrays[n].shape)}"
            for n in a.arrays.keys() & b.arrays.keys()
            if a.arrays[n].shape != b.arrays[n].shape
        }
    )
    if problems:
        raise ModelMismatchError(
            f"the masks do not cover the same layers: {'; '.join(problems[:6])}"
        )
    layers = []
    for name in sorted(a.arrays):
        ma, mb = a.arrays[name], b.arrays[name]
        ca, cb = a.layers[name], b.layers[name]
        layers.append(
            LayerOverlap(name, ca.numel, ca.kept, cb.kept, int(np.count_nonzero(ma & mb)))
        )
    return MaskComparison(tuple(layers), same_init=_init_key(a) == _init_key(b))


def _init_key(mask: Mask) -> tuple[int | None, str | None] | None:
    # The path of a weights file is where it was found, not what it is: compare by SHA-256.
    return None if mask.init is None else (mask.init.seed, mask.init.sha256)
