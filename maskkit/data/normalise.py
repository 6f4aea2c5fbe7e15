"""Turn uint8 images into normalised float32 tensors, and check requested shapes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from maskkit.errors import DataError


def normalise_uint8(
    images: np.ndarray, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """``(images / 255 - mean[c]) / std[c]`` per channel for uint8 [N, C, H, W], as float32.

    Example:
        >>> normalise_uint8(np.full((1, 1, 1, 1), 255, np.uint8), [0.5], [0.5]).item()
        1.0
    """
    if images.ndim != 4 or images.shape[1] != len(mean) or len(mean) != len(std):
        raise ValueError(f"expected [N, {len(mean)}, H, W] images, got {list(images.shape)}")
    x = images.astype(np.float32)
    np.divide(x, np.float32(255.0), out=x)
    m = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    np.subtract(x, m, out=x)
    np.divide(x, s, out=x)
    return torch.from_numpy(x)


def check_fixed_shape(
    name: str,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    actual_shape: tuple[int, ...],
    actual_classes: int,
) -> None:
    """Datasets read from files have a fixed shape: a caller that asks for another gets DataError.

    Example:
        >>> check_fixed_shape("mnist", None, 10, (1, 28, 28), 10)  # None means "whatever it is"
    """
    if input_shape is not None and tuple(int(d) for d in input_shape) != actual_shape:
        raise DataError(
            f"{name} inputs have shape {list(actual_shape)}, not {list(input_shape)} "
            "(only the synthetic dataset takes an input shape)"
        )
    if num_classes is not None and int(num_classes) != actual_classes:
        raise DataError(
            f"{name} has {actual_classes} classes, not {num_classes} "
            "(only the synthetic dataset takes a class count)"
        )
