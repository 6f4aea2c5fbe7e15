"""A plain safetensors file of 0/1 tensors (any dtype), named by parameter.

The container is parsed by maskkit's own strict reader; ``__metadata__`` is ignored. BF16 has no
numpy dtype, so its 0/1 check runs on the bit patterns (0, -0 and 1.0); BOOL bytes other than
0 and 1 are refused like any other value.
"""

from __future__ import annotations

import struct

import numpy as np

from maskkit.errors import FormatError
from maskkit.format import container, tensors
from maskkit.interop._common import collect


def sniff(data: bytes | bytearray | memoryview) -> bool:
    """An 8-byte header length that fits the file, followed by a JSON object."""
    if len(data) < 10:
        return False
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    return 8 + n <= len(data) and bytes(data[8:9]) == b"{"


def read(data: bytes | bytearray | memoryview, *, source: str) -> dict[str, np.ndarray]:
    header = container.read_header(data, name=source)
    return collect(
        (
            (entry.name, entry.name, _array(data, header, entry, source))
            for entry in header.tensors.values()
        ),
        source=source,
        layout="safetensors",
    )


def _array(data, header: container.Header, entry: container.TensorEntry, source: str) -> np.ndarray:
    offset = header.data_start + entry.start
    if entry.dtype == "BF16":
        bits = np.frombuffer(data, dtype="<u2", count=entry.numel, offset=offset)
        zero, one = (bits & 0x7FFF) == 0, bits == 0x3F80
        if not (zero | one).all():
            raise FormatError(
                f"{source}: tensor {entry.name!r} holds values other than 0 and 1; a mask must be 0/1"
            )
        return one.reshape(entry.shape)
    dtype = tensors.NUMPY_DTYPES[entry.dtype]
    return np.frombuffer(data, dtype=dtype, count=entry.numel, offset=offset).reshape(entry.shape)
