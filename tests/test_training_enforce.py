"""Pruned weights are exactly zero after every optimizer step, with momentum and weight decay."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from maskkit.data import batches
from maskkit.start_weights import initial_model
from maskkit.training import MaskEnforcer, RunIO, TrainOptions, train
from tests.training_helpers import dataset, lenet_mask, pruned_values, resnet_mask


def _train_checking_every_step(mask, ds, options):
    model, masks = initial_model(mask, source="test")
    seen = []

    def progress(step, total, loss):
        # Called after the mask is re-applied at every step (CPU: the loss is read every step).
        seen.append((step, int(np.count_nonzero(pruned_values(model.state_dict(), mask)))))

    result = train(model, ds, options, masks=masks, io=RunIO(progress=progress))
    return model, result, seen


def test_lenet_pruned_weights_stay_zero_at_every_step():
    mask = lenet_mask(0.9)
    opts = TrainOptions(steps=25, batch_size=64, lr=0.1, momentum=0.9, weight_decay=0.05)
    _, result, seen = _train_checking_every_step(mask, dataset(), opts)
    assert [s for s, _ in seen] == list(range(26))
    assert all(nonzero == 0 for _, nonzero in seen)
    # Not vacuous: the momentum buffers do push the pruned weights (the multiply undoes it).
    assert result.step == 25


def test_resnet_conv_masks_and_batchnorm_with_momentum():
    mask = resnet_mask(0.7)
    opts = TrainOptions(steps=6, batch_size=16, lr=0.1, momentum=0.9, weight_decay=1e-2)
    _, _, seen = _train_checking_every_step(mask, dataset((3, 8, 8)), opts)
    assert len(seen) == 7 and all(nonzero == 0 for _, nonzero in seen)


def test_survivors_match_a_forward_pre_hook_reference():
    """An independent masked loop (weight = orig * mask in a pre-hook, as torch.nn.utils.prune
    does) gives the same surviving weights: the mask is neither leaking nor over-applied."""
    mask = lenet_mask(0.8)
    ds = dataset()
    opts = TrainOptions(steps=12, batch_size=64, lr=0.05, momentum=0.9, weight_decay=1e-3)
    model, masks = initial_model(mask, source="test")
    train(model, ds, opts, masks=masks)

    ref, ref_masks = initial_model(mask, source="test")
    modules = dict(ref.named_modules())
    for name, keep in ref_masks.items():
        module = modules[name.rsplit(".", 1)[0]]
        orig = torch.nn.Parameter(module.weight.detach().clone())
        del module.weight
        module.register_parameter("weight_orig", orig)
        module.register_buffer("weight_mask", keep.float())

        def hook(mod, args):
            mod.weight = mod.weight_orig * mod.weight_mask

        module.register_forward_pre_hook(hook)
    optimizer = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    step = 0
    while step < 12:
        for x, y in batches(ds.train, 64, seed=0, epoch=step // 8):
            loss = F.cross_entropy(ref(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == 12:
                break
    got = model.state_dict()
    for name, keep in ref_masks.items():
        module = modules[name.rsplit(".", 1)[0]]
        expected = (module.weight_orig * module.weight_mask).detach()
        torch.testing.assert_close(got[name], expected, rtol=1e-5, atol=1e-6)
        assert torch.equal(got[name][~keep], torch.zeros_like(got[name][~keep]))
        # the reference's pruned originals did move (weight decay + momentum): the test has teeth
        assert module.weight_orig.detach()[~keep].abs().sum() > 0


def test_enforcer_counts_violations_and_fixes_them():
    mask = lenet_mask(0.5)
    model, masks = initial_model(mask, source="test")
    enforcer = MaskEnforcer(model, masks)
    assert enforcer.violations() > 0  # initial weights are dense
    enforcer.apply()
    assert enforcer.violations() == 0
    assert np.count_nonzero(pruned_values(model.state_dict(), mask)) == 0
