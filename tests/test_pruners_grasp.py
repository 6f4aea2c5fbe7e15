"""GraSP and |GraSP| against torch.func (forward-over-reverse Hg) and finite differences."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskkit.errors import OptionError
from maskkit.pruners import compute_scores, get_method

# torch.func.jvp goes through a torch.jit.script helper that warns on this torch version.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def mlp() -> nn.Module:
    torch.manual_seed(11)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def mlp_forward(p: dict, x: torch.Tensor) -> torch.Tensor:
    h = torch.tanh(x @ p["0.weight"].T + p["0.bias"])
    return h @ p["2.weight"].T + p["2.bias"]


class ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.bn(self.conv(x))).mean(dim=(2, 3)))


def conv_bn_forward(p: dict, x: torch.Tensor) -> torch.Tensor:
    h = F.conv2d(x, p["conv.weight"], padding=1)
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = ((h - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    h = (h - mean) / torch.sqrt(var + 1e-5)
    h = h * p["bn.weight"].view(1, -1, 1, 1) + p["bn.bias"].view(1, -1, 1, 1)
    return torch.tanh(h).mean(dim=(2, 3)) @ p["fc.weight"].T + p["fc.bias"]


def data(shape, n, classes, seed=4):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=gen), torch.randint(0, classes, (n,), generator=gen)


def loss_fn(forward, net, prunable, x, y, batch_size, temperature):
    p = {k: v.detach().double().clone() for k, v in net.named_parameters()}
    k = math.ceil(len(x) / batch_size)
    xs, ys = torch.tensor_split(x.double(), k), torch.tensor_split(y, k)

    def loss(w: dict) -> torch.Tensor:
        q = {**p, **w}
        return sum(
            F.cross_entropy(forward(q, xb) / temperature, yb) * (len(xb) / len(x))
            for xb, yb in zip(xs, ys, strict=True)
        )

    return loss, {n: p[n] for n in prunable}


def hg_forward_over_reverse(loss, w):
    g = torch.func.grad(loss)(w)
    return torch.func.jvp(torch.func.grad(loss), (w,), (g,))[1]


@pytest.mark.parametrize(
    ("make", "forward", "shape", "prunable", "batch_size"),
    [
        (mlp, mlp_forward, (5,), ["0.weight", "2.weight"], 256),
        (mlp, mlp_forward, (5,), ["0.weight", "2.weight"], 4),
        (ConvBN, conv_bn_forward, (2, 4, 4), ["conv.weight", "fc.weight"], 256),
        (ConvBN, conv_bn_forward, (2, 4, 4), ["conv.weight", "fc.weight"], 5),
    ],
)
def test_grasp_matches_float64_formula(make, forward, shape, prunable, batch_size):
    torch.manual_seed(12)
    net = make().double()
    x, y = data(shape, 10, 3)
    loss, w = loss_fn(forward, net, prunable, x, y, batch_size, temperature=200.0)
    hg = hg_forward_over_reverse(loss, w)
    opts = {"batch_size": batch_size}
    got = compute_scores(net, "grasp", prunable, data=(x, y), options=opts)
    got_abs = compute_scores(net, "grasp-abs", prunable, data=(x, y), options=opts)
    for n in prunable:
        ref = w[n] * hg[n]
        scale = float(ref.abs().max())
        assert scale > 0
        torch.testing.assert_close(got[n].double(), ref, rtol=1e-5, atol=1e-6 * scale)
        torch.testing.assert_close(got_abs[n].double(), ref.abs(), rtol=1e-5, atol=1e-6 * scale)
        assert (got[n] < 0).any() and (got[n] > 0).any()  # signed, unlike grasp-abs


def test_grasp_temperature_option_is_used():
    net = mlp().double()
    x, y = data((5,), 8, 3)
    prunable = ["0.weight", "2.weight"]
    loss, w = loss_fn(mlp_forward, net, prunable, x, y, 256, temperature=3.0)
    hg = hg_forward_over_reverse(loss, w)
    got = compute_scores(net, "grasp", prunable, data=(x, y), options={"temperature": 3})
    for n in prunable:
        ref = w[n] * hg[n]
        torch.testing.assert_close(
            got[n].double(), ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max())
        )


def test_hessian_gradient_product_matches_central_differences():
    net = mlp().double()
    x, y = data((5,), 12, 3)
    prunable = ["0.weight", "2.weight"]
    loss, w = loss_fn(mlp_forward, net, prunable, x, y, 256, temperature=200.0)

    def grad_at(wd):
        leaves = {n: t.clone().requires_grad_(True) for n, t in wd.items()}
        gs = torch.autograd.grad(loss(leaves), list(leaves.values()))
        return dict(zip(leaves, gs, strict=True))

    g = grad_at(w)
    norm = math.sqrt(sum(float((t * t).sum()) for t in g.values()))
    h = 1e-2 / norm  # a step of length 1e-2 along g
    plus = grad_at({n: w[n] + h * g[n] for n in w})
    minus = grad_at({n: w[n] - h * g[n] for n in w})
    got = compute_scores(net, "grasp", prunable, data=(x, y))
    for n in prunable:
        hg_fd = (plus[n] - minus[n]) / (2 * h)
        ref = w[n] * hg_fd
        torch.testing.assert_close(
            got[n].double(), ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max())
        )


def test_grasp_options_validation():
    with pytest.raises(OptionError, match="temperature"):
        get_method("grasp").make_options({"temperature": 0})
    with pytest.raises(OptionError, match="batch_size"):
        get_method("grasp-abs").make_options({"batch_size": 0})
    opts = get_method("grasp").make_options({"temperature": 50})
    assert opts.to_dict() == {
        "batch_size": 256,
        "temperature": 50.0,
        "batching": "near-equal",
        "combine": "mean",
        "batchnorm": "train",
    }


# -- the options that reproduce the references (spec/methods/grasp.md, "Differences") ---------
def pinned_default_grasp(net: nn.Module, prunable: list[str], x, y, batch_size, t=200.0) -> dict:
    """The default computation as it stood before the reference options existed, op for op."""
    net = copy.deepcopy(net)
    params = dict(net.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in prunable)
    net.train()
    ws = [params[n] for n in prunable]
    k = math.ceil(len(x) / batch_size)
    parts = list(zip(torch.tensor_split(x, k), torch.tensor_split(y, k), strict=True))
    g = [torch.zeros_like(w) for w in ws]
    for xb, yb in parts:
        loss = F.cross_entropy(net(xb) / t, yb) * (xb.shape[0] / len(x))
        for acc, gi in zip(g, torch.autograd.grad(loss, ws), strict=True):
            acc.add_(gi)
    hg = [torch.zeros_like(w) for w in ws]
    for xb, yb in parts:
        loss = F.cross_entropy(net(xb) / t, yb) * (xb.shape[0] / len(x))
        grad_f = torch.autograd.grad(loss, ws, create_graph=True)
        z = sum((gi * fi).sum() for gi, fi in zip(g, grad_f, strict=True))
        for acc, h in zip(hg, torch.autograd.grad(z, ws), strict=True):
            acc.add_(h)
    return {n: w.detach() * h for n, w, h in zip(prunable, ws, hg, strict=True)}


@pytest.mark.parametrize("batch_size", [256, 4])
def test_default_options_give_the_same_bits_as_before(batch_size):
    torch.manual_seed(12)
    net = ConvBN()
    x, y = data((2, 4, 4), 11, 3)
    prunable = ["conv.weight", "fc.weight"]
    want = pinned_default_grasp(net, prunable, x, y, batch_size)
    got = compute_scores(net, "grasp", prunable, data=(x, y), options={"batch_size": batch_size})
    for n in prunable:
        assert torch.equal(got[n], want[n]), n


def original_grasp_hg(net: nn.Module, prunable: list[str], x, y, t=200.0) -> dict:
    """The original GraSP, written from its description: the examples grouped by class and cut
    into two halves; g is the sum of the halves' gradients; Hg sums each half's Hessian times g.
    Forward-over-reverse with torch.func, so a second method to maskkit's double backward."""
    order = torch.sort(y, stable=True).indices
    xs, ys = x.double()[order], y[order]
    half = len(y) // 2
    p = {k: v.detach().double().clone() for k, v in net.named_parameters()}

    def loss(w: dict) -> torch.Tensor:
        q = {**p, **w}
        return sum(
            F.cross_entropy(conv_bn_forward(q, xb) / t, yb)
            for xb, yb in ((xs[:half], ys[:half]), (xs[half:], ys[half:]))
        )

    w = {n: p[n] for n in prunable}
    return {n: w[n] * h for n, h in hg_forward_over_reverse(loss, w).items()}


