"""The safetensors container: the 8-byte length, the JSON header and the data section.

This module knows nothing about maskkit metadata and imports neither numpy nor torch, so that
reading a header (``maskkit info``) costs no more than the JSON parse. It parses strictly: a
reader must be able to trust every offset before it slices the data section.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from maskkit.errors import FormatError
from maskkit.format import strict_json

# safetensors refuses headers above 100 MB; so do we, before allocating anything.
MAX_HEADER_BYTES = 100_000_000
#: Most dimensions a tensor may have (maskkit's models need 4; numpy allows at most 64).
MAX_RANK = 8
#: Largest product of a shape's dimensions, zero dimensions counted as 1: a tensor with no
#: elements still has to be representable (numpy refuses shapes whose product overflows).
MAX_NUMEL = 2**48
#: C0 controls, DEL and C1 controls: never part of a tensor name.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: The advice given with a file that is not a safetensors file at all.
CONVERT_HINT = "to import a mask saved by torch, numpy or another tool, use 'maskkit convert'"

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


def header_length(prefix: bytes, size: int | None, name: str) -> int:
    """Read the u64 header length and check it fits in a file of ``size`` bytes.

    ``prefix`` is the start of the file (8 bytes or more: more lets a foreign file be named);
    ``size`` is None for a stream of unknown length.
    """
    if len(prefix) < 8:
        raise FormatError(
            f"{name}: truncated: {len(prefix)} bytes, shorter than the 8-byte header length"
        )
    (n,) = struct.unpack("<Q", prefix[:8])
    past_end = size is not None and 8 + n > size
    if n > MAX_HEADER_BYTES or past_end or (len(prefix) > 8 and prefix[8:9] != b"{"):
        foreign = foreign_kind(prefix)
        if foreign:
            raise FormatError(f"{name}: not a safetensors file ({foreign}); {CONVERT_HINT}")
    if n > MAX_HEADER_BYTES:
        raise FormatError(
            f"{name}: not a safetensors file: its first 8 bytes announce a header of {n} "
            f"bytes, over the 100 MB limit; {CONVERT_HINT}"
        )
    if past_end:
        raise FormatError(f"{name}: header length {n} runs past the end of the file ({size} bytes)")
    return n


def foreign_kind(prefix: bytes) -> str | None:
    """What a file that is not safetensors looks like, from its first bytes, if recognisable."""
    if prefix.startswith(b"PK\x03\x04"):
        return "a zip archive: a torch .pt/.pth or numpy .npz file"
    if prefix.startswith(b"\x93NUMPY"):
        return "a numpy .npy file"
    if prefix.startswith(b"\x1f\x8b"):
        return "gzip-compressed data"
    if len(prefix) >= 2 and prefix[0] == 0x80 and 2 <= prefix[1] <= 5:
        return "a Python pickle, such as a legacy torch file"
    if prefix[:8] and all(32 <= c < 127 or c in b"\t\r\n" for c in prefix[:8]):
        return "text"
    return None


def parse_header(header_bytes: bytes, *, data_size: int | None, name: str) -> Header:
    """Validate the JSON header against a data section of ``data_size`` bytes.

    ``data_size`` None (a stream whose length is not known yet) skips only the final check that
    the tensors end where the data does; the caller reads ``Header.data_size`` bytes and checks.
    """
    if header_bytes[:1] not in (b"{", b""):
        raise FormatError(
            f"{name}: not a safetensors file (its header does not start with '{{'); {CONVERT_HINT}"
        )
    try:
        text = header_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{name}: header is not valid JSON ({exc})") from None
    doc = strict_json.loads(text, name=name, what="header")
    if not isinstance(doc, dict):
        raise FormatError(f"{name}: header is not a JSON object")

    metadata = doc.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise FormatError(f"{name}: __metadata__ is not an object")
        if {"dtype", "shape", "data_offsets"} & metadata.keys():
            raise FormatError(f"{name}: a tensor is named __metadata__, which safetensors reserves")
        if not all(isinstance(v, str) for v in metadata.values()):
            raise FormatError(f"{name}: __metadata__ must map strings to strings")

    entries = [_parse_entry(tensor, info, name) for tensor, info in doc.items()]
    entries.sort(key=lambda e: (e.start, e.end))
    position = 0
    for entry in entries:
        if entry.start != position:
            what = "overlaps another tensor" if entry.start < position else "leaves a gap"
            raise FormatError(f"{name}: tensor {entry.name!r} {what} in the data section")
        position = entry.end
    if data_size is not None and position != data_size:
        raise FormatError(
            f"{name}: the data section holds {data_size} bytes but the header describes {position}"
        )
    return Header(metadata, {e.name: e for e in entries}, data_start=8 + len(header_bytes))


def _parse_entry(tensor: str, info: object, name: str) -> TensorEntry:
    where = f"{name}: tensor {tensor!r}"
    _check_name(tensor, name)
    if not isinstance(info, dict):
        raise FormatError(f"{where}: entry is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_SIZES:
        raise FormatError(f"{where}: unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
        raise FormatError(f"{where}: shape must be a list of non-negative integers")
    check_shape(shape, where)
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise FormatError(f"{where}: data_offsets must be two non-negative integers")
    start, end = offsets
    expected = math.prod(shape) * DTYPE_SIZES[dtype]
    if end - start != expected:
        raise FormatError(
            f"{where}: data_offsets span {end - start} bytes but dtype {dtype} and shape "
            f"{shape} need {expected}"
        )
    return TensorEntry(tensor, dtype, tuple(shape), start, end)


def _check_name(tensor: str, name: str) -> None:
    if not tensor:
        raise FormatError(f"{name}: tensor names must be non-empty")
    if _CONTROL.search(tensor):
        # No model names a parameter with a newline or an escape; a file that does is forging
        # terminal output, so it is refused rather than merely escaped when printed.
        raise FormatError(f"{name}: tensor name {tensor!a} holds a control character")
    if strict_json.has_lone_surrogate(tensor):
        raise FormatError(f"{name}: tensor name {tensor!a} holds a lone UTF-16 surrogate")


def check_shape(shape: list[int] | tuple[int, ...], where: str) -> None:
    """Refuse shapes no reader can hold: too many dimensions, or dimensions too large."""
    if len(shape) > MAX_RANK:
        raise FormatError(f"{where}: shape has {len(shape)} dimensions, more than {MAX_RANK}")
    if math.prod(d or 1 for d in shape) > MAX_NUMEL:
        raise FormatError(
            f"{where}: shape {shape} is too large (the product of its non-zero dimensions "
            f"exceeds 2**48)"
        )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_header(buffer: bytes | bytearray | memoryview, *, name: str) -> Header:
    """Parse the header of a complete in-memory file."""
    n = header_length(bytes(buffer[:16]), len(buffer), name)
    return parse_header(bytes(buffer[8 : 8 + n]), data_size=len(buffer) - 8 - n, name=name)


def read_header_from_file(path: str, *, name: str | None = None) -> Header:
    """Parse a file's header without reading its data section."""
    with open(path, "rb") as f:
        return read_header_from_open(f, size=os.fstat(f.fileno()).st_size, name=name or path)


def read_header_from_open(f: BinaryIO, *, size: int, name: str) -> Header:
    """Parse the header of an open file of ``size`` bytes from its current position."""
    start = f.tell()
    prefix = f.read(16)
    n = header_length(prefix, size, name)
    f.seek(start + 8)
    return parse_header(f.read(n), data_size=size - 8 - n, name=name)


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
        # What a reader refuses is refused here too: a file is never written unreadable.
        _check_name(name, "cannot write")
        check_shape(list(shape), f"tensor {name!r}")
        end = position + math.prod(shape) * DTYPE_SIZES[dtype]
        entries.append(TensorEntry(name, dtype, tuple(shape), position, end))
        doc[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [position, end]}
        position = end
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, entries
