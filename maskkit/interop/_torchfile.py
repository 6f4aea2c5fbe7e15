"""Reading and writing torch.save files: ``weights_only=True`` in, reproducible bytes out.

Foreign torch files are never unpickled beyond what ``torch.load(weights_only=True)`` allows:
tensors and plain containers. The one extension is ``collections.defaultdict``, which
``torch.ao.pruning`` sparsifiers put in their ``state_dict()``: its global name resolves to a
function that returns an empty plain ``dict`` (the pickled default factory, itself an allowed
global, is ignored), so nothing beyond dict construction can run.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from typing import Any

from maskkit.errors import FormatError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _plain_dict(*_args: Any) -> dict:
    return {}


@contextlib.contextmanager
def _sparsifier_globals():
    import torch

    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is None:  # torch < 2.5: defaultdict files fail with the refusal message
        yield
        return
    with safe_globals([(_plain_dict, "collections.defaultdict"), dict]):
        yield


class NotTorchFile(FormatError):
    """The bytes are not a torch.save file at all (as opposed to one that is refused)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: not a torch file ({reason})")
        self.reason = reason


def load_torch(data: bytes | bytearray | memoryview, *, source: str) -> Any:
    """``torch.load(..., map_location="cpu", weights_only=True)`` of in-memory file bytes.

    Raises :class:`NotTorchFile` (a FormatError) for bytes that are not a torch file, and
    FormatError for a file that needs Python objects other than tensors and plain containers
    (naming the global it asked for); nothing in such a file is ever run.

    >>> load_torch(save_torch({"fc.weight": torch.ones(2)}), source="m.pt")  # doctest: +SKIP
    {'fc.weight': tensor([1., 1.])}
    """
    import pickle

    import torch

    try:
        with warnings.catch_warnings(), _sparsifier_globals():
            # e.g. "Detected pickle protocol 4": the outcome is reported below, not as a warning.
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" not in text:
            raise NotTorchFile(source, _first_line(text)) from None
        if "Unsupported operand" in text:
            # Bytes that are no pickle at all (a text file) fail here as well as raw pickles.
            raise NotTorchFile(source, "unrecognised content, not written by torch.save") from None
        found = _GLOBAL.search(text)
        needs = f"it asks for {found.group(1)!r}" if found else "it holds unsupported content"
        raise FormatError(
            f"{source}: refusing to unpickle: {needs}, which torch.load(weights_only=True) does "
            "not allow (maskkit reads foreign torch files with weights_only=True only: tensors "
            "and plain containers); re-save the masks as a plain dict of tensors"
        ) from None
    except Exception as exc:  # torch raises KeyError, RuntimeError, EOFError... on non-torch bytes
        raise NotTorchFile(source, _reason(exc)) from None


def save_torch(obj: Any) -> bytes:
    """``torch.save`` into memory.

    Saving to a path would name the zip's inner folder after the file (a temporary name, when
    written atomically); in memory it is always ``archive/``, so equal content gives equal bytes.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _reason(exc: Exception) -> str:
    text = _first_line(str(exc))
    if "PytorchStreamReader" in text:
        # "PytorchStreamReader failed reading zip archive: failed finding central directory. ..."
        detail = text.partition(": ")[2].partition(".")[0] or "unreadable"
        return f"damaged zip archive: {detail}"
    if isinstance(exc, (KeyError, EOFError, UnicodeDecodeError)) or "magic number" in text:
        return "unrecognised content"
    return f"{type(exc).__name__}: {text}"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no details"
    return line[:200]
