"""User datasets named package.module:callable, imported from a folder on sys.path."""

from __future__ import annotations

import textwrap
import uuid

import pytest
import torch

from maskkit.data import load_dataset
from maskkit.errors import DataError, OptionError

MODULE = '''
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, TensorDataset


class Items(Dataset):
    """Map-style: x[i] is a [2, 3] tensor filled with i, label i % 3."""

    def __init__(self, n, offset=0):
        self.n, self.offset = n, offset

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        v = i + self.offset
        return torch.full((2, 3), float(v), dtype=torch.float64), v % 3


class Stream(IterableDataset):
    def __iter__(self):
        for i in range(4):
            yield np.full((5,), i, dtype=np.uint8), np.int64(i % 2)


def plain():
    return Items(7), Items(3, offset=100)


def with_context(data_dir, seed, scale=1):
    assert data_dir is None or isinstance(data_dir, str)
    x = torch.full((4, 2), float(seed * scale))
    return TensorDataset(x, torch.tensor([0, 1, 2, 3])), TensorDataset(x[:2], torch.tensor([1, 1]))


def kwargs_only(**kw):
    n = kw.get("n", 2)
    return [(torch.zeros(3), torch.tensor(1))] * n, [(torch.zeros(3), torch.tensor([0]))]


def stream():
    return Stream(), Stream()


def pil_like():
    return [("not a tensor", 0)], [("x", 1)]


def float_label():
    return [(torch.zeros(2), 0.5)], [(torch.zeros(2), 1)]


def ragged():
    return [(torch.zeros(2), 0), (torch.zeros(3), 1)], [(torch.zeros(2), 0)]


def not_pairs():
    return [torch.zeros(2)], [torch.zeros(2)]


def one_split():
    return Items(3)


def negative():
    return [(torch.zeros(2), -1)], [(torch.zeros(2), 0)]


def empty():
    return [], [(torch.zeros(2), 0)]


def broken():
    raise RuntimeError("disk on fire")


def different_shapes():
    return [(torch.zeros(2), 0)], [(torch.zeros(3), 0)]
'''


@pytest.fixture
def mod(tmp_path, monkeypatch):
    name = f"userdata_{uuid.uuid4().hex[:8]}"  # a fresh module name per test: no import cache
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_map_style_dataset_is_stacked(mod):
    ds = load_dataset(f"{mod}:plain")
    assert ds.name == f"{mod}:plain" and ds.input_shape == (2, 3) and ds.num_classes == 3
    assert ds.augment is False
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert torch.equal(ds.train.x, torch.arange(7.0).view(7, 1, 1).expand(7, 2, 3))
    assert ds.train.y.tolist() == [i % 3 for i in range(7)]
    assert ds.test.y.tolist() == [100 % 3, 101 % 3, 102 % 3]
    assert ds.test.x[0, 0, 0].item() == 100


def test_context_and_options_are_passed(mod, tmp_path):
    ds = load_dataset(f"{mod}:with_context", seed=3, data_dir=tmp_path, options={"scale": 2})
    assert (ds.train.x == 6).all() and ds.train.y.tolist() == [0, 1, 2, 3] and ds.num_classes == 4
    with pytest.raises(
        OptionError, match=r"takes no option zoom; its parameters: data_dir, scale, seed"
    ):
        load_dataset(f"{mod}:with_context", options={"zoom": 1})


def test_kwargs_callable_and_tensor_labels(mod):
    ds = load_dataset(f"{mod}:kwargs_only", options={"n": 3}, num_classes=5)
    assert len(ds.train) == 3 and ds.train.y.tolist() == [1, 1, 1] and ds.test.y.tolist() == [0]
    assert ds.num_classes == 5


def test_iterable_dataset_with_numpy_items(mod):
    ds = load_dataset(f"{mod}:stream")
    assert ds.train.x.shape == (4, 5) and ds.train.x.dtype == torch.float32
    assert ds.train.x[:, 0].tolist() == [0, 1, 2, 3] and ds.train.y.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        ("pil_like", r"train item 0: x is a str, expected a real tensor or numpy array"),
        ("float_label", "train item 0: label 0.5 is not an integer class index"),
        ("ragged", r"train item 1: x has shape \[3\], earlier items \[2\]"),
        ("not_pairs", r"train item 0 is a Tensor, expected a pair \(x, label\)"),
        ("one_split", r"returned Items, expected \(train, test\) datasets"),
        ("negative", "label -1 is negative"),
        ("empty", "the train split is empty"),
        ("different_shapes", r"train inputs have shape \[2\], test inputs \[3\]"),
    ],
)
def test_bad_user_datasets(mod, fn, match):
    with pytest.raises(DataError, match=match) as err:
        load_dataset(f"{mod}:{fn}")
    assert "\n" not in str(err.value) and f"{mod}:{fn}" in str(err.value)


def test_shape_and_class_checks(mod):
    with pytest.raises(DataError, match=r"inputs have shape \[2, 3\], not \[6\]"):
        load_dataset(f"{mod}:plain", input_shape=(6,))
    with pytest.raises(DataError, match="label 2 is out of range for 2 classes"):
        load_dataset(f"{mod}:plain", num_classes=2)


def test_import_problems_are_option_errors(mod):
    with pytest.raises(OptionError, match="cannot import module 'no_such_module_xyz'"):
        load_dataset("no_such_module_xyz:make")
    with pytest.raises(OptionError, match="has no 'missing'"):
        load_dataset(f"{mod}:missing")
    with pytest.raises(OptionError, match=r"expected the form package\.module:callable"):
        load_dataset(":make")
