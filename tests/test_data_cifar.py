"""CIFAR from fake python batches: layout, normalisation, MD5 checks and the safe unpickler."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from maskkit.data import cifar, load_dataset
from maskkit.data.safe_pickle import RefusedGlobal, loads_numpy_only
from maskkit.errors import DataError, OptionError

C10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def write_batch(
    path: Path, images: np.ndarray, labels: list[int], label_key: str = "labels", protocol: int = 2
) -> None:
    entry = {
        "batch_label": "fake batch",
        "data": images.reshape(len(images), 3 * 32 * 32),
        label_key: labels,
        "filenames": [f"img{i}.png" for i in range(len(images))],
    }
    path.write_bytes(pickle.dumps(entry, protocol=protocol))


def fake_cifar10(
    root: Path, per_batch: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """cifar-10-batches-py under ``root``; returns train/test images [N, 3, 32, 32] and labels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images, labels = [], []
    for name in [*C10_TRAIN, "test_batch"]:
        imgs = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labs = [int(v) for v in rng.integers(0, 10, per_batch)]
        write_batch(folder / name, imgs, labs)
        images.append(imgs)
        labels.append(labs)
    train_x = np.concatenate(images[:5])
    train_y = np.concatenate([np.array(v) for v in labels[:5]])
    return train_x, train_y, images[5], np.array(labels[5])


@pytest.fixture
def trust_files(monkeypatch):
    """Replace the published MD5 table by the sums of the files in a folder."""

    def trust(folder: Path, dataset: str = "cifar10") -> None:
        table = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
        monkeypatch.setitem(cifar.CIFAR_MD5, dataset, table)

    return trust


def normalised(images: np.ndarray, mean, std) -> np.ndarray:
    m = np.array(mean).reshape(1, 3, 1, 1)
    s = np.array(std).reshape(1, 3, 1, 1)
    return (images.astype(np.float64) / 255 - m) / s


def test_cifar10_loads_with_verified_md5(tmp_path, trust_files):
    train_x, train_y, test_x, test_y = fake_cifar10(tmp_path)
    trust_files(tmp_path / "cifar-10-batches-py")
    for data_dir in (tmp_path, tmp_path / "cifar-10-batches-py"):  # parent or the folder itself
        ds = load_dataset("cifar10", data_dir=data_dir)
        assert ds.name == "cifar10" and ds.num_classes == 10 and ds.input_shape == (3, 32, 32)
        assert ds.augment is True
        assert ds.train.x.shape == (20, 3, 32, 32) and ds.test.x.shape == (4, 3, 32, 32)
        assert ds.train.y.tolist() == train_y.tolist() and ds.test.y.tolist() == test_y.tolist()
        mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
        assert np.allclose(ds.train.x.numpy(), normalised(train_x, mean, std), atol=1e-5)
        assert np.allclose(ds.test.x.numpy(), normalised(test_x, mean, std), atol=1e-5)


def test_channel_planes(tmp_path, trust_files):
    # A row of 3072 bytes is the red 32x32 plane, then green, then blue.
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    row = np.zeros(3072, np.uint8)
    row[:1024] = 255  # all red
    row[1024 + 33] = 255  # one green pixel at (1, 1)
    for name in [*C10_TRAIN, "test_batch"]:
        write_batch(folder / name, row.reshape(1, 3, 32, 32), [3])
    trust_files(folder)
    x = load_dataset("cifar10", data_dir=tmp_path).test.x[0]
    raw = x * torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1) + torch.tensor(
        [0.4914, 0.4822, 0.4465]
    ).view(3, 1, 1)
    assert torch.allclose(raw[0], torch.ones(32, 32), atol=1e-5)
    assert torch.allclose(raw[1].flatten().nonzero().flatten(), torch.tensor([33]))
    assert torch.allclose(raw[2], torch.zeros(32, 32), atol=1e-5)


def test_cifar100(tmp_path, trust_files):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    write_batch(folder / "train", imgs, [0, 99, 50, 7, 7, 1], label_key="fine_labels")
    write_batch(folder / "test", imgs[:2], [98, 2], label_key="fine_labels")
    trust_files(folder, "cifar100")
    ds = load_dataset("cifar100", data_dir=tmp_path)
    assert ds.num_classes == 100 and ds.augment is True
    assert ds.train.y.tolist() == [0, 99, 50, 7, 7, 1] and ds.test.y.tolist() == [98, 2]
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    assert np.allclose(ds.train.x.numpy(), normalised(imgs, mean, std), atol=1e-5)


