"""Comparing two masks layer by layer: densities, weight overlap, and the overlap chance gives.

The paper's question is whether two pruning methods agree on *which* weights to keep or only on
*how many* per layer. The overlap expected for two independent random masks with the same
per-layer kept counts answers it: for uniformly random subsets of sizes a and b out of n, the
expected intersection is a*b/n. Overlap near that value means agreement on densities only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from maskkit.errors import ModelMismatchError
from maskkit.format.artifact import Mask


@dataclass(frozen=True)
class LayerOverlap:
    name: str
    numel: int
    kept_a: int
    kept_b: int
    both: int  # weights kept by both masks
    #: set when layers are pooled: the sum of the per-layer expectations (densities differ by layer)
    pooled_expected_both: float | None = None

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
    def expected_both(self) -> float:
        if self.pooled_expected_both is not None:
            return self.pooled_expected_both
        return self.kept_a * self.kept_b / self.numel if self.numel else 0.0

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
        doc = asdict(self)
        del doc["pooled_expected_both"]
        return {
            **doc,
            "density_a": self.density_a,
            "density_b": self.density_b,
            "density_diff": self.density_b - self.density_a,
            "jaccard": self.jaccard,
            "a_in_b": self.a_in_b,
            "expected_jaccard": self.expected_jaccard,
            "expected_a_in_b": self.expected_a_in_b,
        }


@dataclass(frozen=True)
class MaskComparison:
    layers: tuple[LayerOverlap, ...]

    @property
    def total(self) -> LayerOverlap:
        """All layers pooled."""
        return LayerOverlap(
            "total",
            sum(x.numel for x in self.layers),
            sum(x.kept_a for x in self.layers),
            sum(x.kept_b for x in self.layers),
            sum(x.both for x in self.layers),
            sum(x.expected_both for x in self.layers),
        )

    @property
    def identical(self) -> bool:
        return all(x.identical for x in self.layers)

    @property
    def same_densities(self) -> bool:
        return all(x.kept_a == x.kept_b for x in self.layers)

    def to_dict(self) -> dict[str, object]:
        return {
            "identical": self.identical,
            "same_densities": self.same_densities,
            "total": self.total.to_dict(),
            "layers": [x.to_dict() for x in self.layers],
        }


def compare_masks(a: Mask, b: Mask) -> MaskComparison:
    """Per-layer overlap of two masks of the same model.

    Raises ModelMismatchError when the masks cover different layers or shapes, or are bound to
    models with different fingerprints.
    """
    fa, fb = a.model.fingerprint, b.model.fingerprint
    if fa and fb and fa != fb:
        raise ModelMismatchError(
            f"the masks fit different models ({a.model.name or 'unknown'} {fa[:19]}… vs "
            f"{b.model.name or 'unknown'} {fb[:19]}…)"
        )
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
    return MaskComparison(tuple(layers))
