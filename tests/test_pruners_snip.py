"""SNIP against a float64 recomputation written directly from |w * dL/dw| with torch.func."""

from __future__ import annotations

import copy
import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskkit.errors import OptionError
from maskkit.format import load
from maskkit.pruners import compute_scores, get_method
from tests.conftest import invoke


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


# -- the options that reproduce the references (spec/methods/snip.md, "Differences") ----------
def pinned_default_snip(net: nn.Module, prunable: list[str], x, y, batch_size: int) -> dict:
    """The default computation as it stood before the reference options existed, op for op:
    train mode, near-equal batches, each batch's loss times its share, gradients summed."""
    net = copy.deepcopy(net)
    params = dict(net.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in prunable)
    net.train()
    ws = [params[n] for n in prunable]
    total = [torch.zeros_like(w) for w in ws]
    k = math.ceil(len(x) / batch_size)
    for xb, yb in zip(torch.tensor_split(x, k), torch.tensor_split(y, k), strict=True):
        loss = F.cross_entropy(net(xb) / 1.0, yb) * (xb.shape[0] / len(x))
        for acc, g in zip(total, torch.autograd.grad(loss, ws), strict=True):
            acc.add_(g)
    return {n: (w.detach() * g).abs() for n, w, g in zip(prunable, ws, total, strict=True)}


@pytest.mark.parametrize("batch_size", [256, 4])
def test_default_options_give_the_same_bits_as_before(batch_size):
    net = conv_bn()
    x, y = data((2, 5, 5), n=11)
    prunable = ["conv.weight", "fc.weight"]
    want = pinned_default_snip(net, prunable, x, y, batch_size)
    got = compute_scores(net, "snip", prunable, data=(x, y), options={"batch_size": batch_size})
    for n in prunable:
        assert torch.equal(got[n], want[n]), n


def conv_bn_eval_forward(p: dict, x: torch.Tensor, net: ConvBN) -> torch.Tensor:
    """BatchNorm with the stored running statistics, written out."""
    h = F.conv2d(x, p["conv.weight"], padding=1)
    mean = net.bn.running_mean.double().view(1, -1, 1, 1)
    var = net.bn.running_var.double().view(1, -1, 1, 1)
    h = (h - mean) / torch.sqrt(var + 1e-5)
    h = h * p["bn.weight"].view(1, -1, 1, 1) + p["bn.bias"].view(1, -1, 1, 1)
    return torch.relu(h).mean(dim=(2, 3)) @ p["fc.weight"].T + p["fc.bias"]


def test_batchnorm_eval_uses_the_running_statistics():
    net = conv_bn()  # running mean 3, variance 9: far from any batch's statistics
    x, y = data((2, 5, 5), n=9)
    prunable = ["conv.weight", "fc.weight"]
    # Second method: the model itself in eval mode, differentiated with autograd.
    ref_net = copy.deepcopy(net).double().eval()
    ws = [dict(ref_net.named_parameters())[n] for n in prunable]
    loss = F.cross_entropy(ref_net(x.double()), y)
    grads = torch.autograd.grad(loss, ws)
    by_hand = {n: (w * g).abs().detach() for n, w, g in zip(prunable, ws, grads, strict=True)}
    # Third: the formula written out with torch.func.
    p = params64(net)
    w = {n: p[n] for n in prunable}
    g = torch.func.grad(
        lambda wd: F.cross_entropy(conv_bn_eval_forward({**p, **wd}, x.double(), net), y)
    )(w)
    opts = {"batchnorm": "eval", "batch_size": 4}  # batches do not matter in eval mode
    got = compute_scores(net.double(), "snip", prunable, data=(x, y), options=opts)
    train = compute_scores(net.double(), "snip", prunable, data=(x, y))
    for n in prunable:
        torch.testing.assert_close(got[n].double(), by_hand[n], rtol=1e-6, atol=1e-12)
        torch.testing.assert_close(got[n].double(), (w[n] * g[n]).abs(), rtol=1e-6, atol=1e-12)
        assert not torch.allclose(got[n], train[n], rtol=1e-2)


def test_batchnorm_eval_leaves_dropout_on():
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 4))
    x, y = data((6,))
    opts = {"batchnorm": "eval"}
    a = compute_scores(net, "snip", ["0.weight"], data=(x, y), options=opts, seed=5)
    b = compute_scores(net, "snip", ["0.weight"], data=(x, y), options=opts, seed=6)
    assert not torch.equal(a["0.weight"], b["0.weight"])


