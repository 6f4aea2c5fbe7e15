"""Per-input statistics of a layer's mask: how many kept weights read each input.

A 2-D weight of a linear layer has shape [outputs, inputs] (torch's layout), so column j holds
the weights that read input j. For the first layer of a fully connected network on images,
input j is a pixel: these functions say how a mask spends its kept weights over the pixels, e.g.
what fraction of them read pixels that never vary. numpy only: no torch import.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def kept_per_input(mask: np.ndarray) -> np.ndarray:
    """The number of kept weights in each input column of a 2-D [outputs, inputs] mask.

    >>> kept_per_input(np.array([[True, False, True], [True, False, False]]))
    array([2, 0, 1])
    """
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(
            f"a per-input count needs a 2-D [outputs, inputs] mask, not {array.ndim}-D"
        )
    if array.dtype != np.bool_:
        raise ValueError(f"the mask must be bool, not {array.dtype}")
    return array.sum(axis=0, dtype=np.int64)


def kept_fraction_on(mask: np.ndarray, columns: Iterable[int] | np.ndarray) -> float:
    """The fraction of the mask's kept weights that lie in the given input columns.

    ``columns`` are input indices, or a bool vector over the inputs. A mask that keeps nothing
    gives NaN: no kept weight lies anywhere, and 0 would claim they all lie elsewhere.

    >>> m = np.array([[True, False, True], [True, False, False]])
    >>> kept_fraction_on(m, [2])   # 1 of the 3 kept weights reads input 2
    0.3333333333333333
    """
    counts = kept_per_input(mask)
    selected = np.asarray(list(columns) if not isinstance(columns, np.ndarray) else columns)
    if selected.dtype == np.bool_:
        if selected.shape != counts.shape:
            raise ValueError(
                f"a bool column selection must have {counts.size} entries, not {selected.size}"
            )
        chosen = selected
    else:
        index = selected.astype(np.int64, copy=False).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= counts.size):
            raise ValueError(f"column indices must lie in [0, {counts.size})")
        chosen = np.zeros(counts.size, dtype=np.bool_)
        chosen[index] = True
    total = int(counts.sum())
    if total == 0:
        return float("nan")
    return int(counts[chosen].sum()) / total


def shuffle_within_columns(
    mask: np.ndarray, columns: np.ndarray, generator: np.random.Generator
) -> np.ndarray:
    """The mask with its entries in the selected input columns randomly permuted among
    themselves, and every other column left as it is.

    ``columns`` is a bool vector over the inputs. The kept count inside the selection, and so
    the layer's kept count, is unchanged: a "shuffle" that keeps pixels which never vary out of
    reach (their weights stay as they were, e.g. all pruned).

    >>> m = np.array([[True, False, True], [True, False, False]])
    >>> s = shuffle_within_columns(m, np.array([False, True, True]), np.random.default_rng(0))
    >>> s[:, 0].tolist(), int(s[:, 1:].sum())
    ([True, True], 1)
    """
    array = np.asarray(mask)
    kept_per_input(array)  # the same shape and dtype checks
    chosen = np.asarray(columns)
    if chosen.dtype != np.bool_ or chosen.shape != (array.shape[1],):
        raise ValueError(f"columns must be a bool vector of {array.shape[1]} entries")
    out = array.copy()
    block = out[:, chosen]
    out[:, chosen] = block.reshape(-1)[generator.permutation(block.size)].reshape(block.shape)
    return out


def shuffle_each_column(mask: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """The mask with each input column permuted independently over the outputs: every input
    keeps its kept count (which pixels are read, and how often, stays), while which units read
    them is redrawn.

    >>> m = np.array([[True, False], [False, False], [False, True]])
    >>> kept_per_input(shuffle_each_column(m, np.random.default_rng(0))).tolist()
    [1, 1]
    """
    array = np.asarray(mask)
    kept_per_input(array)  # the same shape and dtype checks
    return generator.permuted(array, axis=0)


def shuffle_each_row(mask: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """The mask with each output row permuted independently over the inputs: every unit keeps
    its number of inputs, while which pixels it reads is redrawn.

    >>> m = np.array([[True, True, False], [False, False, True]])
    >>> shuffle_each_row(m, np.random.default_rng(0)).sum(axis=1).tolist()
    [2, 1]
    """
    array = np.asarray(mask)
    kept_per_input(array)  # the same shape and dtype checks
    return generator.permuted(array, axis=1)
