"""torch.nn.utils.prune: reading live pruned models' state_dicts, and exporting back into one."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from maskkit.format import Mask
from maskkit.interop import export_openlth, export_torch_prune, import_mask, read_masks
from maskkit.models.binding import new_model
from tests.conftest import FIXTURES, random_mask_arrays

HERE = FIXTURES / "interop"
LAYERS = ["fc_layers.0.weight", "fc_layers.1.weight", "fc.weight"]


def tiny(seed: int = 0) -> nn.Module:
    model, _ = new_model(
        "lenet300", seed=seed, num_classes=3, input_shape=(1, 2, 2), overrides={"hidden": [6, 4]}
    )
    return model


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def module_of(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name.removesuffix(".weight"))


def test_reads_a_live_randomly_pruned_state_dict():
    torch.manual_seed(3)
    model = tiny()
    for name, amount in zip(LAYERS, (0.3, 0.6, 0.25), strict=True):
        prune.random_unstructured(module_of(model, name), "weight", amount)
    layout, masks = read_masks(saved(model.state_dict()), name="live.pt")
    assert layout == "torch-prune" and list(masks) == sorted(LAYERS)
    for name in LAYERS:
        assert np.array_equal(masks[name], module_of(model, name).weight_mask.numpy() == 1)


def test_only_pruned_layers_are_read_and_unrelated_mask_buffers_ignored():
    model = tiny()
    prune.l1_unstructured(model.fc, "weight", 0.5)
    model.register_buffer("attn_mask", torch.ones(2, 2))  # named *_mask, but not prune's
    state = model.state_dict()
    assert "attn_mask" in state
    _, masks = read_masks(saved(state))
    assert list(masks) == ["fc.weight"]


def test_dataparallel_state_dict_names_are_stripped():
    model = tiny()
    prune.l1_unstructured(model.fc, "weight", 0.5)
    state = nn.DataParallel(model).state_dict()
    assert "module.fc.weight_mask" in state
    _, masks = read_masks(saved(state))
    assert list(masks) == ["fc.weight"]
    assert np.array_equal(masks["fc.weight"], model.fc.weight_mask.numpy() == 1)


def test_export_is_a_weights_only_dict_of_float_masks():
    mask = Mask(
        random_mask_arrays(
            {n: p.shape for n, p in tiny().named_parameters() if n in LAYERS}, 0.4, 1
        )
    )
    loaded = torch.load(io.BytesIO(export_torch_prune(mask)), weights_only=True)
    assert sorted(loaded) == sorted(f"{n}_mask" for n in LAYERS)
    for name in LAYERS:
        tensor = loaded[f"{name}_mask"]
        assert tensor.dtype == torch.float32
        assert np.array_equal(tensor.numpy(), mask.arrays[name].astype(np.float32))


def test_export_loads_into_a_really_pruned_model_and_zeroes_the_weights():
    shapes = {n: tuple(p.shape) for n, p in tiny().named_parameters() if n in LAYERS}
    mask = Mask(random_mask_arrays(shapes, 0.3, seed=5))
    exported = torch.load(io.BytesIO(export_torch_prune(mask)), weights_only=True)

    # A model pruned by torch itself (identity: all-ones masks), then given maskkit's masks.
    model = tiny(seed=1)
    originals = {n: module_of(model, n).weight.detach().clone() for n in LAYERS}
    for name in LAYERS:
        prune.identity(module_of(model, name), "weight")
    result = model.load_state_dict(exported, strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(
        [f"{n}_orig" for n in LAYERS] + [n.replace(".weight", ".bias") for n in LAYERS]
    )
    model(torch.ones(1, 1, 2, 2))  # the forward pre-hook recomputes the effective weights
    for name in LAYERS:
        weight = module_of(model, name).weight.detach().numpy()
        keep = mask.arrays[name]
        assert (weight[~keep] == 0).all()
        assert np.array_equal(weight[keep], originals[name].numpy()[keep])
        assert (originals[name].numpy()[keep] != 0).all()  # so the check above has teeth
    # and the pruned model's own state_dict reads back as the same mask
    again = import_mask(saved(model.state_dict()), name="again.pt")
    assert again.content_hash == mask.content_hash


def test_custom_from_mask_recipe_in_the_module_docstring_works():
    shapes = {n: tuple(p.shape) for n, p in tiny().named_parameters() if n in LAYERS}
    mask = Mask(random_mask_arrays(shapes, 0.5, seed=9))
    model = tiny()
    masks = torch.load(io.BytesIO(export_torch_prune(mask)), weights_only=True)
    for key, value in masks.items():
        module_name, _, param = key.removesuffix("_mask").rpartition(".")
        prune.custom_from_mask(model.get_submodule(module_name), param, value)
    for name in LAYERS:
        assert np.array_equal(
            module_of(model, name).weight.detach().numpy() != 0, mask.arrays[name]
        )


@pytest.mark.parametrize(
    "path",
    [
        "torch_prune_state_dict.pt",
        "torch_prune_wrapped.pt",
        "openlth/mask.pth",
        "nni_mask_dataparallel.pth",
        "ao_sparsifier.pt",
        "masks.safetensors",
        "masks.npz",
    ],
)
@pytest.mark.parametrize("export", [export_torch_prune, lambda m: export_openlth(m)["mask.pth"]])
def test_import_export_import_keeps_the_content_hash(path, export):
    first = import_mask(HERE / path)
    second = import_mask(export(first), name="exported")
    assert second.content_hash == first.content_hash
    assert list(second.arrays) == list(first.arrays)
    assert import_mask(second.to_bytes()).content_hash == first.content_hash