def fixed_sum_loss(forward, p, x, y, batch_size):
    """Synaptic-Flow's loss: batches of exactly batch_size (the last smaller), means added."""
    return sum(
        F.cross_entropy(forward(p, xb), yb)
        for xb, yb in zip(torch.split(x, batch_size), torch.split(y, batch_size), strict=True)
    )


def test_fixed_batches_summed_match_the_formula():
    net = conv_bn()
    x, y = data((2, 5, 5), n=10)  # batches of 4, 4 and 2 (near-equal: 4, 3 and 3)
    prunable = ["conv.weight", "fc.weight"]
    p = params64(net)
    w = {n: p[n] for n in prunable}
    g = torch.func.grad(lambda wd: fixed_sum_loss(conv_bn_forward, {**p, **wd}, x.double(), y, 4))(
        w
    )
    opts = {"batch_size": 4, "batching": "fixed", "combine": "sum"}
    got = compute_scores(net.double(), "snip", prunable, data=(x, y), options=opts)
    near_equal = compute_scores(
        net.double(), "snip", prunable, data=(x, y), options={"batch_size": 4}
    )
    for n in prunable:
        torch.testing.assert_close(got[n].double(), (w[n] * g[n]).abs(), rtol=1e-6, atol=1e-12)
        assert not torch.allclose(got[n], near_equal[n], rtol=1e-2)


def test_summing_unequal_batches_changes_the_ranking_without_batchnorm():
    net = mlp()
    x, y = data((6,), n=10)
    prunable = ["0.weight", "2.weight"]
    full = snip_reference(mlp_forward, net, prunable, x, y, 10)
    fixed_mean = compute_scores(
        net, "snip", prunable, data=(x, y), options={"batch_size": 4, "batching": "fixed"}
    )
    for n in prunable:  # size-weighted: the mean loss whatever the batches
        torch.testing.assert_close(fixed_mean[n].double(), full[n], rtol=1e-4, atol=1e-7)
    # Batches of 4, 4 and 2, added up: the last two examples count twice as much.
    p = params64(net)
    w = {n: p[n] for n in prunable}
    g = torch.func.grad(lambda wd: fixed_sum_loss(mlp_forward, {**p, **wd}, x.double(), y, 4))(w)
    fixed_sum = compute_scores(
        net,
        "snip",
        prunable,
        data=(x, y),
        options={"batch_size": 4, "batching": "fixed", "combine": "sum"},
    )
    for n in prunable:
        torch.testing.assert_close(fixed_sum[n].double(), (w[n] * g[n]).abs(), rtol=1e-4, atol=1e-7)
    ratio = torch.cat([(fixed_sum[n].double() / full[n]).flatten() for n in prunable])
    assert float(ratio.max() - ratio.min()) > 0.1  # not a rescaling of the mean's scores


def test_fixed_batches_refuse_a_last_batch_of_one_under_batchnorm():
    net = conv_bn()
    x, y = data((2, 5, 5), n=9)
    with pytest.raises(OptionError, match=r"batching fixed with batch_size 4 leaves a last batch"):
        compute_scores(
            net,
            "snip",
            ["conv.weight"],
            data=(x, y),
            options={"batch_size": 4, "batching": "fixed"},
        )
    # In eval mode BatchNorm needs no batch statistics, so one example is fine.
    compute_scores(
        net,
        "snip",
        ["conv.weight"],
        data=(x, y),
        options={"batch_size": 4, "batching": "fixed", "batchnorm": "eval"},
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"batching": "equal"},
            "batching must be one of near-equal, fixed, class-halves, not 'equal'",
        ),
        ({"combine": "max"}, "combine must be one of mean, sum, not 'max'"),
        ({"batchnorm": True}, "batchnorm must be one of train, eval, not True"),
    ],
)
def test_reference_options_are_checked(options, message):
    with pytest.raises(OptionError, match=re.escape(f"snip: {message}")):
        get_method("snip").make_options(options)


def test_reference_options_reach_the_provenance_from_the_cli():
    result = invoke(
        [
            "score",
            "--model",
            "lenet300",
            "--method",
            "snip",
            "--dataset",
            "synthetic",
            "--batching",
            "fixed",
            "--combine",
            "sum",
            "--batchnorm",
            "eval",
        ],
    )
    assert result.exit_code == 0, result.stderr
    record = load(result.stdout_bytes, kind="scores").provenance[-1]
    assert record.options["batching"] == "fixed"
    assert record.options["combine"] == "sum"
    assert record.options["batchnorm"] == "eval"
    assert invoke(["score", "--method", "snip", "--batching", "x"]).exit_code == 2
