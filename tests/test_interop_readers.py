"""Foreign mask readers against the sample files in fixtures/interop, made by the real tools.

expected.json holds each mask as written by the tool that made it (torch.nn.utils.prune's
``weight_mask``, the sparsifier's ``state[fqn]["mask"]``...), never as maskkit read it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pickletools
import sys
import zipfile

import numpy as np
import pytest

from maskkit.errors import FormatError, OptionError
from maskkit.interop import detect_layout, read_masks, strip_prefixes
from tests.conftest import FIXTURES

HERE = FIXTURES / "interop"
EXPECTED = json.loads((HERE / "expected.json").read_text())["files"]
GOOD = sorted(p for p, e in EXPECTED.items() if "layout" in e)
BAD = sorted(p for p, e in EXPECTED.items() if "error" in e)


def as_bits(masks: dict[str, np.ndarray]) -> dict[str, dict]:
    return {
        name: {"shape": list(m.shape), "bits": "".join("1" if b else "0" for b in m.reshape(-1))}
        for name, m in masks.items()
    }


def test_fixtures_cover_every_layout_and_the_bad_cases():
    assert {EXPECTED[p]["layout"] for p in GOOD} == {
        "torch-prune",
        "openlth",
        "ao",
        "safetensors",
        "npz",
    }
    assert len(BAD) >= 8


@pytest.mark.parametrize("path", GOOD)
def test_reads_what_the_tool_wrote(path):
    layout, masks = read_masks(HERE / path)
    assert layout == EXPECTED[path]["layout"]
    assert as_bits(masks) == EXPECTED[path]["masks"]
    assert all(m.dtype == np.bool_ for m in masks.values())


@pytest.mark.parametrize("path", GOOD)
def test_explicit_layout_reads_the_same_as_detection(path):
    expected = EXPECTED[path]
    layout, masks = read_masks(HERE / path, layout=expected["layout"])
    assert layout == expected["layout"] and as_bits(masks) == expected["masks"]
    assert detect_layout((HERE / path).read_bytes()) == expected["layout"]


@pytest.mark.parametrize("path", BAD)
def test_bad_files_are_refused_with_one_line_naming_the_file(path):
    expected = EXPECTED[path]
    with pytest.raises(FormatError) as info:
        read_masks(HERE / path)
    message = str(info.value)
    assert type(info.value).__name__ == expected["error"]
    assert message.startswith(f"{HERE / path}: ")
    assert expected["message"] in message
    assert "\n" not in message


def test_refused_pickle_is_really_hostile_and_never_runs():
    # Independently of torch: the pickle inside the zip calls exec when unpickled.
    data = (HERE / "bad" / "refused_pickle.pt").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickle_bytes = archive.read("archive/data.pkl")
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(pickle_bytes)]
    assert any("exec" in str(arg) for _, arg in ops) and ("REDUCE", None) in ops
    with pytest.raises(FormatError, match="weights_only=True"):
        read_masks(data, name="x.pt")
    assert "maskkit_fixture_unpickled" not in sys.modules


def test_wrong_explicit_layout_is_a_format_error():
    with pytest.raises(FormatError, match=r"masks\.npz: not a torch file"):
        read_masks(HERE / "masks.npz", layout="openlth")
    with pytest.raises(FormatError, match=r"not a readable \.npz archive"):
        read_masks(HERE / "torch_prune_state_dict.pt", layout="npz")
    with pytest.raises(FormatError, match=r"torch_prune_state_dict\.pt"):
        read_masks(HERE / "torch_prune_state_dict.pt", layout="safetensors")
    with pytest.raises(FormatError, match="no mask tensors found"):
        read_masks(HERE / "openlth" / "mask.pth", layout="torch-prune")


def test_unknown_layout_lists_the_known_ones():
    with pytest.raises(OptionError, match="known: auto, torch-prune, openlth, ao"):
        read_masks(HERE / "masks.npz", layout="keras")


def test_an_openlth_level_folder_reads_its_mask_pth():
    layout, masks = read_masks(HERE / "openlth")
    assert layout == "openlth"
    assert as_bits(masks) == EXPECTED["openlth/mask.pth"]["masks"]


def test_wrapper_prefixes_are_stripped_to_the_plain_names():
    _, plain = read_masks(HERE / "torch_prune_state_dict.pt")
    _, wrapped = read_masks(HERE / "torch_prune_wrapped.pt")
    _, nni = read_masks(HERE / "nni_mask_dataparallel.pth")
    assert list(wrapped) == list(plain) == list(nni) == sorted(plain)
    assert all(np.array_equal(wrapped[n], plain[n]) for n in plain)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fc.weight", "fc.weight"),
        ("module.fc.weight", "fc.weight"),
        ("_orig_mod.fc.weight", "fc.weight"),
        ("module._orig_mod.layer1.0.conv1.weight", "layer1.0.conv1.weight"),
        ("_orig_mod.module.module.fc.weight", "fc.weight"),
        ("encoder.module.fc.weight", "encoder.module.fc.weight"),  # only leading prefixes
        ("modules.fc.weight", "modules.fc.weight"),
    ],
)
def test_strip_prefixes(name, expected):
    assert strip_prefixes(name) == expected


def test_fixture_files_are_what_make_fixtures_builds():
    spec = importlib.util.spec_from_file_location("make_fixtures", HERE / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files = module.build()
    recorded = json.loads((HERE / "expected.json").read_text())["generated_with"]
    if recorded != json.loads(files["expected.json"])["generated_with"]:
        pytest.skip(
            f"fixtures were generated with {recorded}; byte equality needs the same versions"
        )
    assert module.check(files) == []
    assert module.build() == files  # deterministic within one process too