def test_wrong_md5_is_refused_with_a_helpful_message(tmp_path):
    fake_cifar10(tmp_path)  # the published table is left in place
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", data_dir=tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in msg
    assert cifar.CIFAR_MD5["cifar10"]["data_batch_1"] in msg
    assert "differs from the published" in msg and cifar.DOWNLOAD_PAGE in msg


def test_md5_check_can_be_switched_off(tmp_path):
    _, train_y, _, _ = fake_cifar10(tmp_path)
    ds = load_dataset("cifar10", data_dir=tmp_path, options={"verify_md5": "false"})
    assert ds.train.y.tolist() == train_y.tolist()
    with pytest.raises(OptionError, match="unknown option 'md5'"):
        load_dataset("cifar10", data_dir=tmp_path, options={"md5": False})


def test_published_md5_table_is_complete():
    for source in (cifar.CIFAR10, cifar.CIFAR100):
        table = cifar.CIFAR_MD5[source.name]
        assert set(table) == set(source.train_files + source.test_files)
        assert all(len(v) == 32 and int(v, 16) >= 0 for v in table.values())


class Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pickle_with_a_foreign_global_is_refused_and_not_run(tmp_path, trust_files):
    fake_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    marker = tmp_path / "pwned"
    entry = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": Evil(str(marker))}
    (folder / "data_batch_3").write_bytes(pickle.dumps(entry, protocol=2))
    trust_files(folder)
    with pytest.raises(DataError, match=r"data_batch_3: refusing to unpickle (posix|os|nt)\.mkdir"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_unpickler_reads_numpy_pickles_of_every_protocol(protocol):
    entry = {
        "data": np.arange(12, dtype=np.uint8).reshape(2, 6),
        "labels": [1, 2],
        "n": np.int64(7),
    }
    out = loads_numpy_only(pickle.dumps(entry, protocol=protocol))
    assert np.array_equal(out["data"], entry["data"]) and out["labels"] == [1, 2] and out["n"] == 7


def test_safe_unpickler_refuses_other_globals():
    with pytest.raises(RefusedGlobal, match=r"builtins\.eval"):
        loads_numpy_only(b"cbuiltins\neval\n(S'1+1'\ntR.")
    # _codecs.encode is allowed only as str -> latin1 bytes
    with pytest.raises(pickle.UnpicklingError):
        loads_numpy_only(b"c_codecs\nencode\n(S'x'\nS'rot13'\ntR.")


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ([1, 2], "expected a dict with 'data' and 'labels'"),
        ({"data": np.zeros((1, 3072), np.uint8)}, "expected a dict"),
        ({"data": np.zeros((1, 3072), np.float32), "labels": [0]}, "uint8 array"),
        ({"data": np.zeros((1, 100), np.uint8), "labels": [0]}, "100 values per image"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "1 labels for 2 images"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": [10]}, r"labels must lie in 0\.\.9"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": ["a"]}, "not a list of integers"),
    ],
)
def test_malformed_batches(tmp_path, trust_files, entry, match):
    fake_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    trust_files(folder)
    with pytest.raises(DataError, match=match):
        load_dataset("cifar10", data_dir=tmp_path)


