"""The paper's central finding on LeNet-300-100 / MNIST (slow: run with ``pytest -m slow -s``).

Pruning-at-initialization masks keep their accuracy when each layer's mask is shuffled or the
kept weights are re-initialised: what SNIP chooses is a per-layer density, not which weights.
Four trainings of 8 epochs on CPU, under a minute in all; the accuracies are printed.
"""

from __future__ import annotations

import pytest

import maskkit

pytestmark = pytest.mark.slow

SPARSITY = 0.95
EPOCHS = 8


@pytest.fixture(scope="module")
def mnist():
    return maskkit.load_dataset("mnist")


def accuracy(mask, dataset) -> float:
    options = maskkit.default_options("lenet", "mnist", epochs=EPOCHS)
    _, result = maskkit.train_artifact(mask, dataset, options, source="mask")
    return result.metrics.accuracy


def test_snip_masks_survive_shuffling_and_reinitialisation(mnist):
    weights = maskkit.init_weights("lenet300", seed=0)
    snip = maskkit.make_mask(maskkit.score(weights, "snip", dataset=mnist), SPARSITY)
    results = {
        "snip": accuracy(snip, mnist),
        "snip shuffled": accuracy(maskkit.shuffle(snip, seed=1), mnist),
        "snip reinit": accuracy(maskkit.reinit(snip, seed=1), mnist),
        "random": accuracy(maskkit.make_mask(maskkit.score(weights, "random"), SPARSITY), mnist),
    }
    for name, value in results.items():
        print(f"{name:>14}: {value:.2%}")
    assert results["snip"] > 0.9
    # The paper's finding: neither ablation costs SNIP more than noise.
    assert abs(results["snip shuffled"] - results["snip"]) < 0.02
    assert abs(results["snip reinit"] - results["snip"]) < 0.02
