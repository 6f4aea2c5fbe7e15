"""SNIP against a float64 recomputation written directly from |w * dL/dw| with torch.func."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskkit.errors import OptionError
from maskkit.pruners import compute_scores


def mlp() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))


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
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(h.mean(dim=(2, 3)))


def conv_bn() -> ConvBN:
    torch.manual_seed(2)
    net = ConvBN()
    with torch.no_grad():
        net.bn.weight.uniform_(0.2, 1.0)
        net.bn.bias.normal_()
        # Wrong on purpose: scoring must use batch statistics (train mode), not these.
        net.bn.running_mean.fill_(3.0)
        net.bn.running_var.fill_(9.0)
    return net


def conv_bn_forward(p: dict, x: torch.Tensor) -> torch.Tensor:
    h = F.conv2d(x, p["conv.weight"], padding=1)
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = ((h - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)  # biased, as BatchNorm trains
    h = (h - mean) / torch.sqrt(var + 1e-5)
    h = h * p["bn.weight"].view(1, -1, 1, 1) + p["bn.bias"].view(1, -1, 1, 1)
    h = torch.relu(h).mean(dim=(2, 3))
    return h @ p["fc.weight"].T + p["fc.bias"]


def params64(net: nn.Module) -> dict:
    return {k: v.detach().double().clone() for k, v in net.named_parameters()}


def mean_loss(forward, p, x, y, batch_size, temperature=1.0):
    """sum over near-equal batches of (batch size / n) * mean cross-entropy, from the spec."""
    k = math.ceil(x.shape[0] / batch_size)
    total = 0.0
    for xb, yb in zip(torch.tensor_split(x, k), torch.tensor_split(y, k), strict=True):
        total = total + F.cross_entropy(forward(p, xb) / temperature, yb) * (len(xb) / len(x))
    return total


def snip_reference(forward, net, prunable, x, y, batch_size):
    p = params64(net)

    def loss_of(wdict):
        return mean_loss(forward, {**p, **wdict}, x.double(), y, batch_size)

    w = {n: p[n] for n in prunable}
    g = torch.func.grad(loss_of)(w)
    return {n: (w[n] * g[n]).abs() for n in prunable}


def data(shape, n=10, classes=4, seed=3):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=gen), torch.randint(0, classes, (n,), generator=gen)


@pytest.mark.parametrize("batch_size", [256, 3])
def test_snip_mlp_matches_float64_formula(batch_size):
    net = mlp()
    x, y = data((6,))
    prunable = ["0.weight", "2.weight"]
    ref = snip_reference(mlp_forward, net, prunable, x, y, batch_size)
    got = compute_scores(net, "snip", prunable, data=(x, y), options={"batch_size": batch_size})
    for n in prunable:
        assert got[n].dtype == torch.float32
        torch.testing.assert_close(got[n].double(), ref[n], rtol=1e-4, atol=1e-7)
    # Without BatchNorm the batch split does not matter: it is the mean loss over all examples.
    ref_full = snip_reference(mlp_forward, net, prunable, x, y, 10_000)
    for n in prunable:
        torch.testing.assert_close(ref[n], ref_full[n], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("batch_size", [256, 4])
def test_snip_conv_bn_matches_float64_formula_in_train_mode(batch_size):
    net = conv_bn()
    x, y = data((2, 5, 5), n=9)
    prunable = ["conv.weight", "fc.weight"]
    ref = snip_reference(conv_bn_forward, net, prunable, x, y, batch_size)
    # A float64 model gives float64 arithmetic, so the match is tight.
    got64 = compute_scores(
        net.double(), "snip", prunable, data=(x, y), options={"batch_size": batch_size}
    )
    got32 = compute_scores(
        net.float(), "snip", prunable, data=(x, y), options={"batch_size": batch_size}
    )
    for n in prunable:
        torch.testing.assert_close(got64[n].double(), ref[n], rtol=1e-6, atol=1e-12)
        torch.testing.assert_close(got32[n].double(), ref[n], rtol=1e-3, atol=1e-6)


def test_snip_needs_data():
    with pytest.raises(OptionError, match="needs scoring data"):
        compute_scores(mlp(), "snip", ["0.weight"])


def test_snip_is_deterministic_and_keeps_global_rng():
    net = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.Linear(8, 4))
    x, y = data((6,))
    state = torch.get_rng_state()
    a = compute_scores(net, "snip", ["0.weight"], data=(x, y), seed=5)
    b = compute_scores(net, "snip", ["0.weight"], data=(x, y), seed=5)
    c = compute_scores(net, "snip", ["0.weight"], data=(x, y), seed=6)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a["0.weight"], b["0.weight"])
    assert not torch.equal(a["0.weight"], c["0.weight"])  # dropout draws follow the seed