def test_truncated_pickle(tmp_path, trust_files):
    fake_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:100])
    trust_files(folder)
    with pytest.raises(DataError, match="data_batch_2: not a readable CIFAR batch"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_missing_cifar_says_where_it_looked_and_how_to_provide(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("cifar10")
    assert "no --data-dir given" in str(err.value) and "cifar-10-batches-py" in str(err.value)
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", data_dir=tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"{tmp_path} (missing data_batch_1" in msg
    assert f"{tmp_path / 'cifar-10-batches-py'} (missing data_batch_2" in msg
    assert cifar.DOWNLOAD_PAGE in msg and "--data-dir" in msg


def test_cifar_shape_checks_need_no_files():
    with pytest.raises(DataError, match="cifar100 has 100 classes, not 10"):
        load_dataset("cifar100", num_classes=10)
    with pytest.raises(DataError, match=r"cifar10 inputs have shape \[3, 32, 32\]"):
        load_dataset("cifar10", input_shape=(1, 28, 28))


def _nested_labels(width: int = 10, depth: int = 8) -> list:
    """width**depth labels from a few hundred bytes: each level repeats one shared list."""
    level: list = [0] * width
    for _ in range(depth):
        level = [level] * width
    return level


def test_a_pickle_bomb_is_refused_quickly_in_one_line(tmp_path, trust_files):
    fake_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    bomb = pickle.dumps(
        {"data": np.zeros((1, 3072), np.uint8), "labels": _nested_labels()}, protocol=2
    )
    assert len(bomb) < 4000  # 10**9 labels if expanded
    (folder / "data_batch_1").write_bytes(bomb)
    trust_files(folder)
    start = time.monotonic()
    with pytest.raises(DataError, match="data_batch_1: 'labels' is not a list of integers") as err:
        load_dataset("cifar10", data_dir=tmp_path, options={"verify_md5": "false"})
    assert time.monotonic() - start < 2 and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "bomb",
    [
        b"cnumpy\nndarray\n((I10000000000\nttR.",  # ndarray((10**10,)) called directly
        b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I10000000000\ntS'b'\ntR.",
        b"cnumpy\ndtype\n(S'V1000000000'\nI0\nI1\ntR.",  # a dtype of 1 GB per element
        b"cnumpy\ndtype\n(S'O'\nI0\nI1\ntR.",  # object arrays run arbitrary reconstruction
    ],
    ids=["ndarray-call", "reconstruct-shape", "huge-dtype", "object-dtype"],
)
def test_the_unpickler_refuses_to_allocate_what_the_pickle_announces(bomb):
    with pytest.raises(pickle.UnpicklingError):
        loads_numpy_only(bomb)


def test_the_memo_and_the_work_are_bounded():
    import struct

    # The C unpickler sizes its memo by the largest index: 2**31 entries from 7 bytes.
    assert loads_numpy_only(b"\x80\x04N" + b"r" + struct.pack("<I", 2**31) + b".") is None
    flood = b"\x80\x02" + b"]0" * 100_000 + b"N."  # 100,000 empty lists made and dropped
    with pytest.raises(pickle.UnpicklingError, match="more opcodes"):
        loads_numpy_only(flood, max_ops=1000)


def test_an_oversized_batch_is_refused_before_it_is_read(tmp_path, trust_files):
    fake_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    with path.open("r+b") as f:
        f.truncate(cifar.max_batch_bytes(cifar.CIFAR10, "test_batch") + 1)  # sparse: no disk used
    with pytest.raises(DataError, match="more than a CIFAR batch of 10,000 images can hold"):
        cifar.read_batch(path, cifar.CIFAR10, verify_md5=False)


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_full_size_repickled_batch_is_within_the_size_limit(tmp_path, protocol):
    # Protocol 2 stores bytes as latin-1 text in UTF-8: up to twice the pixels' size.
    rng = np.random.default_rng(0)
    images = rng.integers(128, 256, (10_000, 3, 32, 32), dtype=np.uint8)  # worst case: all >= 0x80
    path = tmp_path / "test_batch"
    write_batch(path, images, [int(v) for v in rng.integers(0, 10, 10_000)], protocol=protocol)
    assert path.stat().st_size <= cifar.max_batch_bytes(cifar.CIFAR10, "test_batch")
    x, y = cifar.read_batch(path, cifar.CIFAR10, verify_md5=False)
    assert x.shape == (10_000, 3, 32, 32) and np.array_equal(x, images) and y.shape == (10_000,)


class _Py2Array:
    """Pickles like numpy under Python 2: the array bytes as a (latin-1) text string."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        state = (
            1,
            self.array.shape,
            self.array.dtype,
            False,
            self.array.tobytes().decode("latin1"),
        )
        return (_reconstruct, (np.ndarray, (0,), b"b"), state)


def test_the_python2_layout_of_the_published_batches_loads():
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    raw = pickle.dumps({"data": _Py2Array(data), "labels": [3, 4]}, protocol=2)
    out = loads_numpy_only(raw)
    assert out["data"].dtype == np.uint8 and np.array_equal(out["data"], data)
