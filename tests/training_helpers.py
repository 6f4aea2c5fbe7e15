"""Small models, masks and datasets shared by the training tests (kept tiny: 2 shared cores)."""

from __future__ import annotations

from maskkit import stages

DATA = {"train_size": 512, "test_size": 200}
DATA_ARGS = [
    "--dataset", "synthetic",
    "--data-option", f"train_size={DATA['train_size']}",
    "--data-option", f"test_size={DATA['test_size']}",
]  # fmt: skip


def dataset(shape=(1, 28, 28), classes=10, seed=0, **sizes):
    from maskkit.data import load_dataset

    return load_dataset(
        "synthetic", seed=seed, input_shape=shape, num_classes=classes, options={**DATA, **sizes}
    )


def lenet_mask(sparsity=0.8, seed=0, init_seed=0):
    weights = stages.init_weights("lenet300", seed=init_seed)
    return stages.make_mask(stages.score(weights, "random", seed=seed), sparsity)


def resnet_mask(sparsity=0.8, seed=0, shape=(3, 8, 8)):
    weights = stages.init_weights("resnet20", seed=0, input_shape=shape)
    return stages.make_mask(stages.score(weights, "random", seed=seed), sparsity)


def pruned_values(state, mask):
    """Every value the mask prunes, from a state dict (tensors or arrays)."""
    import numpy as np

    out = []
    for name, keep in mask.arrays.items():
        value = state[name]
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        out.append(value[~keep])
    return np.concatenate(out)
