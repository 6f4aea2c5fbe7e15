"""The safetensors container: the 8-byte length, the JSON header and the data section.

This module knows nothing about maskkit metadata and imports neither numpy nor torch, so that
reading a header (``maskkit info``) costs no more than the JSON parse. It parses strictly: a
reader must be able to trust every offset before it slices the data section.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from maskkit.errors import FormatError

# safetensors refuses headers above 100 MB; so do we, before allocating anything.
MAX_HEADER_BYTES = 100_000_000

#: safetensors dtype name -> bytes per element.
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in the data section (offsets relative to its start)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Header:
    """A parsed and validated safetensors header."""

    metadata: dict[str, str] | None
    tensors: dict[str, TensorEntry]  # in data-section order
    data_start: int  # absolute offset of the data section in the file

    @property
    def data_size(self) -> int:
        return max((t.end for t in self.tensors.values()), default=0)


def header_length(prefix: bytes, size: int, source: str) -> int:
    """Read the u64 header length and check it fits in a file of ``size`` bytes."""
    if size < 8 or len(prefix) < 8:
        raise FormatError(
            f"{source}: truncated: {size} bytes, shorter than the 8-byte header length"
        )
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES:
        raise FormatError(f"{source}: header length {n} exceeds the 100 MB limit")
    if 8 + n > size:
        raise FormatError(
            f"{source}: header length {n} runs past the end of the file ({size} bytes)"
        )
    return n


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            # JSON parsers disagree on duplicates (first or last wins); a file that means
            # different things to different readers is refused outright.
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def parse_header(header_bytes: bytes, *, data_size: int, source: str) -> Header:
    """Validate the JSON header against a data section of ``data_size`` bytes."""
    try:
        doc = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"{source}: header is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{source}: header is not a JSON object")

    metadata = doc.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise FormatError(f"{source}: __metadata__ is not an object")
        if {"dtype", "shape", "data_offsets"} & metadata.keys():
            raise FormatError(
                f"{source}: a tensor is named __metadata__, which safetensors reserves"
            )
        if not all(isinstance(v, str) for v in metadata.values()):
            raise FormatError(f"{source}: __metadata__ must map strings to strings")

    entries = [_parse_entry(name, info, source) for name, info in doc.items()]
    entries.sort(key=lambda e: (e.start, e.end))
    position = 0
    for entry in entries:
        if entry.start != position:
            what = "overlaps another tensor" if entry.start < position else "leaves a gap"
            raise FormatError(f"{source}: tensor {entry.name!r} {what} in the data section")
        position = entry.end
    if position != data_size:
        raise FormatError(
            f"{source}: the data section holds {data_size} bytes but the header describes {position}"
        )
    return Header(metadata, {e.name: e for e in entries}, data_start=8 + len(header_bytes))


def _parse_entry(name: str, info: object, source: str) -> TensorEntry:
    where = f"{source}: tensor {name!r}"
    if not name or "\0" in name:
        raise FormatError(f"{source}: tensor names must be non-empty and free of NUL characters")
    if not isinstance(info, dict):
        raise FormatError(f"{where}: entry is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_SIZES:
        raise FormatError(f"{where}: unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
        raise FormatError(f"{where}: shape must be a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise FormatError(f"{where}: data_offsets must be two non-negative integers")
    start, end = offsets
    expected = math.prod(shape) * DTYPE_SIZES[dtype]
    if end - start != expected:
        raise FormatError(
            f"{where}: data_offsets span {end - start} bytes but dtype {dtype} and shape "
            f"{shape} need {expected}"
        )
    return TensorEntry(name, dtype, tuple(shape), start, end)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_header(buffer: bytes | bytearray | memoryview, *, source: str) -> Header:
    """Parse the header of a complete in-memory file."""
    n = header_length(bytes(buffer[:8]), len(buffer), source)
    return parse_header(bytes(buffer[8 : 8 + n]), data_size=len(buffer) - 8 - n, source=source)


def read_header_from_file(path: str, *, source: str | None = None) -> Header:
    """Parse a file's header without reading its data section."""
    source = source or path
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        n = header_length(f.read(8), size, source)
        return parse_header(f.read(n), data_size=size - 8 - n, source=source)


def build_header(
    metadata: dict[str, str], tensors: Iterable[tuple[str, str, tuple[int, ...]]]
) -> tuple[bytes, list[TensorEntry]]:
    """Serialise a header for tensors given in data-section order.

    Returns the bytes to write before the data (length prefix included) and the entries. The
    JSON is compact with ``__metadata__`` first and tensors in data order, and is padded with
    spaces to a multiple of 8 bytes so that every tensor of the data section stays aligned when
    tensors are ordered by decreasing element size. Identical input gives identical bytes.
    """
    doc: dict[str, object] = {"__metadata__": metadata}
    entries = []
    position = 0
    for name, dtype, shape in tensors:
        end = position + math.prod(shape) * DTYPE_SIZES[dtype]
        entries.append(TensorEntry(name, dtype, tuple(shape), position, end))
        doc[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [position, end]}
        position = end
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, entries
