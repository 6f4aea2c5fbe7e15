"""CIFAR-10 and CIFAR-100 from the "python version" pickled batches.

``data_dir`` may be the batch folder itself (``cifar-10-batches-py`` / ``cifar-100-python``) or
its parent. Each file is checked against its published MD5 before it is unpickled, and unpickled
with :mod:`maskkit.data.safe_pickle` (numpy arrays only).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maskkit.data.normalise import check_fixed_shape, normalise_uint8
from maskkit.data.options import parse_options
from maskkit.data.safe_pickle import RefusedGlobal, loads_numpy_only
from maskkit.data.types import Dataset, Split
from maskkit.errors import DataError

INPUT_SHAPE = (3, 32, 32)
DOWNLOAD_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"

# Published MD5 sums of the extracted python batches (the same table torchvision checks).
# Tests replace entries of this table for their generated files.
CIFAR_MD5: dict[str, dict[str, str]] = {
    "cifar10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    },
}


@dataclass(frozen=True)
class CifarSource:
    """One CIFAR variant: its folder, files, label key and per-channel statistics."""

    name: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    #: images in each training file (every test file holds 10,000)
    train_file_images: int = 10_000

    def images_in(self, filename: str) -> int:
        return self.train_file_images if filename in self.train_files else 10_000


# Per-channel mean and std of the 50,000 training images scaled to [0, 1] (population std over
# all training pixels). OpenLTH (and so the paper's code) used the ImageNet statistics
# (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) for CIFAR-10 instead; the difference is a fixed
# affine change of the inputs.
CIFAR10 = CifarSource(
    name="cifar10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    label_key="labels",
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)
CIFAR100 = CifarSource(
    name="cifar100",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    label_key="fine_labels",
    num_classes=100,
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    train_file_images=50_000,
)

IMAGE_BYTES = 3 * 32 * 32
# A pickled batch holds each image's pixels once, or up to twice over when re-pickled by Python 3
# with protocol 2 (bytes as latin-1 text in UTF-8), plus its label and file name (the published
# files need about 40 bytes for those) and a few opcodes (they need about 4).
_BYTES_PER_IMAGE = 2 * IMAGE_BYTES + 256
_OPS_PER_IMAGE = 16


def max_batch_bytes(source: CifarSource, filename: str) -> int:
    """The largest size a batch file may have: refused above it before anything is read."""
    return source.images_in(filename) * _BYTES_PER_IMAGE + (1 << 16)


@dataclass(frozen=True)
class CifarOptions:
    """Options of the CIFAR loaders."""

    verify_md5: bool = field(
        default=True,
        metadata={
            "kind": "bool",
            "help": "check every batch file against its published MD5 before unpickling",
        },
    )

    def to_dict(self) -> dict[str, Any]:
        return {"verify_md5": self.verify_md5}


def locate(source: CifarSource, data_dir: str | os.PathLike[str] | None) -> Path:
    """The folder holding every batch file, or DataError naming the folders maskkit looked in."""
    wanted = source.train_files + source.test_files
    hint = (
        f"pass --data-dir DIR holding {source.folder}/ "
        f"({', '.join(wanted)}; the python version from {DOWNLOAD_PAGE}, extracted)"
    )
    if data_dir is None:
        raise DataError(f"{source.name}: no --data-dir given; {hint}")
    root = Path(data_dir)
    looked: list[str] = []
    for folder in (root, root / source.folder):
        if not folder.is_dir():
            looked.append(f"{folder} (no such folder)")
            continue
        missing = [f for f in wanted if not (folder / f).is_file()]
        if not missing:
            return folder
        looked.append(f"{folder} (missing {', '.join(missing)})")
    raise DataError(f"{source.name}: batch files not found; looked in {'; '.join(looked)}; {hint}")


def read_batch(
    path: Path, source: CifarSource, *, verify_md5: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as uint8 images [N, 3, 32, 32] and int64 labels [N].

    The file's size is checked before it is read and unpickled, and the unpickler bounds its
    memory and work by the batch's known image count, so a small pickle cannot make a large
    object (a pickle bomb) even with the MD5 check off.
    """
    limit = max_batch_bytes(source, path.name)
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise DataError(
                    f"{path}: {size} bytes, more than a CIFAR batch of "
                    f"{source.images_in(path.name):,} images can hold ({limit}); not a CIFAR "
                    f"python batch ({DOWNLOAD_PAGE})"
                )
            raw = f.read(limit + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) > limit:
        raise DataError(f"{path}: more than {limit} bytes, too large for a CIFAR batch")
    if verify_md5:
        expected = CIFAR_MD5[source.name][path.name]
        actual = hashlib.md5(raw).hexdigest()
        if actual != expected:
            raise DataError(
                f"{path}: MD5 {actual} differs from the published {expected}; the file is "
                f"corrupt or not the official python version ({DOWNLOAD_PAGE}); the dataset "
                "option verify_md5=false skips this check for re-pickled copies"
            )
    images = source.images_in(path.name)
    try:
        entry = loads_numpy_only(
            raw, max_array_bytes=images * IMAGE_BYTES, max_ops=images * _OPS_PER_IMAGE + 4096
        )
    except RefusedGlobal as exc:
        raise DataError(
            f"{path}: refusing to unpickle {exc.qualified_name} (a CIFAR batch holds only "
            "numpy arrays and lists)"
        ) from exc
    except Exception as exc:  # any failure to decode means a corrupt file
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DataError(
            f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {reason})"
        ) from None
    return _check_entry(entry, path, source)


