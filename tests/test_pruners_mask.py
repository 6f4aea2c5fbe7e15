"""Scoring under a mask, and the input model left exactly as it was, for every method."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskkit.errors import ModelMismatchError
from maskkit.pruners import compute_scores, get_method, known_methods

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(4, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.bn(self.conv(x))).mean(dim=(2, 3))
        return self.fc2(torch.tanh(self.fc1(h)))


PRUNABLE = ["conv.weight", "fc1.weight", "fc2.weight"]


def make_net() -> Net:
    torch.manual_seed(21)
    net = Net()
    with torch.no_grad():
        net.bn.weight.uniform_(0.5, 1.5)
    return net


def make_mask(net, density=0.6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {
        n: torch.rand(p.shape, generator=gen) < density
        for n, p in net.named_parameters()
        if n in PRUNABLE
    }


def data(n=8):
    gen = torch.Generator().manual_seed(22)
    return torch.randn((n, 2, 4, 4), generator=gen), torch.randint(0, 3, (n,), generator=gen)


def options_for(method):
    if method == "synflow":
        return {"input_shape": (2, 4, 4), "sparsity": 0.7, "rounds": 4}
    return None


def run(method, net, mask=None):
    needs = get_method(method).needs_data
    return compute_scores(
        net,
        method,
        PRUNABLE,
        options=options_for(method),
        data=data() if needs else None,
        mask=mask,
        seed=3,
    )


@pytest.mark.parametrize("method", known_methods())
def test_pruned_weights_get_minus_inf_and_survivors_do_not(method):
    net = make_net()
    mask = make_mask(net)
    got = run(method, net, mask)
    for name in PRUNABLE:
        assert got[name].dtype == torch.float32 and got[name].shape == mask[name].shape
        assert torch.isneginf(got[name][~mask[name]]).all()
        assert torch.isfinite(got[name][mask[name]]).all()


@pytest.mark.parametrize("method", known_methods())
def test_input_model_is_left_unchanged(method):
    net = make_net()
    net.fc1.weight.grad = None
    before = copy.deepcopy(net.state_dict())
    flags = {n: p.requires_grad for n, p in net.named_parameters()}
    run(method, net, make_mask(net))
    after = net.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype
        assert torch.equal(after[key], value), key  # BN running stats included
    assert net.training
    assert all(p.grad is None for p in net.parameters())
    assert {n: p.requires_grad for n, p in net.named_parameters()} == flags


@pytest.mark.parametrize("method", ["snip", "grasp", "grasp-abs", "magnitude"])
def test_masked_scoring_equals_scoring_the_zeroed_model(method):
    net = make_net()
    mask = make_mask(net)
    zeroed = copy.deepcopy(net)
    with torch.no_grad():
        for name, p in zeroed.named_parameters():
            if name in mask:
                p.mul_(mask[name])
    masked = run(method, net, mask)
    plain = run(method, zeroed)
    for name in PRUNABLE:
        k = mask[name]
        if method == "snip" or method == "magnitude":
            # dL/dw of a survivor depends only on the weights' values, pruned ones being zero.
            torch.testing.assert_close(masked[name][k], plain[name][k], rtol=1e-6, atol=0)
        else:
            # GraSP's Hg runs over the survivors only, so it differs from the zeroed model's.
            assert not torch.allclose(masked[name][k], plain[name][k], rtol=1e-3)


def forward(p, x):
    h = F.conv2d(x, p["conv.weight"], padding=1)
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = ((h - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    h = (h - mean) / torch.sqrt(var + 1e-5) * p["bn.weight"].view(1, -1, 1, 1)
    h = torch.tanh(h + p["bn.bias"].view(1, -1, 1, 1)).mean(dim=(2, 3))
    h = torch.tanh(h @ p["fc1.weight"].T + p["fc1.bias"])
    return h @ p["fc2.weight"].T + p["fc2.bias"]


def test_grasp_under_a_mask_is_the_hessian_over_the_surviving_weights():
    # Reference: the loss as a function of the survivors only, w_eff = m * v, at v = w.
    net = make_net().double()
    mask = make_mask(net)
    x, y = data()
    p = {k: v.detach().clone() for k, v in net.named_parameters()}
    m = {n: mask[n].double() for n in PRUNABLE}

    def loss(v):
        q = {**p, **{n: v[n] * m[n] for n in PRUNABLE}}
        return F.cross_entropy(forward(q, x.double()) / 200.0, y)

    w = {n: p[n] for n in PRUNABLE}
    g = torch.func.grad(loss)(w)
    hg = torch.func.jvp(torch.func.grad(loss), (w,), (g,))[1]
    got = compute_scores(net, "grasp", PRUNABLE, data=(x, y), mask=mask)
    for n in PRUNABLE:
        k = mask[n]
        ref = (w[n] * hg[n])[k]
        scale = float(ref.abs().max())
        torch.testing.assert_close(got[n][k].double(), ref, rtol=1e-5, atol=1e-6 * scale)


def test_mask_entries_for_other_parameters_zero_them_too():
    net = make_net()
    mask = make_mask(net)
    mask["fc1.bias"] = torch.tensor([True, False, True, False, True, True])
    zeroed = copy.deepcopy(net)
    with torch.no_grad():
        zeroed.fc1.bias.mul_(mask["fc1.bias"])
    a = compute_scores(net, "snip", ["fc2.weight"], data=data(), mask=mask)
    b = compute_scores(zeroed, "snip", ["fc2.weight"], data=data(), mask=mask)
    c = compute_scores(
        net,
        "snip",
        ["fc2.weight"],
        data=data(),
        mask={k: v for k, v in mask.items() if k != "fc1.bias"},
    )
    assert torch.equal(a["fc2.weight"], b["fc2.weight"])
    assert not torch.equal(a["fc2.weight"], c["fc2.weight"])


def test_bad_masks_are_rejected():
    net = make_net()
    mask = make_mask(net)
    with pytest.raises(ModelMismatchError, match="no entry"):
        compute_scores(net, "magnitude", PRUNABLE, mask={"conv.weight": mask["conv.weight"]})
    with pytest.raises(ModelMismatchError, match="shape"):
        compute_scores(
            net,
            "magnitude",
            PRUNABLE,
            mask={**mask, "fc1.weight": torch.ones(2, 2, dtype=torch.bool)},
        )
    with pytest.raises(ModelMismatchError, match="bool"):
        compute_scores(
            net, "magnitude", PRUNABLE, mask={**mask, "fc1.weight": mask["fc1.weight"].float()}
        )
    with pytest.raises(ModelMismatchError, match="does not have"):
        compute_scores(
            net,
            "magnitude",
            PRUNABLE,
            mask={**mask, "nope.weight": torch.ones(1, dtype=torch.bool)},
        )
