"""Unpickling restricted to the numpy globals a CIFAR python batch needs.

A pickle can name any importable callable (``os.system`` included) and have it called while
loading; this unpickler resolves only the few numpy names that rebuild an ndarray and refuses
every other global.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

try:  # numpy >= 2 moved the core modules; old pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct, scalar
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """The one use of ``_codecs.encode`` a Python 3 protocol-2 pickle makes: bytes as latin1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refusing _codecs.encode other than str to latin1")
    return text.encode("latin1")


# The originals (Python 2, protocol 2) need only _reconstruct, ndarray and dtype; the rest lets a
# batch re-pickled by Python 3 (protocols 2 to 5) load too. None of them runs user-chosen code.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{
        (module, name): value
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name, value in (("_reconstruct", _reconstruct), ("scalar", scalar))
    },
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"refusing to load global {module}.{name}")
        self.qualified_name = f"{module}.{name}"


class NumpyOnlyUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None


def loads_numpy_only(data: bytes, *, encoding: str = "latin1") -> Any:
    """Unpickle ``data`` allowing only ndarray reconstruction; raises RefusedGlobal otherwise.

    ``latin1`` decodes the Python 2 strings in the original CIFAR files (array bytes included).
    """
    return NumpyOnlyUnpickler(io.BytesIO(data), encoding=encoding).load()
