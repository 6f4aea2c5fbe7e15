"""The validating reader: bytes or a path in, a fully checked artifact out (spec §12).

Every check the spec lists runs here, before an artifact exists: the container, the metadata
document, tensors against the recorded layers, dtypes and shapes, mask bytes and padding, then
the recorded kept counts and content hash against the tensors themselves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from maskkit.errors import FormatError, IntegrityError, KindError
from maskkit.format import container, tensors
from maskkit.format.artifact import Artifact, Mask, Scores, Weights
from maskkit.format.files import Source, read_file, read_header
from maskkit.format.metadata import Metadata, metadata_from_header


def load(
    source: Source,
    *,
    kind: str | Sequence[str] | None = None,
    name: str | None = None,
) -> Artifact:
    """Read and fully check an artifact from a path or from bytes.

    ``kind`` (one kind or several) raises KindError for any other kind; ``name`` is the file name
    used in error messages (defaults to the path, or ``<bytes>``).

    >>> mask = load("fixtures/format/valid/mask_bool.safetensors", kind="mask")  # doctest: +SKIP
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        buffer, name = source, name or "<bytes>"
    else:
        name = name or os.fspath(source)
        buffer = read_file(source, name=name, artifact=True)
    header = read_header(buffer, name=name)
    meta = metadata_from_header(header.metadata, name=name)
    expect_kind(meta.kind, kind, name=name)
    return _build(meta, header, buffer, name=name)


def expect_kind(actual: str, wanted: str | Sequence[str] | None, *, name: str) -> None:
    if wanted is None:
        return
    allowed = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    if actual not in allowed:
        raise KindError(f"{name}: is a {actual} artifact, expected {' or '.join(allowed)}")


def _build(meta: Metadata, header: container.Header, buffer: Any, *, name: str) -> Artifact:
    entries = header.tensors
    names = set(meta.layers)
    if meta.kind != "weights" and set(entries) != names:
        extra, missing = sorted(set(entries) - names), sorted(names - set(entries))
        raise FormatError(
            f"{name}: tensors and metadata layers disagree (unlisted: {extra or 'none'}; "
            f"missing: {missing or 'none'})"
        )
    if meta.kind == "weights" and not names <= set(entries):
        raise FormatError(f"{name}: layers {sorted(names - set(entries))} have no tensor")

    def raw(entry: container.TensorEntry) -> np.ndarray:
        start = header.data_start + entry.start
        dtype = tensors.NUMPY_DTYPES.get(entry.dtype)
        if dtype is None:
            raise FormatError(
                f"{name}: tensor {entry.name!r} has dtype {entry.dtype}, not supported"
            )
        array = np.frombuffer(buffer, dtype=dtype, count=entry.numel, offset=start).reshape(
            entry.shape
        )
        return array if array.flags.aligned else array.copy()

    def expect(entry: container.TensorEntry, dtype: str, shape: tuple[int, ...]) -> None:
        if entry.dtype != dtype:
            raise FormatError(f"{name}: tensor {entry.name!r} is {entry.dtype}, expected {dtype}")
        if entry.shape != shape:
            raise FormatError(
                f"{name}: tensor {entry.name!r} has shape {list(entry.shape)} but the "
                f"metadata records {list(shape)}"
            )

    arrays: dict[str, np.ndarray] = {}
    packed: dict[str, np.ndarray] = {}
    for entry in entries.values():
        count = meta.layers.get(entry.name)
        if meta.kind == "mask":
            if meta.encoding == "packbits":
                expect(entry, "U8", (tensors.packed_size(count.numel),))
                packed[entry.name] = bits = raw(entry)
                arrays[entry.name] = tensors.unpack(bits, count.shape)
                _check_padding(entry.name, bits, count.numel, name)
            else:
                expect(entry, "BOOL", count.shape)
                arrays[entry.name] = raw(entry)
        else:
            if count is not None:
                expect(entry, "F32" if meta.kind == "scores" else entry.dtype, count.shape)
            arrays[entry.name] = raw(entry)
            if meta.kind == "scores" and tensors.has_nan(arrays[entry.name]):
                raise FormatError(f"{name}: scores tensor {entry.name!r} contains NaN")

    if meta.kind == "mask" and meta.encoding == "bool":
        _check_bool_bytes(buffer, header, name)
    common = {"model": meta.model, "init": meta.init, "provenance": meta.provenance}
    if meta.kind == "mask":
        artifact: Artifact = (
            Mask._from_packed(arrays, packed, **common)
            if packed
            else Mask(arrays, encoding=meta.encoding or "bool", **common)
        )
    elif meta.kind == "scores":
        artifact = Scores(arrays, **common)
    else:
        artifact = Weights(arrays, prunable=meta.layers, training=meta.training, **common)

    for layer, recorded in meta.layers.items():
        actual = artifact.layers[layer]
        if actual.kept != recorded.kept:
            raise IntegrityError(
                f"{name}: layer {layer!r} records {recorded.kept} kept but its tensor has {actual.kept}"
            )
    if artifact.content_hash != meta.content_hash:
        raise IntegrityError(
            f"{name}: content hash mismatch: the tensors hash to {artifact.content_hash}, "
            f"the header records {meta.content_hash} (the file is corrupt or was edited)"
        )
    return artifact


def _check_bool_bytes(buffer: Any, header: container.Header, name: str) -> None:
    # Every tensor of a bool mask is BOOL, so one pass over the whole data section suffices.
    data = np.frombuffer(buffer, dtype=np.uint8, offset=header.data_start)
    if data.size and data.max() > 1:
        at = header.data_start + int(np.argmax(data > 1))
        entry = next(
            e for e in header.tensors.values() if e.start <= at - header.data_start < e.end
        )
        raise FormatError(f"{name}: mask tensor {entry.name!r} holds values other than 0 and 1")


def _check_padding(tensor: str, bits: np.ndarray, numel: int, name: str) -> None:
    spare = bits.size * 8 - numel
    if spare and int(bits[-1]) >> (8 - spare):
        raise FormatError(f"{name}: packbits tensor {tensor!r} has non-zero padding bits")
