"""Reading and writing artifact files: whole-file reads, header-only reads, atomic writes.

Standard library only: ``maskkit info`` reads a header through here without importing numpy.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from maskkit.errors import FormatError
from maskkit.format import container
from maskkit.format.metadata import Metadata, metadata_from_header

Source = str | os.PathLike[str] | bytes | bytearray | memoryview


@contextlib.contextmanager
def _file_errors(name: str):
    try:
        yield
    except IsADirectoryError:
        raise FormatError(f"{name}: is a directory, not an artifact file") from None
    except FileNotFoundError:
        raise FormatError(f"{name}: no such file") from None
    except PermissionError:
        raise FormatError(f"{name}: permission denied") from None


def read_file(path: str | os.PathLike[str], *, name: str | None = None) -> bytes:
    """Read a whole file (regular, FIFO or /dev/fd/N) into memory."""
    name = name or os.fspath(path)
    with _file_errors(name), open(path, "rb") as f:
        return f.read()


def read_header(source: Source, *, name: str | None = None) -> container.Header:
    """The safetensors header of a path or of in-memory bytes, without touching the data."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return container.read_header(source, source=name or "<bytes>")
    name = name or os.fspath(source)
    with _file_errors(name):
        if os.path.isdir(source):
            raise IsADirectoryError(source)
        if not os.path.isfile(source):
            return container.read_header(read_file(source, name=name), source=name)
        return container.read_header_from_file(os.fspath(source), source=name)


def read_metadata(source: Source, *, name: str | None = None) -> Metadata:
    """The maskkit metadata of an artifact, checking the structure but not the tensor data.

    Use :func:`maskkit.load` (or ``maskkit verify``) to check the tensors against the recorded
    counts and content hash.
    """
    header = read_header(source, name=name)
    return metadata_from_header(header.metadata, source=_name(source, name))


def _name(source: Source, name: str | None) -> str:
    if name:
        return name
    return "<bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else os.fspath(source)


def write_atomic(path: str | os.PathLike[str], chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to a temporary file beside ``path`` and rename it into place.

    A failure part-way (full disk, Ctrl-C) leaves any existing ``path`` untouched and no
    temporary file behind.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    mask = os.umask(0)
    os.umask(mask)
    return mask
