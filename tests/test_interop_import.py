"""import_mask: the v1 mask it makes, unbound or bound to a model, and its provenance record."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import safetensors.numpy
import torch

from maskkit._version import __version__
from maskkit.errors import ModelMismatchError, OptionError
from maskkit.format import InitRef, Mask, ModelBinding, StageRecord, load
from maskkit.interop import import_mask, read_masks
from maskkit.models.binding import apply_mask, new_model
from tests.conftest import FIXTURES

HERE = FIXTURES / "interop"
TINY = {
    "model": "lenet300",
    "model_args": {"hidden": [6, 4]},
    "input_shape": (1, 2, 2),
    "num_classes": 3,
}


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def tiny_binding() -> ModelBinding:
    return new_model(
        "lenet300", seed=0, num_classes=3, input_shape=(1, 2, 2), overrides={"hidden": [6, 4]}
    )[1]


def two_layer_file() -> bytes:
    """An OpenLTH-style file that leaves the output layer out."""
    _, masks = read_masks(HERE / "torch_prune_state_dict.pt")
    return saved({n: torch.from_numpy(masks[n]).int() for n in masks if n != "fc.weight"})


def test_without_a_model_the_mask_records_its_shapes_and_an_unknown_model():
    path = HERE / "torch_prune_state_dict.pt"
    mask = import_mask(path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert mask.model == ModelBinding(None, {}, None) and mask.init is None
    assert {n: c.shape for n, c in mask.layers.items()} == {
        "fc.weight": (3, 4),
        "fc_layers.0.weight": (6, 4),
        "fc_layers.1.weight": (4, 6),
    }
    assert mask.provenance == (
        StageRecord(
            "convert",
            options={"from": "torch-prune", "input_sha256": digest},
            seed=None,
            input=f"sha256:{digest}",
            maskkit=__version__,
        ),
    )
    doc = mask.metadata.to_dict()
    assert doc["model"] == {"name": None, "args": {}, "fingerprint": None}
    # a complete, valid v1 file that plain safetensors reads as bool tensors
    again = load(mask.to_bytes(), kind="mask")
    assert again.content_hash == mask.content_hash
    plain = safetensors.numpy.load(mask.to_bytes())
    assert all(plain[n].dtype == np.bool_ for n in plain)


def test_the_same_input_gives_the_same_bytes():
    a = import_mask(HERE / "ao_sparsifier.pt").to_bytes()
    b = import_mask((HERE / "ao_sparsifier.pt").read_bytes(), name="other name").to_bytes()
    assert a == b


def test_with_a_model_it_is_bound_and_checked():
    mask = import_mask(HERE / "torch_prune_wrapped.pt", **TINY)
    assert mask.model == tiny_binding()
    assert mask.model.args == {"hidden": [6, 4], "input_shape": [1, 2, 2], "num_classes": 3}
    assert mask.init is None  # the foreign tool's initial weights are not maskkit's
    assert mask.provenance[-1].options["missing"] == "error"
    model = new_model(
        "lenet300", seed=0, num_classes=3, input_shape=(1, 2, 2), overrides={"hidden": [6, 4]}
    )[0]
    apply_mask(mask, model)
    for name, param in model.named_parameters():
        if name in mask.arrays:
            assert np.array_equal(param.detach().numpy() != 0, mask.arrays[name])


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("keep", ["fc.weight", "fc_layers.0.weight", "fc_layers.1.weight"]),
        ("omit", ["fc_layers.0.weight", "fc_layers.1.weight"]),
    ],
)
def test_missing_layers_kept_or_omitted(missing, expected):
    mask = import_mask(two_layer_file(), name="two.pth", missing=missing, **TINY)
    assert list(mask.arrays) == expected
    if missing == "keep":
        assert mask.arrays["fc.weight"].all() and mask.arrays["fc.weight"].shape == (3, 4)
    assert mask.provenance[-1].options == {
        "from": "openlth",
        "input_sha256": hashlib.sha256(two_layer_file()).hexdigest(),
        "missing": missing,
    }


def test_missing_layers_are_an_error_by_default():
    with pytest.raises(ModelMismatchError) as info:
        import_mask(two_layer_file(), name="two.pth", **TINY)
    message = str(info.value)
    assert message.startswith("two.pth: the mask does not fit model lenet300: ")
    assert "fc.weight (no mask in the file)" in message and "--missing keep" in message


def test_mismatch_lists_every_problem():
    # lenet300's default layout (784-300-100-10) fits none of the tiny model's masks.
    with pytest.raises(ModelMismatchError) as info:
        import_mask(HERE / "torch_prune_state_dict.pt", model="lenet300")
    message = str(info.value)
    assert "torch_prune_state_dict.pt: the mask does not fit model lenet300" in message
    for problem in (
        "fc.weight [3, 4] vs model [10, 100]",
        "fc_layers.0.weight [6, 4] vs model [300, 784]",
        "fc_layers.1.weight [4, 6] vs model [100, 300]",
    ):
        assert problem in message
    assert "\n" not in message


def test_unknown_and_unprunable_names_are_listed():
    arrays = {
        "fc.weight": torch.ones(3, 4),
        "fc.bias": torch.ones(3),
        "conv9.weight": torch.ones(2, 2),
    }
    with pytest.raises(ModelMismatchError) as info:
        import_mask(saved(arrays), name="x.pth", **TINY)
    message = str(info.value)
    assert "conv9.weight (no such parameter)" in message
    assert "fc.bias (not prunable" in message
    assert "fc_layers.0.weight (no mask in the file)" in message


def test_a_maskkit_mask_is_rebound_and_keeps_its_chain(tmp_path):
    base = import_mask(HERE / "masks.npz", encoding="packbits")
    path = tmp_path / "m.safetensors"
    base.save(path)
    rebound = import_mask(path, **TINY)
    assert rebound.encoding == "packbits"  # the input's encoding carries over
    assert rebound.content_hash == base.content_hash
    assert [r.stage for r in rebound.provenance] == ["convert", "convert"]
    assert rebound.provenance[0] == base.provenance[0]
    assert rebound.provenance[1].input == base.content_hash
    assert rebound.provenance[1].options["from"] == "maskkit"
    assert (
        rebound.provenance[1].options["input_sha256"]
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert rebound.model == tiny_binding()


def test_rebinding_to_another_model_forgets_the_init():
    arrays = read_masks(HERE / "masks.npz")[1]
    seeded = Mask(arrays, model=tiny_binding(), init=InitRef(seed=4))
    same = import_mask(seeded.to_bytes(), **TINY)
    assert same.init == InitRef(seed=4)
    other = ModelBinding(
        "lenet300",
        {"hidden": [6, 4], "input_shape": [1, 2, 2], "num_classes": 3, "x": 1},
        seeded.model.fingerprint,
    )
    moved = Mask(arrays, model=other, init=InitRef(seed=4))
    assert import_mask(moved.to_bytes(), **TINY).init is None


def test_option_errors():
    with pytest.raises(OptionError, match="missing='drop'"):
        import_mask(HERE / "masks.npz", missing="drop")
    with pytest.raises(OptionError, match="need a model"):
        import_mask(HERE / "masks.npz", num_classes=3)
    with pytest.raises(OptionError, match="needs a model"):
        import_mask(HERE / "masks.npz", missing="keep")
    with pytest.raises(OptionError, match="encoding='zip'"):
        import_mask(HERE / "masks.npz", encoding="zip")
