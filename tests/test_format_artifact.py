"""Reading and writing artifacts, checked against the spec by independent computations."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch

from maskkit.errors import FormatError, KindError, ModelMismatchError
from maskkit.format import (
    InitRef,
    Mask,
    ModelBinding,
    Scores,
    StageRecord,
    Weights,
    fingerprint,
    load,
    read_metadata,
)
from maskkit.models.binding import apply_mask
from tests.conftest import FIXTURES, ROOT, random_mask_arrays

SHAPES = {"b.weight": (5, 7), "a.weight": (3, 2, 3, 3), "c.weight": (11,)}


def make_mask(seed: int = 0, encoding: str = "bool") -> Mask:
    return Mask(
        random_mask_arrays(SHAPES, 0.3, seed),
        encoding=encoding,
        model=ModelBinding("toy", {"num_classes": 2}, fingerprint(SHAPES.items())),
        init=InitRef(seed=3),
        provenance=[StageRecord("mask", {"sparsity": 0.7}, None, None, "0.1.0")],
    )


def spec_hash(arrays: dict[str, np.ndarray], dtype: str = "BOOL") -> str:
    """§9 written out by hand: bits packed with a Python loop, not numpy.packbits."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        if dtype == "BOOL":
            flat = [bool(x) for x in a.reshape(-1)]
            payload = bytes(
                sum(1 << j for j, bit in enumerate(flat[i : i + 8]) if bit)
                for i in range(0, len(flat), 8)
            )
        else:
            payload = a.astype("<f4").tobytes()
        shape = ",".join(str(d) for d in a.shape)
        digest.update(name.encode() + b"\0" + dtype.encode() + b"\0" + shape.encode() + b"\0")
        digest.update(struct.pack("<Q", len(payload)) + payload)
    return "sha256:" + digest.hexdigest()


def test_content_hash_matches_an_independent_implementation_of_the_spec():
    mask = make_mask()
    assert mask.content_hash == spec_hash(mask.arrays)
    scores = Scores(
        {
            n: np.linspace(-1, 1, int(np.prod(s)), dtype=np.float32).reshape(s)
            for n, s in SHAPES.items()
        }
    )
    assert scores.content_hash == spec_hash(scores.arrays, "F32")


def test_fingerprint_matches_the_spec_text():
    text = "a.weight\t3,2,3,3\nb.weight\t5,7\nc.weight\t11\nscalar\t\n"
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert fingerprint([*SHAPES.items(), ("scalar", ())]) == expected


@pytest.mark.parametrize("encoding", ["bool", "packbits"])
def test_round_trip_through_bytes_and_files(tmp_path, encoding):
    mask = make_mask(encoding=encoding)
    again = load(mask.to_bytes())
    assert isinstance(again, Mask) and again.encoding == encoding
    assert again.content_hash == mask.content_hash
    assert (
        again.model == mask.model
        and again.init == mask.init
        and again.provenance == mask.provenance
    )
    for name in SHAPES:
        assert np.array_equal(again.arrays[name], mask.arrays[name])
    path = tmp_path / "m.safetensors"
    mask.save(path)
    assert path.read_bytes() == mask.to_bytes()


def test_plain_safetensors_reads_a_bool_mask_as_name_to_bool_tensor(tmp_path):
    mask = make_mask()
    path = tmp_path / "m.safetensors"
    mask.save(path)
    tensors = safetensors.torch.load_file(path)
    assert set(tensors) == set(SHAPES)
    for name, t in tensors.items():
        assert str(t.dtype) == "torch.bool" and tuple(t.shape) == SHAPES[name]
        assert np.array_equal(t.numpy(), mask.arrays[name])


def test_packbits_file_is_an_eighth_and_plain_numpy_unpacks_it(tmp_path):
    big = Mask(random_mask_arrays({"w": (1000, 800)}, 0.1, 1))
    packed = big.with_encoding("packbits").to_bytes()
    plain = big.to_bytes()
    assert len(packed) < len(plain) / 7.9
    raw = safetensors.numpy.load(packed)["w"]
    bits = np.unpackbits(raw, bitorder="little", count=800_000).reshape(1000, 800).astype(bool)
    assert np.array_equal(bits, big.arrays["w"])


