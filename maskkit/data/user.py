"""User datasets named ``package.module:callable``, converted once to in-memory tensors.

The module is imported from the current directory or ``PYTHONPATH``. The callable returns
``(train, test)``, two torch Datasets (map-style with ``__len__``/``__getitem__``, or iterable)
whose items are ``(x, label)``: ``x`` a tensor or numpy array of one fixed shape, ``label`` an
int (Python, numpy or 0-d integer tensor). It is called with ``data_dir`` and ``seed`` when its
signature names them (or takes ``**kwargs``), and with the dataset options as keyword arguments.

The items are read once and stacked into float32 / int64 tensors; maskkit does not normalise
them (do it in the Dataset) and does not augment them (``Dataset.augment`` is False).
``num_classes`` is ``max label + 1`` over both splits unless given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from maskkit._user_code import calling_user_code, keyword_params, resolve_callable
from maskkit.data.types import Dataset, Split
from maskkit.errors import DataError, OptionError

_PASSED_IF_NAMED = ("data_dir", "seed")


def resolve(name: str) -> Callable[..., Any]:
    """Import ``package.module`` and return its ``callable`` (dotted attributes allowed)."""
    return resolve_callable(name, "user dataset")


def _call(name: str, fn: Callable[..., Any], context: Mapping[str, Any], options: Mapping) -> Any:
    named, var_kw = keyword_params(fn)
    unknown = sorted(k for k in options if k not in named)
    if unknown and not var_kw:
        raise OptionError(
            f"user dataset {name!r} takes no option {', '.join(unknown)}; "
            f"its parameters: {', '.join(sorted(named)) or 'none'}"
        )
    kwargs = {k: v for k, v in context.items() if var_kw or k in named}
    kwargs.update(options)
    with calling_user_code("user dataset", name):
        return fn(**kwargs)


def _items(name: str, which: str, data: Any) -> Iterable[Any]:
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        return (data[i] for i in range(len(data)))
    if hasattr(data, "__iter__"):
        return iter(data)
    raise DataError(
        f"user dataset {name!r}: {which} split is a {type(data).__name__}, not a torch Dataset"
    )


def _as_input(value: Any) -> torch.Tensor | None:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor) or value.is_complex():
        return None
    return value


def _as_label(value: Any) -> int | None:
    """An integer class index from an int, numpy integer or one-element integer tensor/array."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.size == 1:
        return int(value.reshape(()))
    if (
        isinstance(value, torch.Tensor)
        and value.numel() == 1
        and not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
    ):
        return int(value.item())
    return None


def _fast_tensor_dataset(data: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A TensorDataset of (inputs, integer labels) converts without a per-item loop."""
    if not isinstance(data, torch.utils.data.TensorDataset) or len(data.tensors) != 2:
        return None
    x, y = data.tensors
    if y.dim() != 1 or y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        return None
    if x.is_complex() or x.dim() < 2:
        return None
    return x.detach().to("cpu", torch.float32).contiguous(), y.detach().to("cpu", torch.int64)


def _to_tensors(name: str, which: str, data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    fast = _fast_tensor_dataset(data)
    if fast is not None:
        return fast
    inputs: list[torch.Tensor] = []
    labels: list[int] = []
    shape: tuple[int, ...] | None = None
    for i, item in enumerate(_items(name, which, data)):
        where = f"user dataset {name!r}: {which} item {i}"
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise DataError(f"{where} is a {type(item).__name__}, expected a pair (x, label)")
        x = _as_input(item[0])
        if x is None:
            raise DataError(
                f"{where}: x is a {type(item[0]).__name__}, expected a real tensor or numpy array "
                "(for images add a ToTensor transform)"
            )
        label = _as_label(item[1])
        if label is None:
            raise DataError(f"{where}: label {item[1]!r} is not an integer class index")
        if shape is None:
            shape = tuple(x.shape)
        elif tuple(x.shape) != shape:
            raise DataError(f"{where}: x has shape {list(x.shape)}, earlier items {list(shape)}")
        inputs.append(x.detach().to("cpu", torch.float32))
        labels.append(label)
    if not inputs:
        raise DataError(f"user dataset {name!r}: the {which} split is empty")
    return torch.stack(inputs), torch.tensor(labels, dtype=torch.int64)


def load_user_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Dataset:
    """Call the user's ``package.module:callable`` and hold its splits in memory.

    Example:
        >>> ds = load_user_dataset("mydata:make")  # doctest: +SKIP
        >>> ds.train.x.dtype  # doctest: +SKIP
        torch.float32
    """
    fn = resolve(name)
    context = {"data_dir": None if data_dir is None else os.fspath(data_dir), "seed": seed}
    result = _call(name, fn, context, dict(options or {}))
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise DataError(
            f"user dataset {name!r} returned {type(result).__name__}, expected (train, test) datasets"
        )
    (x_train, y_train), (x_test, y_test) = (
        _to_tensors(name, which, data)
        for which, data in zip(("train", "test"), result, strict=True)
    )
    if tuple(x_train.shape[1:]) != tuple(x_test.shape[1:]):
        raise DataError(
            f"user dataset {name!r}: train inputs have shape {list(x_train.shape[1:])}, "
            f"test inputs {list(x_test.shape[1:])}"
        )
    if x_train.dim() < 2:
        raise DataError(f"user dataset {name!r}: inputs must have at least one dimension")
    shape = tuple(x_train.shape[1:])
    if input_shape is not None and tuple(int(d) for d in input_shape) != shape:
        raise DataError(
            f"user dataset {name!r}: inputs have shape {list(shape)}, not {list(input_shape)}"
        )
    low = int(min(y_train.min(), y_test.min()))
    high = int(max(y_train.max(), y_test.max()))
    if low < 0:
        raise DataError(f"user dataset {name!r}: label {low} is negative; labels are class indices")
    classes = high + 1 if num_classes is None else int(num_classes)
    if high >= classes:
        raise DataError(
            f"user dataset {name!r}: label {high} is out of range for {classes} classes"
        )
    return Dataset(
        name, Split(x_train, y_train), Split(x_test, y_test), classes, shape, augment=False
    )
