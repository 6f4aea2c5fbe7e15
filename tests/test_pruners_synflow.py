"""SynFlow against its closed form on deep linear networks and against a naive iterative loop."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from maskkit import masking
from maskkit.errors import OptionError
from maskkit.masking import n_to_prune
from maskkit.pruners import compute_scores, get_method


def prune_lowest(scores, n_prune):
    """maskkit.masking.prune_lowest on the scores as numpy arrays, its masks back as tensors."""
    arrays = {name: s.detach().numpy() for name, s in scores.items()}
    return {name: torch.from_numpy(m) for name, m in masking.prune_lowest(arrays, n_prune).items()}


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny float64 convolutions crawl on a busy two-thread pool; one thread is 100x faster here.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def linear_chain(sizes, seed=0, scale=1.0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = [nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(sizes)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(scale)
    return nn.Sequential(*layers)


def chain_closed_form(weights: list[torch.Tensor], masks=None) -> list[torch.Tensor]:
    """Score of W_l[i, j] = |W_l[i, j]| * (1^T |W_L| ... |W_l+1|)_i * (|W_l-1| ... |W_1| 1)_j."""
    a = [w.detach().double().abs() for w in weights]
    if masks is not None:
        a = [t * m for t, m in zip(a, masks, strict=True)]
    out = []
    for layer in range(len(a)):
        right = torch.ones(a[0].shape[1], dtype=torch.float64)
        for t in a[:layer]:
            right = t @ right
        left = torch.ones(a[-1].shape[0], dtype=torch.float64)
        for t in reversed(a[layer + 1 :]):
            left = left @ t
        out.append(a[layer] * left[:, None] * right[None, :])
    return out


def schedule(sparsity, rounds, n, already=0):
    counts, prev = [], already
    for e in range(1, rounds + 1):
        d = (1 - sparsity) ** (e / rounds)
        c = n_to_prune(sparsity, n) if e == rounds else n_to_prune(1 - d, n)
        prev = max(prev, c)
        counts.append(prev)
    return counts


def test_two_layer_closed_form():
    net = linear_chain([6, 5, 3])
    w1, w2 = net[0].weight.detach().double(), net[1].weight.detach().double()
    got = compute_scores(
        net,
        "synflow",
        ["0.weight", "1.weight"],
        options={"input_shape": (6,), "sparsity": 0.0, "rounds": 1},
    )
    # W1[i, j]: |W1[i, j]| times column sum i of |W2|; W2[k, i]: |W2[k, i]| times row sum i of |W1|
    ref1 = w1.abs() * w2.abs().sum(dim=0)[:, None]
    ref2 = w2.abs() * w1.abs().sum(dim=1)[None, :]
    torch.testing.assert_close(got["0.weight"].double(), ref1, rtol=1e-6, atol=0)
    torch.testing.assert_close(got["1.weight"].double(), ref2, rtol=1e-6, atol=0)


def test_iterative_matches_closed_form_loop():
    net = linear_chain([8, 9, 7, 4], seed=3)
    names = ["0.weight", "1.weight", "2.weight"]
    weights = [net[i].weight for i in range(3)]
    sparsity, rounds = 0.8, 10
    n = sum(w.numel() for w in weights)
    keep = [torch.ones_like(w, dtype=torch.bool) for w in weights]
    pruned = 0
    for e, count in enumerate(schedule(sparsity, rounds, n), start=1):
        last = chain_closed_form(weights, keep)
        if count > pruned:
            ranked = {
                nm: s.masked_fill(~k, -torch.inf)
                for nm, s, k in zip(names, last, keep, strict=True)
            }
            new = prune_lowest(ranked, count)
            keep = [new[nm] for nm in names]
            pruned = count
        assert e <= rounds
    got = compute_scores(
        net, "synflow", names, options={"input_shape": (8,), "sparsity": sparsity, "rounds": rounds}
    )
    final = prune_lowest(got, n_to_prune(sparsity, n))
    for nm, k, s in zip(names, keep, last, strict=True):
        assert torch.equal(final[nm], k)
        # Survivors carry their last-round score; weights pruned in the rounds are negative.
        torch.testing.assert_close(got[nm][k].double(), s[k], rtol=1e-6, atol=0)
        assert (got[nm][~k] < 0).all() and (got[nm][~k] >= -rounds).all()
        assert (got[nm][k] >= 0).all()


class ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv1(x)))
        h = torch.relu(self.conv2(h))
        return self.fc(h.mean(dim=(2, 3)))


PRUNABLE = ["conv1.weight", "conv2.weight", "fc.weight"]


def conv_bn() -> ConvBN:
    torch.manual_seed(5)
    net = ConvBN()
    with torch.no_grad():
        net.bn.weight.uniform_(-1, 1)
        net.bn.bias.uniform_(-1, 1)
    return net


def naive_rounds(model, prunable, shape, sparsity, rounds, mask=None):
    """The masks after each round, re-copying the model every round (the spec, written plainly)."""
    keep = {n: torch.ones_like(p, dtype=torch.bool) for n, p in model.named_parameters()}
    if mask is not None:
        keep.update(mask)
    n = sum(keep[name].numel() for name in prunable)
    already = sum(int((~keep[name]).sum()) for name in prunable)
    history = []
    for count in schedule(sparsity, rounds, n, already):
        net = copy.deepcopy(model).double().eval()
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(p.abs() * keep[name])
        net(torch.ones((1, *shape), dtype=torch.float64)).sum().backward()
        scores = {
            name: (params[name] * params[name].grad).abs().masked_fill(~keep[name], -torch.inf)
            for name in prunable
        }
        keep.update(prune_lowest(scores, count))
        history.append((count, {name: keep[name].clone() for name in prunable}))
    return history


@pytest.mark.parametrize(("sparsity", "rounds"), [(0.5, 1), (0.9, 7), (0.99, 100), (0.3, 100)])
def test_scores_reproduce_the_iterative_masks_exactly(sparsity, rounds):
    net = conv_bn()
    history = naive_rounds(net, PRUNABLE, (3, 6, 6), sparsity, rounds)
    got = compute_scores(
        net,
        "synflow",
        PRUNABLE,
        options={"input_shape": (3, 6, 6), "sparsity": sparsity, "rounds": rounds},
    )
    n = sum(t.numel() for t in got.values())
    final = prune_lowest(got, n_to_prune(sparsity, n))
    assert history[-1][0] == n_to_prune(sparsity, n)
    for name in PRUNABLE:
        assert torch.equal(final[name], history[-1][1][name])
    # Scores are ordered by pruning round, so every intermediate mask is reproduced as well.
    for count, masks in history:
        again = prune_lowest(got, count)
        assert all(torch.equal(again[name], masks[name]) for name in PRUNABLE)


def test_input_mask_stays_pruned_and_is_zero_during_the_rounds():
    net = conv_bn()
    gen = torch.Generator().manual_seed(9)
    mask = {
        name: torch.rand(p.shape, generator=gen) > 0.3
        for name, p in net.named_parameters()
        if name in PRUNABLE
    }
    history = naive_rounds(net, PRUNABLE, (3, 6, 6), 0.8, 5, mask=mask)
    got = compute_scores(
        net,
        "synflow",
        PRUNABLE,
        mask=mask,
        options={"input_shape": (3, 6, 6), "sparsity": 0.8, "rounds": 5},
    )
    n = sum(t.numel() for t in got.values())
    final = prune_lowest(got, n_to_prune(0.8, n))
    for name in PRUNABLE:
        assert torch.isneginf(got[name][~mask[name]]).all()
        assert torch.isfinite(got[name][mask[name]]).all()
        assert torch.equal(final[name], history[-1][1][name])


def test_tied_scores_are_pruned_in_canonical_order_whatever_the_prunable_order():
    # Equal magnitudes: weights at one kernel position see the same flow, so scores tie in large
    # groups; only the survivors are ranked, and ties must still fall in sorted-name C order.
    net = conv_bn()
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name in PRUNABLE:
            params[name].copy_(torch.where(params[name] < 0, -0.5, 0.5))
    order = ["fc.weight", "conv2.weight", "conv1.weight"]
    history = naive_rounds(net, order, (3, 6, 6), 0.7, 6)
    got = compute_scores(
        net, "synflow", order, options={"input_shape": (3, 6, 6), "sparsity": 0.7, "rounds": 6}
    )
    survivors = torch.cat([got[n][got[n] >= 0] for n in order])
    assert survivors.unique().numel() < survivors.numel() // 4  # the ties are really there
    for count, masks in history:
        again = prune_lowest(got, count)
        assert all(torch.equal(again[name], masks[name]) for name in order)


def test_the_input_mask_is_not_modified():
    net = conv_bn()
    mask = {
        name: torch.rand(p.shape) > 0.5 for name, p in net.named_parameters() if name in PRUNABLE
    }
    before = {name: m.clone() for name, m in mask.items()}
    compute_scores(
        net, "synflow", PRUNABLE, mask=mask, options={"input_shape": (3, 6, 6), "sparsity": 0.9}
    )
    assert all(torch.equal(mask[name], before[name]) for name in PRUNABLE)


@pytest.mark.parametrize("sparsity", [0.6, 0.98])
def test_iterative_synflow_avoids_layer_collapse_where_magnitude_does_not(sparsity):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(20, 20, bias=False),
        nn.ReLU(),
        nn.Linear(20, 20, bias=False),
        nn.ReLU(),
        nn.Linear(20, 10, bias=False),
    )
    with torch.no_grad():
        net[2].weight.mul_(1e-3)  # the middle layer is tiny: magnitude prunes it first
    names = ["0.weight", "2.weight", "4.weight"]
    n = 1000
    mag = prune_lowest(compute_scores(net, "magnitude", names), n_to_prune(sparsity, n))
    assert not mag["2.weight"].any()  # one-shot magnitude removes the whole middle layer
    syn = prune_lowest(
        compute_scores(net, "synflow", names, options={"input_shape": (20,), "sparsity": sparsity}),
        n_to_prune(sparsity, n),
    )
    for name in names:
        assert syn[name].any(), name
    # And the pruned network still connects input to output.
    a = [
        net[i].weight.detach().abs().double() * syn[nm]
        for i, nm in zip((0, 2, 4), names, strict=True)
    ]
    assert float((a[2] @ a[1] @ a[0]).sum()) > 0


def test_batchnorm_eval_mode_abs_parameters_and_running_stats_as_they_are():
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.BatchNorm1d(4), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([-0.5, 0.8, -1.2, 0.3]))
        net[1].bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.4]))
        net[1].running_mean.copy_(torch.tensor([-0.3, 0.2, -0.1, 0.05]))
        net[1].running_var.copy_(torch.tensor([0.5, 2.0, 1.5, 4.0]))
    w1, w2 = net[0].weight.detach().double(), net[2].weight.detach().double()
    gamma, beta = net[1].weight.detach().double().abs(), net[1].bias.detach().double().abs()
    mu, var = net[1].running_mean.double(), net[1].running_var.double()
    inv = gamma / torch.sqrt(var + 1e-5)
    h = (w1.abs().sum(dim=1) - mu) * inv + beta
    ref1 = w1.abs() * (w2.abs().sum(dim=0) * inv)[:, None]
    ref2 = (w2.abs() * h[None, :]).abs()
    got = compute_scores(
        net,
        "synflow",
        ["0.weight", "2.weight"],
        options={"input_shape": (3,), "sparsity": 0.0, "rounds": 1},
    )
    torch.testing.assert_close(got["0.weight"].double(), ref1, rtol=1e-6, atol=0)
    torch.testing.assert_close(got["2.weight"].double(), ref2, rtol=1e-6, atol=0)
    assert net[1].weight[0] < 0 and net.training  # the input model is untouched


def test_float64_flow_and_overflow_safe_float32_scores():
    net = linear_chain([20, 20, 20, 20, 20], seed=2, scale=1e10)
    names = [f"{i}.weight" for i in range(4)]
    flow32 = torch.ones(20)
    for i in range(4):  # the same flow in float32 overflows
        flow32 = net[i].weight.detach().abs() @ flow32
    assert torch.isinf(flow32).all()
    got = compute_scores(
        net, "synflow", names, options={"input_shape": (20,), "sparsity": 0.0, "rounds": 1}
    )
    ref = chain_closed_form([net[i].weight for i in range(4)])
    top_ref = max(float(r.max()) for r in ref)
    top_got = max(float(g.max()) for g in got.values())
    assert top_ref > 1e39 and torch.isfinite(torch.tensor(top_got))
    for name, r in zip(names, ref, strict=True):
        torch.testing.assert_close(got[name].double() / top_got, r / top_ref, rtol=1e-6, atol=1e-30)


def test_synflow_options():
    method = get_method("synflow")
    with pytest.raises(OptionError, match="missing required option"):
        compute_scores(linear_chain([2, 2]), "synflow", ["0.weight"])
    for bad in (
        {"sparsity": 1.0},
        {"sparsity": -0.1},
        {"rounds": 0},
        {"input_shape": ()},
        {"input_shape": (3, 0)},
        {"input_shape": 3},
    ):
        with pytest.raises(OptionError):
            method.make_options({"input_shape": (3, 4), "sparsity": 0.5, **bad})
    opts = method.make_options({"input_shape": [3, 32, 32], "sparsity": 0.9})
    assert opts.input_shape == (3, 32, 32)
    assert opts.to_dict() == {"input_shape": [3, 32, 32], "sparsity": 0.9, "rounds": 100}


@pytest.mark.parametrize("count", [1, 5, 333, 999, 1000])
@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_survivor_ranking_prunes_what_prune_lowest_prunes(count, chunk):
    from maskkit.pruners.synflow import _keep_highest

    rng = np.random.default_rng(1)
    values = rng.integers(0, 6, 1000).astype(np.float64)  # six values: ties everywhere
    values[::97] = np.inf
    expected = masking.prune_lowest({"v": values}, count)["v"]
    got = _keep_highest(values, count, chunk=chunk)
    assert np.array_equal(got, expected) and int((~got).sum()) == count
