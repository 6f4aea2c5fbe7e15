"""Finding the weights file an init reference names, without trusting the reference.

A mask's ``init`` path comes from a file someone else may have written, so it is only a hint:
it is opened only if it names a regular file (not a device, FIFO or symbolic link), read only
up to the size its safetensors header announces, and its SHA-256 is compared before anything
in it is parsed. A mismatch says "does not match" and never echoes the other file's digest.

A relative path is resolved against the folder of the artifact that records it, so a folder of
masks and weights can be copied elsewhere and still train. The file is looked up, by its
SHA-256, at (1) the path as recorded, (2) the same file name beside the artifact, (3) that name
in each ``weights_dirs`` folder and then in each folder of ``MASKKIT_WEIGHTS_PATH``, and (4) the
recorded path relative to the current directory (where stages writing to stdout record it).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from maskkit.errors import FormatError, IntegrityError
from maskkit.format.container import MAX_HEADER_BYTES

#: The environment variable naming extra folders (os.pathsep-separated) to look in.
WEIGHTS_PATH_ENV = "MASKKIT_WEIGHTS_PATH"

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FoundWeights:
    """The file an init reference names: where it was found, and its verified bytes."""

    path: str
    data: bytes


def shown(text: str) -> str:
    """``text`` with control characters escaped, safe to print from a file's metadata."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def artifact_folder(source: str) -> str:
    """The folder relative init paths resolve against: the artifact file's, or '' (the current
    directory) for an artifact that came from no file (a name such as ``<stdin>``)."""
    if source.startswith("<") and source.endswith(">"):
        return ""
    return os.path.dirname(source)


def search_folders(weights_dirs: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """``weights_dirs``, then the folders of ``MASKKIT_WEIGHTS_PATH`` (empty entries skipped)."""
    extra = os.environ.get(WEIGHTS_PATH_ENV, "").split(os.pathsep)
    return [os.fspath(d) for d in weights_dirs] + [d for d in extra if d]


def candidates(
    path: str | None, *, source: str, weights_dirs: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """Where to look for the file a recorded init ``path`` names, in order, without repeats."""
    if not path:
        return []
    base = artifact_folder(source)
    name = os.path.basename(path)
    found = [os.path.join(base, path)]
    if name not in ("", ".", ".."):
        found.append(os.path.join(base, name))
        found += [os.path.join(folder, name) for folder in search_folders(weights_dirs)]
    found.append(path)
    unique: dict[str, str] = {}
    for candidate in found:
        unique.setdefault(os.path.normpath(os.path.abspath(candidate)), candidate)
    return list(unique.values())


def find_init_weights(
    sha256: str,
    path: str | None,
    *,
    source: str,
    weights_dirs: Sequence[str | os.PathLike[str]] = (),
) -> FoundWeights:
    """The first candidate file (see :func:`candidates`) whose bytes have SHA-256 ``sha256``.

    Raises :class:`IntegrityError` when a candidate exists but holds other bytes, else
    :class:`FormatError`; both name ``source`` and every place looked at. The exception's
    ``cli_message`` (see :class:`maskkit.errors.MaskkitError`) gives the same advice in terms
    of the command-line options.
    """
    tried: list[str] = []
    mismatch = False
    for candidate in candidates(path, source=source, weights_dirs=weights_dirs):
        try:
            data = read_regular_safetensors(candidate)
        except FormatError as exc:
            tried.append(str(exc))
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return FoundWeights(candidate, data)
        mismatch = True
        tried.append(f"{shown(candidate)} does not match")
    where = "; ".join(tried) if tried else "it records no path"
    head = f"{shown(source)}: no file has the SHA-256 ({sha256[:16]}...) of its initial weights: {where}"
    raise (IntegrityError if mismatch else FormatError)(
        f"{head}; pass it with weights=, or its folder with weights_dirs= or {WEIGHTS_PATH_ENV}",
        cli_message=f"{head}; pass it with --weights, or its folder with --weights-dir or "
        f"{WEIGHTS_PATH_ENV}",
    )


def read_regular_safetensors(path: str, *, follow_symlinks: bool = False) -> bytes:
    """The bytes of the safetensors file at ``path``, which must be a regular file of exactly
    the size its header announces; nothing beyond that size is read.

    The file is checked with ``lstat`` before it is opened (a device or FIFO is never opened)
    and again with ``fstat`` on the opened descriptor, so a swap in between cannot slip another
    kind of file in. Raises :class:`FormatError` naming ``path``.
    """
    name = shown(path)
    try:
        before = os.stat(path) if follow_symlinks else os.lstat(path)
    except FileNotFoundError:
        raise FormatError(f"{name}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except ValueError:  # a NUL character or a lone surrogate: no file has that name
        raise FormatError(f"{name}: no such file") from None
    _require_regular(before.st_mode, name)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FormatError(
                f"{name}: is a symbolic link, not followed for a recorded path"
            ) from None
        raise FormatError(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        now = os.fstat(fd)
        _require_regular(now.st_mode, name)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise FormatError(f"{name}: was replaced while being opened")
        return _read_announced(fd, now.st_size, name)
    finally:
        os.close(fd)


def _require_regular(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = (
        "a symbolic link, not followed for a recorded path" if stat.S_ISLNK(mode)
        else "a directory" if stat.S_ISDIR(mode)
        else "a FIFO" if stat.S_ISFIFO(mode)
        else "a character device" if stat.S_ISCHR(mode)
        else "a block device" if stat.S_ISBLK(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "not a regular file"
    )  # fmt: skip
    raise FormatError(f"{name}: is {kind}; only a regular file is read")


def _read_announced(fd: int, size: int, name: str) -> bytes:
    """Read the 8-byte length, the header, then exactly the data its offsets announce."""
    prefix = _read_exactly(fd, 8, name)
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER_BYTES:
        raise FormatError(f"{name}: header length {length} exceeds the 100 MB limit")
    if 8 + length > size:
        raise FormatError(f"{name}: truncated: the header runs past the end of the file")
    header = _read_exactly(fd, length, name)
    total = 8 + length + _data_end(header, name)
    if total != size:
        # (No sizes in the message: the path may name a file the reader should learn nothing of.)
        raise FormatError(f"{name}: its size is not the one its safetensors header announces")
    rest = _read_exactly(fd, total - 8 - length, name)
    if os.read(fd, 1):
        raise FormatError(f"{name}: grew while being read")
    return prefix + header + rest


def _read_exactly(fd: int, n: int, name: str) -> bytes:
    parts: list[bytes] = []
    left = n
    while left:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            raise FormatError(f"{name}: truncated: shorter than its header announces")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _data_end(header: bytes, name: str) -> int:
    """The largest data offset in a safetensors header: the data section's announced size.

    Only this much is parsed before the hash check; the strict parse runs on verified bytes.
    """
    try:
        doc = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FormatError(f"{name}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{name}: not a safetensors file (its header is not a JSON object)")
    end = 0
    for key, entry in doc.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int and o >= 0 for o in offsets)
        ):
            raise FormatError(f"{name}: not a safetensors file (a tensor has no data offsets)")
        end = max(end, offsets[1])
    return end
