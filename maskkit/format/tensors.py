"""Tensor data of an artifact as numpy arrays: dtypes, mask encodings and the content hash.

numpy is the storage layer (torch is only imported where a model is touched), so ``maskkit diff``
and ``maskkit verify`` run without paying for ``import torch``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping

import numpy as np

from maskkit.errors import FormatError

#: safetensors dtype name -> little-endian numpy dtype. BF16 has no numpy dtype and is refused.
NUMPY_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
    "F64": np.dtype("<f8"),
}
_DTYPE_NAMES = {(d.kind, d.itemsize): name for name, d in NUMPY_DTYPES.items()}


def dtype_name(array: np.ndarray) -> str:
    """The safetensors name of an array's dtype."""
    name = _DTYPE_NAMES.get((array.dtype.kind, array.dtype.itemsize))
    if name is None:
        raise FormatError(f"dtype {array.dtype} cannot be stored in a maskkit artifact")
    return name


def pack(mask: np.ndarray) -> np.ndarray:
    """Bits of the C-order flattened mask, 8 per byte, first element in the lowest bit."""
    return np.packbits(mask.reshape(-1), bitorder="little")


def unpack(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    return np.unpackbits(packed, count=count, bitorder="little").view(np.bool_).reshape(shape)


def popcount(packed: np.ndarray) -> int:
    """Set bits in a uint8 array, counted 64 bits at a time (8x fewer elements to sum)."""
    whole = packed.size // 8 * 8
    count = int(np.bitwise_count(packed[:whole].view(np.uint64)).sum()) if whole else 0
    return count + int(np.bitwise_count(packed[whole:]).sum())


def packed_size(numel: int) -> int:
    return (numel + 7) // 8


def hash_record(
    name: str, dtype: str, shape: tuple[int, ...], payload: memoryview | bytes
) -> bytes:
    """The bytes that precede one tensor's payload in the content-hash stream."""
    head = f"{name}\0{dtype}\0{','.join(map(str, shape))}\0".encode()
    return head + struct.pack("<Q", len(payload))


def content_hash(items: Iterable[tuple[str, str, tuple[int, ...], memoryview | bytes]]) -> str:
    """SHA-256 over (name, logical dtype, shape, payload) records in sorted name order.

    For masks the payload is the packed bits whatever the file's encoding, so the same mask has
    the same hash as ``bool`` and as ``packbits``; for other kinds it is the little-endian bytes.
    """
    digest = hashlib.sha256()
    for name, dtype, shape, payload in sorted(items, key=lambda item: item[0]):
        digest.update(hash_record(name, dtype, shape, payload))
        digest.update(payload)
    return "sha256:" + digest.hexdigest()


def mask_hash(
    masks: Mapping[str, np.ndarray], packed: Mapping[str, np.ndarray] | None = None
) -> str:
    """Content hash of bool masks (``packed``: their already packed bits, to avoid repacking)."""
    packed = packed or {}
    return content_hash(
        (name, "BOOL", tuple(m.shape), memoryview(packed[name] if name in packed else pack(m)))
        for name, m in masks.items()
    )


def array_hash(arrays: Mapping[str, np.ndarray]) -> str:
    """Content hash of scores or weights."""
    return content_hash(
        (name, dtype_name(a), tuple(a.shape), memoryview(a.reshape(-1)).cast("B"))
        for name, a in arrays.items()
    )


def neginf_count(array: np.ndarray) -> int:
    """How many entries are ``-inf``: one min() when there are none (the usual case), else one
    comparison (``np.isneginf`` is several times slower than ``== -inf``)."""
    if array.size == 0 or array.min() > -np.inf:  # a NaN minimum is not > -inf: counted
        return 0
    return int(np.count_nonzero(array == -np.inf))


def has_nan(array: np.ndarray) -> bool:
    """Whether a float array holds a NaN; max() propagates NaN and needs no temporary array."""
    return bool(array.size) and bool(np.isnan(array.max()))
