"""Unpickling restricted to the numpy globals a CIFAR python batch needs.

A pickle can name any importable callable (``os.system`` included) and have it called while
loading, or make a few bytes allocate gigabytes; this unpickler resolves only the few numpy names
that rebuild a numeric ndarray, checks every array's size before it exists, and bounds its work
by the size of the input.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # numpy >= 2 moved the core modules; old pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct, scalar
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]


#: Largest array a batch may hold, in bytes (a CIFAR batch holds 10,000 x 3072 = 30.7 MB).
DEFAULT_MAX_ARRAY_BYTES = 1 << 28


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """The one use of ``_codecs.encode`` a Python 3 protocol-2 pickle makes: bytes as latin1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refusing _codecs.encode other than str to latin1")
    return text.encode("latin1")


class _NdarrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: usable only as ``_reconstruct``'s first argument.

    The real class would let ``REDUCE``/``NEWOBJ`` allocate an array of any announced shape.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise pickle.UnpicklingError("refusing to call numpy.ndarray (it allocates any shape)")


_NDARRAY = _NdarrayClass()


def _plain_dtype(value: Any) -> np.dtype:
    """A dtype of numbers or bools only: no objects, fields or subarrays (fixed, small size)."""
    if not isinstance(value, np.dtype):
        value = np.dtype(value)
    if value.hasobject or value.fields is not None or value.subdtype is not None:
        raise pickle.UnpicklingError(f"refusing numpy dtype {value} (numbers only)")
    if value.kind not in "biufc" or not 0 < value.itemsize <= 16:
        raise pickle.UnpicklingError(f"refusing numpy dtype {value} (numbers only)")
    return value


def _nbytes(shape: Any, dtype: np.dtype, limit: int) -> int:
    if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
        raise pickle.UnpicklingError("array shape must be a tuple of non-negative integers")
    if len(shape) > 32:
        raise pickle.UnpicklingError(f"array of {len(shape)} dimensions")
    size = math.prod(shape) * dtype.itemsize
    if size > limit:
        raise pickle.UnpicklingError(f"array of {size} bytes, over the {limit}-byte limit")
    return size


def _dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    return _plain_dtype(np.dtype(spec, bool(align), bool(copy)))


def _checked_globals(limit: int) -> dict[tuple[str, str], Any]:
    def reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
        if cls is not _NDARRAY:
            raise pickle.UnpicklingError("_reconstruct of something other than numpy.ndarray")
        plain = _plain_dtype(dtype)
        _nbytes(shape, plain, limit)
        return _reconstruct(np.ndarray, shape, plain)

    def frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        plain = _plain_dtype(dtype)
        if not isinstance(buffer, (bytes, bytearray)) or len(buffer) != _nbytes(
            shape, plain, limit
        ):
            raise pickle.UnpicklingError("array buffer does not match its shape")
        return _frombuffer(buffer, plain, shape, order)

    def make_scalar(dtype: Any, data: Any = None) -> Any:
        plain = _plain_dtype(dtype)
        if not isinstance(data, bytes) or len(data) != plain.itemsize:
            raise pickle.UnpicklingError("numpy scalar bytes do not match its dtype")
        return scalar(plain, data)

    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _dtype,
    }
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = make_scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = frombuffer
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


#: The globals a pickle may name (each checked before it allocates anything).
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(_checked_globals(0))


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"refusing to load global {module}.{name}")
        self.qualified_name = f"{module}.{name}"


class NumpyOnlyUnpickler(pickle._Unpickler):
    """An unpickler that builds only numeric numpy arrays, within stated memory bounds.

    The pure-Python unpickler keeps its memo in a dict (the C one sizes an array by the largest
    memo index, which a 5-byte opcode sets to billions), every opcode is counted against a
    budget proportional to the input, and every array's size is checked before it is allocated:
    a pickle cannot make more than a small multiple of its own size.
    """

    def __init__(self, file: Any, *, max_ops: int, max_array_bytes: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._globals = _checked_globals(max_array_bytes)
        self._ops_left = max_ops
        self._limit = max_array_bytes

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._globals[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None

    def _build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, np.dtype):
            # (version, byte order, subarray, names, fields, elsize, alignment, flags): only
            # the byte order may be set; the rest could turn a plain dtype into another.
            if not (
                isinstance(state, tuple)
                and len(state) in (8, 9)
                and state[2:5] == (None,) * 3
                and state[5] in (-1, inst.itemsize)
            ):
                raise pickle.UnpicklingError("refusing a numpy dtype state that changes the dtype")
            inst.__setstate__(state)
            _plain_dtype(inst)
        elif isinstance(inst, np.ndarray):
            if not (isinstance(state, tuple) and len(state) == 5):
                raise pickle.UnpicklingError("malformed numpy array state")
            _, shape, dtype, _, data = state
            size = _nbytes(shape, _plain_dtype(dtype), self._limit)
            if not isinstance(data, (bytes, str)) or len(data) != size:
                raise pickle.UnpicklingError("numpy array data does not match its shape")
            inst.__setstate__(state)
        else:
            raise pickle.UnpicklingError(f"refusing to set the state of a {type(inst).__name__}")

    def _global(self) -> None:
        lines = [self.readline(), self.readline()]
        if not all(line.endswith(b"\n") for line in lines):
            raise pickle.UnpicklingError("pickle data was truncated")
        module, name = (line[:-1].decode("utf-8") for line in lines)
        self.append(self.find_class(module, name))


def _counted(load: Callable[[NumpyOnlyUnpickler], None]) -> Callable[[NumpyOnlyUnpickler], None]:
    def run(self: NumpyOnlyUnpickler) -> None:
        self._ops_left -= 1
        if self._ops_left < 0:
            raise pickle.UnpicklingError("more opcodes than a pickle of this size needs")
        load(self)

    return run


_CHECKED = {
    pickle.BUILD[0]: NumpyOnlyUnpickler._build,
    pickle.GLOBAL[0]: NumpyOnlyUnpickler._global,
}
# Every opcode counted; BUILD and GLOBAL checked (the class attribute the pure-Python load loop dispatches on).
NumpyOnlyUnpickler.dispatch = {
    key: _counted(_CHECKED.get(key, f)) for key, f in pickle._Unpickler.dispatch.items()
}


def loads_numpy_only(
    data: bytes,
    *,
    encoding: str = "latin1",
    max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES,
    max_ops: int | None = None,
) -> Any:
    """Unpickle ``data`` allowing only numeric ndarray reconstruction.

    Raises RefusedGlobal for any other global, and ``pickle.UnpicklingError`` for an array over
    ``max_array_bytes`` or a pickle of more than ``max_ops`` opcodes (default: 4096 plus one
    per 64 bytes). Each opcode makes at most one small object, so memory stays within a small
    multiple of ``len(data)``. ``latin1`` decodes the Python 2 strings in the original CIFAR
    files (array bytes included).
    """
    if max_ops is None:
        max_ops = 4096 + len(data) // 64
    unpickler = NumpyOnlyUnpickler(
        io.BytesIO(data), max_ops=max_ops, max_array_bytes=max_array_bytes, encoding=encoding
    )
    return unpickler.load()
