"""Reading and writing artifact files: whole-file reads, header-only reads, safe writes.

Standard library only: ``maskkit info`` reads a header through here without importing numpy.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from maskkit.errors import FormatError, MaskkitError
from maskkit.format import container
from maskkit.format.metadata import Metadata, metadata_from_header

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
# Pipes are read in pieces of this size, so a header that announces more data than will ever
# arrive costs only the bytes that do.
_CHUNK = 1 << 24
# Data of another format (for convert) has no header to bound it: a pipe gives at most this.
_MAX_FOREIGN_PIPE = 1 << 30


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
    except OSError as exc:
        raise FormatError(f"{name}: cannot read: {exc.strerror or exc}") from None


def read_file(
    path: str | os.PathLike[str], *, name: str | None = None, artifact: bool = False
) -> bytes:
    """Read a whole file: a regular file, a FIFO or /dev/fd/N (devices are refused unread).

    ``artifact`` reads no more than a safetensors header announces and refuses anything else at
    once; otherwise (files of other formats, for ``convert`` and hashing) a regular file is read
    whole, and a pipe is bounded by its header when it starts like safetensors.
    """
    name = name or os.fspath(path)
    with _file_errors(name):
        _check_kind(os.stat(path).st_mode, name)
        with open(path, "rb") as f:
            return read_fileobj(f, name=name, artifact=artifact)


def read_fileobj(f: BinaryIO, *, name: str, artifact: bool = True) -> bytes:
    """Read one input from an open binary file (stdin included).

    Anything but a regular file is read as a stream. A stream that starts like safetensors (or
    any stream, with ``artifact``) is read as one: 8 bytes, the header length they announce
    (100 MB at most), then the data length the header describes, after which it must end. So a
    stdin redirected from ``/dev/zero`` is refused after 16 bytes. ``/dev/null`` or any stream
    that ends at once gives ``b""`` (the caller decides what an empty input means). Other
    data is read whole only from a pipe.
    """
    try:
        mode = os.fstat(f.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # an in-memory stream: no file behind it
        mode = stat.S_IFIFO
    if stat.S_ISDIR(mode):
        raise FormatError(f"{name}: is a directory, not an artifact file")
    if stat.S_ISREG(mode):
        return _read_regular(f, name) if artifact else f.read()
    prefix = _read_exact(f, 16)
    if not prefix:
        return b""
    if artifact or _starts_like_safetensors(prefix):
        return _read_stream(f, name, prefix)
    if not stat.S_ISFIFO(mode):
        raise FormatError(f"{name}: is a {_kind_name(mode)}, not a file")
    rest = _read_exact(f, _MAX_FOREIGN_PIPE)
    if len(rest) == _MAX_FOREIGN_PIPE and f.read(1):
        raise FormatError(f"{name}: more than 1 GiB from a pipe, and not a safetensors file")
    return prefix + rest


def _starts_like_safetensors(prefix: bytes) -> bool:
    return (
        len(prefix) > 8
        and int.from_bytes(prefix[:8], "little") <= container.MAX_HEADER_BYTES
        and prefix[8:9] == b"{"
    )


def _check_kind(mode: int, name: str) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(name)
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise FormatError(f"{name}: is a {_kind_name(mode)}, not an artifact file")


def _kind_name(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _read_regular(f: BinaryIO, name: str) -> bytes:
    # The header is checked against the file size before the data section is read, so a large
    # file that is not an artifact costs 16 bytes of reading, not its size.
    start = f.tell()
    size = os.fstat(f.fileno()).st_size - start
    container.read_header_from_open(f, size=size, name=name)
    f.seek(start)
    return f.read(size)


def _read_stream(f: BinaryIO, name: str, prefix: bytes) -> bytes:
    n = container.header_length(prefix, None, name)
    header_bytes = prefix[8 : 8 + n]
    header_bytes += _read_exact(f, n - len(header_bytes))
    if len(header_bytes) < n:
        raise FormatError(
            f"{name}: truncated: the input ends {len(header_bytes)} bytes into a {n}-byte header"
        )
    header = container.parse_header(header_bytes, data_size=None, name=name)
    size = header.data_size
    data = prefix[8 + n :]
    data += _read_exact(f, max(0, size - len(data)))
    if len(data) < size:
        raise FormatError(
            f"{name}: truncated: the header describes {size} bytes of tensor data "
            f"but the input ends after {len(data)}"
        )
    if len(data) > size or f.read(1):
        raise FormatError(
            f"{name}: the input goes on past the {size} bytes of tensor data its header describes"
        )
    return prefix[:8] + header_bytes + data


def _read_exact(f: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at end of input; memory grows only as bytes arrive."""
    chunks = []
    left = n
    while left:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_header(source: Source, *, name: str | None = None) -> container.Header:
    """The safetensors header of a path or of in-memory bytes, without touching the data."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return container.read_header(source, name=name or "<bytes>")
    name = name or os.fspath(source)
    with _file_errors(name):
        mode = os.stat(source).st_mode
        _check_kind(mode, name)
        if not stat.S_ISREG(mode):
            data = read_file(source, name=name, artifact=True)
            return container.read_header(data, name=name)
        return container.read_header_from_file(os.fspath(source), name=name)


def read_metadata(source: Source, *, name: str | None = None) -> Metadata:
    """The maskkit metadata of an artifact, checking the structure but not the tensor data.

    Use :func:`maskkit.load` (or ``maskkit verify``) to check the tensors against the recorded
    counts and content hash.
    """
    header = read_header(source, name=name)
    return metadata_from_header(header.metadata, name=_name(source, name))


def _name(source: Source, name: str | None) -> str:
    if name:
        return name
    return "<bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else os.fspath(source)


#: Paths that name an open file descriptor rather than a file: written into, never replaced.
_FD_PATH = re.compile(r"/(?:dev/fd|proc/(?:self|thread-self|(\d+))(?:/task/\d+)?/fd)/(\d+)")
_MAX_LINKS = 40


@dataclass(frozen=True)
class Destination:
    """Where a write to a path lands.

    ``through``: write into the node that is there (character device, FIFO, /dev/fd/N), as a
    shell redirection would; otherwise ``path`` (a symlink's final target, or the path itself)
    is replaced by a complete file. ``fd``: the descriptor of this process that the path names.
    """

    path: str
    through: bool
    fd: int | None = None


def destination(path: str | os.PathLike[str]) -> Destination:
    """How :func:`write_atomic` would write ``path``; MaskkitError if it must not be written."""
    name = os.fspath(path)
    current = name
    for _ in range(_MAX_LINKS):
        match = _FD_PATH.fullmatch(current)
        if match:
            pid, fd = match.groups()
            own = pid is None or int(pid) == os.getpid()
            return Destination(current, through=True, fd=int(fd) if own else None)
        link = os.readlink(current) if os.path.islink(current) else None
        if link is not None and _FD_PATH.fullmatch(link):  # /dev/stdout: whatever fd 1 is
            current = link
            continue
        try:
            st = os.stat(current)
        except FileNotFoundError:
            st = None  # a new file, or a link to one
        if st is not None and not stat.S_ISREG(st.st_mode):
            if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
                return Destination(current, through=True)
            if stat.S_ISDIR(st.st_mode):
                raise MaskkitError(f"{name}: is a directory; give a file name for the output")
            kind = "block device" if stat.S_ISBLK(st.st_mode) else "socket or special file"
            raise MaskkitError(f"{name}: is a {kind}; refusing to write an artifact over it")
        if link is None:
            return Destination(current, through=False)
        # Replace what the link points at and keep the link (a link into a shared folder).
        current = os.path.join(os.path.dirname(current), link)
    raise MaskkitError(f"{name}: too many levels of symbolic links")


def write_atomic(path: str | os.PathLike[str], chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to ``path`` so that it never holds a partial file.

    A regular file or new path is written to a temporary file beside it and renamed into place:
    a failure part-way (full disk, Ctrl-C) leaves any existing file untouched and no temporary
    file behind. A symlink keeps its link: its final target is replaced the same way. Character
    devices, FIFOs and /dev/fd/N are written into, like a shell redirection (a reader may be
    waiting on them); a block device or directory is refused. An ``OSError`` names ``path``.
    """
    name = os.fspath(path)
    target = destination(name)
    try:
        if target.through:
            _write_through(target, chunks)
        else:
            _replace(target.path, chunks)
    except OSError as exc:
        if exc.filename == name:
            raise
        raise OSError(exc.errno, exc.strerror, name) from exc


def _write_through(target: Destination, chunks: Iterable[bytes | memoryview]) -> None:
    if target.fd is not None:
        fd = os.dup(target.fd)  # the descriptor as the shell opened it (append mode, offset)
    else:
        fd = os.open(target.path, os.O_WRONLY | os.O_CLOEXEC)
        if stat.S_ISREG(os.fstat(fd).st_mode):  # another process's fd naming a file
            os.ftruncate(fd, 0)
    try:
        for chunk in chunks:
            view = memoryview(chunk).cast("B")
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _replace(path: str, chunks: Iterable[bytes | memoryview]) -> None:
    folder, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    mask = os.umask(0)
    os.umask(mask)
    return mask