def test_identical_content_written_by_two_processes_is_byte_identical(tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from maskkit.format import Mask, ModelBinding, InitRef, StageRecord\n"
        "rng = np.random.default_rng(5)\n"
        "m = Mask({'z.weight': rng.random((40, 30)) < 0.2, 'a.weight': rng.random((7,)) < 0.5},\n"
        "         model=ModelBinding('toy', {'k': [1, 2], 'x': 0.1}, 'sha256:' + '0' * 64), init=InitRef(seed=1),\n"
        "         provenance=[StageRecord('mask', {'sparsity': 0.9, 'b': 'é'}, 2, None, '0.1.0')])\n"
        "m.save(sys.argv[1])\n"
    )
    paths = [tmp_path / "one.safetensors", tmp_path / "two.safetensors"]
    for p in paths:
        subprocess.run([sys.executable, "-c", script, str(p)], check=True, cwd=ROOT)
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_header_layout_is_canonical():
    data = make_mask().to_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    header = json.loads(data[8 : 8 + n])
    assert list(header) == ["__metadata__", "a.weight", "b.weight", "c.weight"]
    assert list(header["__metadata__"]) == ["maskkit"]
    text = header["__metadata__"]["maskkit"]
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_weights_tensors_are_aligned_by_element_size():
    w = Weights(
        {"w": np.ones((3, 3), np.float32), "n": np.array(5, np.int64), "h": np.ones(3, np.float16)},
        prunable=["w"],
    )
    data = w.to_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    for name, itemsize in [("n", 8), ("w", 4), ("h", 2)]:
        assert (8 + n + header[name]["data_offsets"][0]) % itemsize == 0
    back = load(data, kind="weights")
    assert back.arrays["n"].shape == () and int(back.arrays["n"]) == 5
    assert back.prunable == ["w"] and back.layers["w"].kept == 9


def test_read_metadata_does_not_import_numpy():
    code = (
        "import sys\n"
        "from maskkit.format import read_metadata\n"
        f"meta = read_metadata({str(FIXTURES / 'format/valid/mask_bool.safetensors')!r})\n"
        "assert meta.kind == 'mask' and meta.numel > 0\n"
        "print('numpy' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_header_densities_match_the_tensors():
    mask = make_mask()
    meta = read_metadata(mask.to_bytes())
    for name, array in mask.arrays.items():
        assert meta.layers[name].kept == int(array.sum())
        assert meta.layers[name].numel == array.size


def test_scores_kept_counts_exclude_minus_inf():
    s = Scores({"w": np.array([1.0, -np.inf, 0.0, -np.inf], np.float32)})
    assert s.layers["w"].kept == 2


def test_kind_is_enforced_when_asked():
    with pytest.raises(KindError, match="is a mask artifact, expected scores or weights"):
        load(make_mask().to_bytes(), kind=("scores", "weights"))


def test_missing_file_and_directory_are_one_line_errors(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        load(tmp_path / "absent.safetensors")
    with pytest.raises(FormatError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(FormatError, match="is a directory"):
        read_metadata(tmp_path)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from maskkit.format import write_atomic

    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old content")

    def chunks():
        yield b"partial"
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(path, chunks())
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_apply_to_zeroes_pruned_weights_and_lists_mismatches():
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    keep = {"0.weight": np.array([[1, 0, 1, 0]] * 3, bool), "1.weight": np.ones((2, 3), bool)}
    apply_mask(Mask(keep), model)
    assert torch.equal(model[0].weight == 0, torch.from_numpy(~keep["0.weight"]))
    bad = Mask({"0.weight": np.ones((4, 3), bool), "9.weight": np.ones(2, bool)})
    with pytest.raises(ModelMismatchError) as info:
        apply_mask(bad, model)
    assert "0.weight [4, 3] vs model [3, 4]" in str(info.value)
    assert "9.weight (not in the model)" in str(info.value)
