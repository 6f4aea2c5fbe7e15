"""OpenLTH and NNI mask.pth, and plain safetensors/npz files of 0/1 tensors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import safetensors.numpy
import torch

from maskkit.errors import FormatError
from maskkit.format import Mask
from maskkit.interop import export_openlth, import_mask, read_masks, write_openlth
from tests.conftest import FIXTURES, random_mask_arrays

HERE = FIXTURES / "interop"
SHAPES = {"fc_layers.0.weight": (6, 4), "fc_layers.1.weight": (4, 6), "fc.weight": (3, 4)}


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.fixture
def mask() -> Mask:
    return Mask(random_mask_arrays(SHAPES, 0.35, seed=4))


def test_export_is_openlth_mask_save(mask):
    files = export_openlth(mask)
    assert sorted(files) == ["mask.pth", "sparsity_report.json"]
    tensors = torch.load(io.BytesIO(files["mask.pth"]), weights_only=True)
    assert list(tensors) == sorted(SHAPES)
    for name, array in mask.arrays.items():
        assert tensors[name].dtype == torch.int32  # OpenLTH saves v.int()
        assert np.array_equal(tensors[name].numpy(), array.astype(np.int32))
    # OpenLTH writes json.dumps({...float...}, indent=4), no final newline
    kept = sum(int(a.sum()) for a in mask.arrays.values())
    total = sum(a.size for a in mask.arrays.values())
    expected = json.dumps({"total": float(total), "unpruned": float(kept)}, indent=4)
    assert files["sparsity_report.json"].decode() == expected


def test_write_creates_the_level_folder_and_reads_back(tmp_path, mask):
    folder = tmp_path / "run" / "level_3" / "main"
    written = write_openlth(mask, folder)
    assert sorted(p.name for p in written) == ["mask.pth", "sparsity_report.json"]
    assert sorted(p.name for p in folder.iterdir()) == ["mask.pth", "sparsity_report.json"]
    again = import_mask(folder)
    assert again.content_hash == mask.content_hash
    assert again.provenance[-1].options["from"] == "openlth"


def test_fixture_report_agrees_with_its_masks():
    report = json.loads((HERE / "openlth" / "sparsity_report.json").read_text())
    _, masks = read_masks(HERE / "openlth")
    assert report == {
        "total": float(sum(m.size for m in masks.values())),
        "unpruned": float(sum(int(m.sum()) for m in masks.values())),
    }


@pytest.mark.parametrize(
    "dtype", [torch.int32, torch.int64, torch.uint8, torch.bool, torch.float16, torch.bfloat16]
)
def test_any_0_1_dtype_is_accepted(dtype):
    tensor = torch.tensor([[1, 0, 1], [0, 0, 1]]).to(dtype)
    layout, masks = read_masks(saved({"fc.weight": tensor}))
    assert layout == "openlth"
    assert masks["fc.weight"].tolist() == [[True, False, True], [False, False, True]]


def test_nni_nesting_old_and_new_key_names():
    weight = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    for inner in ({"weight": weight, "bias": None}, {"weight_mask": weight}):
        layout, masks = read_masks(saved({"features.0": inner, "classifier": dict(inner)}))
        assert layout == "openlth"
        assert list(masks) == ["classifier.weight", "features.0.weight"]
        assert masks["features.0.weight"].tolist() == [[True, False], [True, True]]


def test_nni_fixture_equals_torch_prune_masks():
    _, nni = read_masks(HERE / "nni_mask_dataparallel.pth")
    _, tp = read_masks(HERE / "torch_prune_state_dict.pt")
    assert nni.keys() == tp.keys() and all(np.array_equal(nni[n], tp[n]) for n in tp)


def test_plain_safetensors_of_various_dtypes():
    arrays = {
        "a.weight": np.array([[1, 0], [0, 1]], dtype=np.float32),
        "b.weight": np.array([1, 1, 0], dtype=np.int64),
        "c.weight": np.array([True, False]),
    }
    layout, masks = read_masks(safetensors.numpy.save(arrays), name="plain.safetensors")
    assert layout == "safetensors"
    assert {n: m.tolist() for n, m in masks.items()} == {
        n: (a != 0).tolist() for n, a in sorted(arrays.items())
    }
    bad = safetensors.numpy.save({"a.weight": np.array([1.0, 0.5], dtype=np.float32)})
    with pytest.raises(FormatError, match=r"'a\.weight' holds values other than 0 and 1"):
        read_masks(bad, name="plain.safetensors")


def test_bf16_safetensors_checked_on_bit_patterns():
    ones = torch.tensor([1.0, 0.0, -0.0, 1.0], dtype=torch.bfloat16)
    from safetensors.torch import save

    _, masks = read_masks(save({"w": ones}))
    assert masks["w"].tolist() == [True, False, False, True]
    with pytest.raises(FormatError, match="other than 0 and 1"):
        read_masks(save({"w": torch.tensor([1.0, 2.0], dtype=torch.bfloat16)}))


def test_npz_with_module_prefix():
    buffer = io.BytesIO()
    np.savez(buffer, **{"module.fc.weight": np.array([[0, 1, 1]], dtype=np.uint8)})
    layout, masks = read_masks(buffer.getvalue())
    assert layout == "npz" and masks["fc.weight"].tolist() == [[False, True, True]]


def test_a_maskkit_mask_is_not_taken_for_plain_safetensors(mask):
    layout, masks = read_masks(mask.to_bytes())
    assert layout == "maskkit"
    assert all(np.array_equal(masks[n], a) for n, a in mask.arrays.items())
