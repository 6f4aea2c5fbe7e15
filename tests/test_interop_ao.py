"""torch.ao.pruning: a real WeightNormSparsifier's state_dict, and the layout built by hand."""

from __future__ import annotations

import collections
import io
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.pruning import WeightNormSparsifier

from maskkit.errors import FormatError
from maskkit.interop import read_masks
from maskkit.interop._torchfile import load_torch

FQNS = ["0.weight", "2.weight"]


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def sparsified(wrap=lambda m: m):
    torch.manual_seed(0)
    model = wrap(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)))
    sparsifier = WeightNormSparsifier(
        sparsity_level=0.5, sparse_block_shape=(1, 4), zeros_per_block=4
    )
    prefix = "module." if isinstance(model, nn.DataParallel) else ""
    sparsifier.prepare(model, config=[{"tensor_fqn": prefix + f} for f in FQNS])
    sparsifier.step()
    return model, sparsifier


def test_reads_a_real_weight_norm_sparsifier_state_dict():
    model, sparsifier = sparsified()
    state = sparsifier.state_dict()
    assert isinstance(state["state"], collections.defaultdict)  # what torch really saves
    layout, masks = read_masks(saved(state), name="sparsifier.pt")
    assert layout == "ao" and list(masks) == FQNS
    for fqn in FQNS:
        tool = sparsifier.state[fqn]["mask"]
        assert np.array_equal(masks[fqn], tool.numpy() == 1)
        # and it is the mask the parametrization really applies to the weight
        module = model[int(fqn.split(".")[0])]
        assert np.array_equal(module.weight.detach().numpy() != 0, masks[fqn])
        # blocks of 4 along a row, half the blocks zeroed: a second, independent count
        rows = masks[fqn].reshape(masks[fqn].shape[0], -1, 4)
        assert set(rows.all(axis=2).ravel() | ~rows.any(axis=2).ravel()) == {True}
        assert (~rows.any(axis=2)).sum() == rows.shape[0] * rows.shape[1] // 2


def test_sparsifier_over_dataparallel_names_are_stripped():
    _, sparsifier = sparsified(nn.DataParallel)
    assert "module.0.weight" in sparsifier.state
    _, masks = read_masks(saved(sparsifier.state_dict()))
    assert list(masks) == FQNS


def test_hand_built_layout_and_bare_state():
    # BaseSparsifier.state_dict() = {"state": {tensor_fqn: {"mask": ...}}, "groups": [...]}
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    doc = {
        "state": {"fc.weight": {"mask": mask}},
        "groups": [{"tensor_fqn": "fc.weight", "sparsity_level": 0.5}],
    }
    for obj in (doc, doc["state"]):
        layout, masks = read_masks(saved(obj))
        assert layout == "ao"
        assert masks["fc.weight"].tolist() == [[True, False, True], [False, False, True]]


def test_the_defaultdict_never_runs_its_pickled_factory():
    loaded = load_torch(saved(sparsified()[1].state_dict()), source="s.pt")
    assert type(loaded["state"]) is dict
    # A defaultdict whose factory is a dangerous global is still refused.
    hostile = collections.defaultdict(exec)
    hostile["fc.weight"] = {"mask": torch.ones(2)}
    with pytest.raises(FormatError, match="refusing to unpickle: it asks for 'exec'"):
        read_masks(saved({"state": hostile}), name="hostile.pt")
    assert "maskkit_fixture_unpickled" not in sys.modules


def test_a_prepared_model_state_dict_points_to_the_sparsifier_state():
    model, _ = sparsified()
    state = model.state_dict()
    assert "0.parametrizations.weight.original" in state
    with pytest.raises(FormatError, match=r"m\.pt: a model prepared by a torch\.ao\.pruning"):
        read_masks(saved(state), name="m.pt")


def test_a_parametrization_that_saves_its_mask_is_read():
    mask = torch.tensor([[1, 0], [0, 1]], dtype=torch.uint8)
    state = {
        "fc.parametrizations.weight.original": torch.randn(2, 2),
        "fc.parametrizations.weight.0.mask": mask,
        "fc.bias": torch.randn(2),
    }
    layout, masks = read_masks(saved(state))
    assert layout == "ao" and list(masks) == ["fc.weight"]
    assert np.array_equal(masks["fc.weight"], mask.numpy() == 1)
