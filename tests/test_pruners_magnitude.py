"""magnitude: |w| as float32, never sharing memory with the model."""

from __future__ import annotations

import torch
from torch import nn

from maskkit.pruners import compute_scores


def test_magnitude_is_absolute_weight():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(12, 4))
    w = {n: p.detach().clone() for n, p in net.named_parameters()}
    got = compute_scores(net, "magnitude", ["0.weight", "2.weight"])
    for name in got:
        assert got[name].dtype == torch.float32
        assert torch.equal(got[name], w[name].abs())
        got[name].fill_(-1.0)  # writing to the result must not reach the model
        assert torch.equal(dict(net.named_parameters())[name].detach(), w[name])


def test_magnitude_of_float64_model_is_rounded_to_float32():
    net = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[-1.0 / 3.0, 2.0]], dtype=torch.float64))
    got = compute_scores(net, "magnitude", ["weight"])["weight"]
    assert got.dtype == torch.float32
    assert got.tolist() == [[torch.tensor(1.0 / 3.0, dtype=torch.float32).item(), 2.0]]
