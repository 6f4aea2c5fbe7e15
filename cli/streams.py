"""Where artifacts come from and go to: a path or stdin in, a path or stdout out.

The rules (CONVENTIONS.md): never wait on a terminal stdin, never write binary to a terminal,
an empty stdin means the upstream stage failed, and a file output is replaced only by a complete
file. The output is checked before any work starts, so a long run never fails at the last step.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maskkit.errors import MaskkitError

if TYPE_CHECKING:
    from maskkit.format import Artifact

STDIN_NAME = "<stdin>"


def is_stdin(path: str | None) -> bool:
    return path in (None, "-")


def read_input(path: str | None) -> tuple[bytes, str]:
    """The bytes of the input artifact and the name to use for it in messages."""
    from maskkit.format.files import read_file, read_fileobj

    if not is_stdin(path):
        return read_file(path), path
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        raise MaskkitError(
            "no input: give an artifact path, or pipe one in (refusing to read binary from a terminal)"
        )
    data = read_fileobj(stdin.buffer, name=STDIN_NAME, artifact=False)
    if not data:
        raise MaskkitError(f"{STDIN_NAME}: empty input: the upstream stage produced nothing")
    return data, STDIN_NAME


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
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise MaskkitError(f"{path}: is a directory; give a file name for the output")
        if not os.path.isdir(folder):
            raise MaskkitError(f"{path}: cannot write: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise MaskkitError(f"{path}: cannot write: folder {folder} is not writable")
        return cls(path)

    @property
    def name(self) -> str:
        return self.path or "<stdout>"

    def write(self, artifact: Artifact) -> None:
        if self.path is None:
            out = sys.stdout.buffer
            for chunk in artifact.chunks():
                out.write(chunk)
            out.flush()
            _close_stdout()
            return
        try:
            artifact.save(self.path)
        except OSError as exc:
            raise MaskkitError(f"{self.path}: cannot write: {exc.strerror or exc}") from None


def _close_stdout() -> None:
    """Point stdout at /dev/null so the next stage sees end-of-file now, not after our teardown."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
