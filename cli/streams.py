"""Where artifacts come from and go to: a path or stdin in, a path or stdout out.

The rules: never wait on a terminal stdin, never write binary to a terminal, an empty stdin
means the upstream stage failed, and a file output is replaced only by a complete file (devices,
FIFOs and /dev/fd/N are written into, never replaced). The output is checked before any work
starts, so a long run never fails at the last step.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from maskkit.errors import MaskkitError

if TYPE_CHECKING:
    from maskkit.format import Artifact
    from maskkit.format.files import Destination

STDIN_NAME = "<stdin>"
STDOUT_NAME = "<stdout>"

P = ParamSpec("P")
R = TypeVar("R")


def is_stdin(path: str | None) -> bool:
    return path in (None, "-")


def read_input(path: str | None, *, artifact: bool = True) -> tuple[bytes, str]:
    """The bytes of the input artifact and the name to use for it in messages.

    ``artifact`` reads no more than a safetensors header announces and refuses anything else
    after 16 bytes; ``convert`` passes False to read files of other formats.
    """
    found = read_optional_input(path, artifact=artifact)
    if found is not None:
        return found
    if _stdin_is_terminal():
        raise MaskkitError(
            "no input: give an artifact path, or pipe one in (refusing to read binary from a terminal)"
        )
    raise MaskkitError(f"{STDIN_NAME}: empty input: the upstream stage produced nothing")


def read_optional_input(path: str | None, *, artifact: bool = True) -> tuple[bytes, str] | None:
    """The input artifact of a stage that can also start from nothing (``score --model``).

    The one rule for every stage's input: a path is read; otherwise stdin is read whenever it
    is not a terminal, so an artifact piped in is never ignored. None (no input) only for a
    terminal, a closed stdin, or one that ends at once (``/dev/null``, an empty pipe).
    """
    from maskkit.format.files import read_file, read_fileobj

    if not is_stdin(path):
        return read_file(path, artifact=artifact), path
    if _stdin_is_terminal():
        return None
    stream = getattr(sys.stdin, "buffer", None)
    data = read_fileobj(stream, name=STDIN_NAME, artifact=artifact) if stream is not None else b""
    return (data, STDIN_NAME) if data else None


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (OSError, ValueError):  # closed
        return True


def load_input(path: str | None, kind: str | Sequence[str] | None = None) -> Artifact:
    """Read, check and return the input artifact (KindError if it is not of ``kind``)."""
    from maskkit.format import load

    data, name = read_input(path)
    return load(data, kind=kind, name=name)


@dataclass(frozen=True)
class Output:
    """A checked destination for one artifact: a file path, or stdout."""

    path: str | None

    @classmethod
    def open(cls, path: str | None) -> Output:
        if path in (None, "-"):
            if sys.stdout.isatty():
                raise MaskkitError(
                    "refusing to write a binary artifact to a terminal: redirect stdout "
                    "(> file.safetensors), pipe it to the next stage, or use -o FILE"
                )
            return cls(None)
        check_writable(path)
        return cls(path)

    @property
    def name(self) -> str:
        return self.path or STDOUT_NAME

    def write(self, artifact: Artifact) -> None:
        try:
            if self.path is not None:
                artifact.save(self.path)
                return
            out = sys.stdout.buffer
            for chunk in artifact.chunks():
                out.write(chunk)
            out.flush()
        except BrokenPipeError:
            if self.path is None:
                raise  # the next stage went away: the CLI ends quietly
            raise MaskkitError(f"{self.path}: cannot write: the reader went away") from None
        except OSError as exc:
            raise MaskkitError(f"{self.name}: cannot write: {exc.strerror or exc}") from None
        _close_stdout()


def run_stage(output: str | None, make: Callable[[], Artifact]) -> None:
    """What every artifact-writing stage does around its library call: open ``output`` (path or
    stdout) before any work, so a long stage never fails at its last step on a terminal stdout
    or a missing folder, then build the artifact and write it atomically."""
    out = Output.open(output)
    out.write(make())


def names_stdout(write: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function that writes stdout: an OSError it raises (a full disk) names
    ``<stdout>``, so that the CLI's one-line message says what could not be written."""

    @functools.wraps(write)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return write(*args, **kwargs)
        except BrokenPipeError:
            raise  # the reader went away: the CLI ends quietly
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise OSError(exc.errno, exc.strerror, STDOUT_NAME) from exc

    return wrapper


def check_writable(path: str) -> None:
    """Refuse, before any work, an output path that cannot take an artifact."""
    from maskkit.format.files import destination

    target = destination(path)
    if target.fd is not None:
        try:
            os.fstat(target.fd)
        except OSError:
            raise MaskkitError(
                f"{path}: cannot write: {target.fd} is not an open descriptor"
            ) from None
    if target.through:
        if _is_terminal(target):
            raise MaskkitError(f"{path}: is a terminal; refusing to write a binary artifact to it")
        if target.fd is None and not os.access(target.path, os.W_OK):
            raise MaskkitError(f"{path}: cannot write: permission denied")
        return
    folder = os.path.dirname(os.path.abspath(target.path))
    shown = path if target.path == path else f"{path} (-> {target.path})"
    if not os.path.isdir(folder):
        raise MaskkitError(f"{shown}: cannot write: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise MaskkitError(f"{shown}: cannot write: folder {folder} is not writable")


def _is_terminal(target: Destination) -> bool:
    import stat

    if target.fd is not None:
        try:
            return os.isatty(target.fd)
        except OSError:
            return False
    try:
        if not stat.S_ISCHR(os.stat(target.path).st_mode):
            return False  # a FIFO: opening it here would wait for its reader
        fd = os.open(target.path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False  # the write reports the problem with the path
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def _close_stdout() -> None:
    """Point stdout at /dev/null so the next stage sees end-of-file now, not after our teardown."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
