"""Every conformance file behaves as fixtures/format/manifest.json says, and the schema agrees."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import jsonschema
import pytest

import maskkit.errors
from maskkit.format import load
from tests.conftest import FIXTURES, ROOT

FORMAT = FIXTURES / "format"
MANIFEST = json.loads((FORMAT / "manifest.json").read_text())
ENTRIES = MANIFEST["files"]
SCHEMA = json.loads((ROOT / "spec" / "metadata-v1.schema.json").read_text())


def test_manifest_covers_every_file():
    listed = {e["path"] for e in ENTRIES}
    on_disk = {str(p.relative_to(FORMAT)) for p in FORMAT.rglob("*.safetensors")}
    assert listed == on_disk


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] for e in ENTRIES])
def test_fixture_outcome(entry):
    path = FORMAT / entry["path"]
    if entry["expect"] == "ok":
        artifact = load(path, kind=entry.get("read_as"))
        assert artifact.kind == entry["kind"]
        assert artifact.content_hash == entry["content_hash"]
    else:
        error = getattr(maskkit.errors, entry["expect"])
        with pytest.raises(error) as info:
            load(path, kind=entry.get("read_as"))
        # The exact class, not a parent: the manifest distinguishes FormatError from IntegrityError.
        assert type(info.value) is error
        message = str(info.value)
        assert str(path) in message and "\n" not in message
        assert entry.get("message", "") in message


def _document(path):
    # Plain json, not maskkit's reader: some of these files are refused before their metadata.
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(json.loads(data[8 : 8 + size])["__metadata__"]["maskkit"])


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if e["expect"] == "ok"], ids=lambda e: e["path"]
)
def test_schema_accepts_valid_documents(entry):
    jsonschema.validate(_document(FORMAT / entry["path"]), SCHEMA)


@pytest.mark.parametrize(
    "name",
    [
        "unknown_major",
        "not_maskkit",
        "missing_content_hash",
        "named_model_without_fingerprint",
        "version2_missing_key",
        "control_chars_in_name",
    ],
    ids=lambda n: n,
)
def test_schema_rejects_invalid_documents(name):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_document(FORMAT / "invalid" / f"{name}.safetensors"), SCHEMA)


def test_schema_requires_encoding_for_masks():
    doc = _document(FORMAT / "valid" / "mask_bool.safetensors")
    del doc["encoding"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_generator_reproduces_committed_files_in_a_fresh_process():
    # Byte reproducibility across processes: a new interpreter rebuilds identical bytes.
    result = subprocess.run(
        [sys.executable, str(FORMAT / "make_fixtures.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_same_mask_same_hash_in_both_encodings():
    hashes = {e["path"]: e.get("content_hash") for e in ENTRIES}
    assert hashes["valid/mask_bool.safetensors"] == hashes["valid/mask_packbits.safetensors"]
    bool_mask = load(FORMAT / "valid" / "mask_bool.safetensors")
    packed = load(FORMAT / "valid" / "mask_packbits.safetensors")
    for name in bool_mask.arrays:
        assert (bool_mask.arrays[name] == packed.arrays[name]).all()
