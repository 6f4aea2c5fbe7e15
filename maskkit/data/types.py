"""The in-memory dataset records every other module passes around."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from maskkit.errors import DataError


@dataclass(frozen=True, eq=False)
class Split:
    """One split held in memory: normalised float32 inputs and int64 labels.

    Example:
        >>> s = Split(torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]))
        >>> len(s)
        4
    """

    x: torch.Tensor = field(metadata={"help": "float32 [N, *input_shape], already normalised"})
    y: torch.Tensor = field(metadata={"help": "int64 [N] class labels"})

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or not isinstance(self.y, torch.Tensor):
            raise DataError("a split needs tensors for x and y")
        if self.x.dtype != torch.float32:
            raise DataError(f"split inputs must be float32, got {self.x.dtype}")
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise DataError(
                f"split labels must be int64 [N], got {self.y.dtype} {list(self.y.shape)}"
            )
        if self.x.dim() < 2 or self.x.shape[0] != self.y.shape[0]:
            raise DataError(
                f"split inputs {list(self.x.shape)} do not match {self.y.shape[0]} labels"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named dataset: both splits, the class count and the shape of one input."""

    name: str = field(metadata={"help": "registry name (or module:callable for user datasets)"})
    train: Split = field(metadata={"help": "training split"})
    test: Split = field(metadata={"help": "test split"})
    num_classes: int = field(metadata={"help": "number of classes; labels lie in [0, num_classes)"})
    input_shape: tuple[int, ...] = field(metadata={"help": "shape of one input, e.g. (3, 32, 32)"})
    augment: bool = field(
        default=False,
        metadata={"help": "train with random crop (pad 4) + horizontal flip (CIFAR)"},
    )
    seed: int | None = field(
        default=None,
        metadata={"help": "the seed a generated dataset was drawn with (None: read from files)"},
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        for split_name, split in (("train", self.train), ("test", self.test)):
            if tuple(split.x.shape[1:]) != self.input_shape:
                raise DataError(
                    f"{self.name}: {split_name} inputs have shape {list(split.x.shape[1:])}, "
                    f"expected {list(self.input_shape)}"
                )
        if self.num_classes < 1:
            raise DataError(f"{self.name}: num_classes must be at least 1, got {self.num_classes}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description for provenance records (no tensors)."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "train_size": len(self.train),
            "test_size": len(self.test),
            "augment": self.augment,
            **({} if self.seed is None else {"seed": self.seed}),
        }