def test_class_halves_match_the_original_grasp():
    torch.manual_seed(12)
    net = ConvBN().double()
    x, y = data((2, 4, 4), 9, 3)
    y = torch.arange(9) % 3  # interleaved, as maskkit samples: grouping reorders the batches
    prunable = ["conv.weight", "fc.weight"]
    ref = original_grasp_hg(net, prunable, x, y)
    opts = {"batching": "class-halves", "combine": "sum"}
    got = compute_scores(net, "grasp", prunable, data=(x, y), options=opts)
    # Halves of 4 and 5: "mean" weights them 4/9 and 5/9 instead of 1 and 1.
    mean = compute_scores(net, "grasp", prunable, data=(x, y), options={"batching": "class-halves"})
    default = compute_scores(net, "grasp", prunable, data=(x, y))
    for n in prunable:
        scale = float(ref[n].abs().max())
        torch.testing.assert_close(got[n].double(), ref[n], rtol=1e-5, atol=1e-6 * scale)
        assert not torch.allclose(mean[n].double() * 4, ref[n], rtol=1e-2)
        assert not torch.allclose(default[n].double() * 4, ref[n], rtol=1e-2)


def test_batchnorm_eval_matches_the_model_in_eval_mode_differentiated_by_hand():
    torch.manual_seed(12)
    net = ConvBN().double()
    with torch.no_grad():
        net.bn.running_mean.fill_(0.5)
        net.bn.running_var.fill_(4.0)
    x, y = data((2, 4, 4), 10, 3)
    prunable = ["conv.weight", "fc.weight"]
    ref_net = copy.deepcopy(net).eval()
    ws = [dict(ref_net.named_parameters())[n] for n in prunable]
    x64 = x.double()
    g = torch.autograd.grad(F.cross_entropy(ref_net(x64) / 200.0, y), ws)
    grad_f = torch.autograd.grad(F.cross_entropy(ref_net(x64) / 200.0, y), ws, create_graph=True)
    z = sum((gi * fi).sum() for gi, fi in zip(g, grad_f, strict=True))
    hg = torch.autograd.grad(z, ws)
    got = compute_scores(net, "grasp", prunable, data=(x, y), options={"batchnorm": "eval"})
    got_abs = compute_scores(net, "grasp-abs", prunable, data=(x, y), options={"batchnorm": "eval"})
    train = compute_scores(net, "grasp", prunable, data=(x, y))
    for n, w, h in zip(prunable, ws, hg, strict=True):
        ref = (w * h).detach()
        scale = float(ref.abs().max())
        torch.testing.assert_close(got[n].double(), ref, rtol=1e-6, atol=1e-9 * scale)
        torch.testing.assert_close(got_abs[n].double(), ref.abs(), rtol=1e-6, atol=1e-9 * scale)
        assert not torch.allclose(got[n], train[n], rtol=1e-2)


def test_reference_options_are_recorded_and_checked():
    opts = get_method("grasp-abs").make_options({"batching": "class-halves", "batchnorm": "eval"})
    assert opts.to_dict() == {
        "batch_size": 256,
        "temperature": 200.0,
        "batching": "class-halves",
        "combine": "mean",
        "batchnorm": "eval",
    }
    with pytest.raises(OptionError, match="grasp: batching must be one of"):
        get_method("grasp").make_options({"batching": "halves"})
