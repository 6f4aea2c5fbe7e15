"""evaluate() against an independent float64 computation of accuracy and cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskkit.start_weights import initial_model
from maskkit.training import evaluate
from tests.training_helpers import dataset, lenet_mask, resnet_mask


def manual_lenet(state, x, y):
    """LeNet-300-100 by hand in float64 numpy: the logits, then log-softmax and argmax."""
    h = x.reshape(len(x), -1).astype(np.float64)
    for i in range(2):
        w = state[f"fc_layers.{i}.weight"].numpy().astype(np.float64)
        b = state[f"fc_layers.{i}.bias"].numpy().astype(np.float64)
        h = np.maximum(h @ w.T + b, 0.0)
    logits = h @ state["fc.weight"].numpy().astype(np.float64).T + state["fc.bias"].numpy()
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    loss = -logp[np.arange(len(y)), y].mean()
    return (logits.argmax(1) == y).mean(), loss


def test_matches_a_float64_numpy_computation():
    ds = dataset(test_size=333)
    model, _ = initial_model(lenet_mask(0.5), source="test")
    metrics = evaluate(model, ds.test, batch_size=100)  # batches of 100, 100, 100, 33
    accuracy, loss = manual_lenet(model.state_dict(), ds.test.x.numpy(), ds.test.y.numpy())
    assert metrics.count == 333
    assert metrics.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert metrics.correct == round(accuracy * 333)
    assert metrics.loss == pytest.approx(loss, rel=1e-5)


def test_uses_eval_mode_and_restores_train_mode():
    ds = dataset((3, 8, 8), test_size=50)
    model, _ = initial_model(resnet_mask(0.5), source="test")
    model.train()
    with torch.no_grad():  # make running statistics differ from batch statistics
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.fill_(0.3)
    metrics = evaluate(model, ds.test, batch_size=7)
    assert model.training
    model.eval()
    with torch.no_grad():
        out = model(ds.test.x)
    expected = torch.nn.functional.cross_entropy(out, ds.test.y).item()
    assert metrics.loss == pytest.approx(expected, rel=1e-5)
    assert metrics.accuracy == pytest.approx((out.argmax(1) == ds.test.y).float().mean().item())


def test_evaluate_artifact_zeroes_a_masks_pruned_weights_and_reports_what_it_measured():
    from maskkit import stages
    from maskkit.training import evaluate_artifact

    ds = dataset(test_size=120, train_size=80)
    mask = lenet_mask(0.7, init_seed=3)
    result = evaluate_artifact(mask, ds, source="m", split="train", device="cpu")
    # By hand: the seed-3 initialisation with every pruned weight set to zero.
    weights = stages.init_weights("lenet300", seed=3)
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.arrays.items()}
    for name, keep in mask.arrays.items():
        state[name][~torch.from_numpy(np.asarray(keep, dtype=bool))] = 0.0
    assert any((~np.asarray(keep, dtype=bool)).any() for keep in mask.arrays.values())
    accuracy, loss = manual_lenet(state, ds.train.x.numpy(), ds.train.y.numpy())
    assert result.metrics.count == 80
    assert result.metrics.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert result.metrics.loss == pytest.approx(loss, rel=1e-5)
    assert (result.kind, result.split, result.mask) == ("mask", "train", mask.content_hash)


def test_evaluate_artifact_refuses_weights_beside_weights_and_an_unknown_split():
    from maskkit import stages
    from maskkit.errors import OptionError
    from maskkit.training import evaluate_artifact

    ds = dataset(test_size=20, train_size=20)
    with pytest.raises(OptionError, match="is already weights"):
        evaluate_artifact(stages.init_weights("lenet300"), ds, source="w", weights="x")
    with pytest.raises(OptionError, match="split must be test or train"):
        evaluate_artifact(lenet_mask(0.5), ds, source="m", split="valid")
