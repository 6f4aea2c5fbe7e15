"""A numpy ``.npz`` archive of 0/1 arrays, named by parameter (``np.savez(path, **masks)``).

Loaded with ``allow_pickle=False``: object arrays are refused.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from maskkit.errors import FormatError
from maskkit.interop._common import collect

ZIP_MAGIC = b"PK\x03\x04"


def sniff(data: bytes | bytearray | memoryview) -> bool:
    """A zip archive of ``.npy`` members only (a torch zip holds ``data.pkl`` instead)."""
    if bytes(data[:4]) != ZIP_MAGIC:
        return False
    try:
        names = zipfile.ZipFile(io.BytesIO(bytes(data))).namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


def read(data: bytes | bytearray | memoryview, *, source: str) -> dict[str, np.ndarray]:
    if bytes(data[:4]) == ZIP_MAGIC and not sniff(data):
        raise FormatError(
            f"{source}: not a readable .npz archive (a zip archive whose members are not all "
            ".npy arrays)"
        )
    try:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise FormatError(f"{source}: not a readable .npz archive ({exc})") from None
    return collect(((name, name, a) for name, a in arrays.items()), source=source, layout="npz")