def _check_entry(entry: Any, path: Path, source: CifarSource) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(entry, dict) or "data" not in entry or source.label_key not in entry:
        raise DataError(f"{path}: expected a dict with 'data' and '{source.label_key}'")
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path}: 'data' must be a uint8 array [N, 3072]")
    if data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' has {data.shape[1]} values per image, expected 3072")
    raw_labels = entry[source.label_key]
    # Checked element by element before numpy sees it: nested lists sharing one another would
    # make np.asarray build an array of every path through them (a pickle bomb's last step).
    flat = isinstance(raw_labels, list) and all(
        isinstance(v, (int, np.integer)) for v in raw_labels
    )
    if not flat and not (isinstance(raw_labels, np.ndarray) and raw_labels.dtype.kind in "iu"):
        raise DataError(f"{path}: '{source.label_key}' is not a list of integers")
    try:
        labels = np.asarray(raw_labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"{path}: '{source.label_key}' is not a list of integers") from exc
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise DataError(f"{path}: {labels.size} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= source.num_classes):
        raise DataError(
            f"{path}: labels must lie in 0..{source.num_classes - 1}, "
            f"found {int(labels.min())}..{int(labels.max())}"
        )
    # Each row is the red plane, then green, then blue, each 32x32 row-major.
    return data.reshape(-1, 3, 32, 32), labels


def _read_split(folder: Path, files: tuple[str, ...], source: CifarSource, verify: bool) -> Split:
    parts = [read_batch(folder / f, source, verify_md5=verify) for f in files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return Split(normalise_uint8(images, source.mean, source.std), torch.from_numpy(labels))


def load_cifar_dataset(
    source: CifarSource,
    *,
    data_dir: str | os.PathLike[str] | None,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    options: Mapping[str, Any] | None,
) -> Dataset:
    """Load one CIFAR variant into memory, normalised per channel, with augmentation on."""
    opts = parse_options(CifarOptions, source.name, options)
    check_fixed_shape(source.name, input_shape, num_classes, INPUT_SHAPE, source.num_classes)
    folder = locate(source, data_dir)
    train = _read_split(folder, source.train_files, source, opts.verify_md5)
    test = _read_split(folder, source.test_files, source, opts.verify_md5)
    return Dataset(source.name, train, test, source.num_classes, INPUT_SHAPE, augment=True)
