"""The synthetic dataset (determinism, shapes, learnability) and the dataset registry."""

from __future__ import annotations

import pytest
import torch

from maskkit.data import known_datasets, load_dataset
from maskkit.data.synthetic import make_synthetic
from maskkit.errors import OptionError


def test_known_datasets():
    assert known_datasets() == ["cifar10", "cifar100", "fashion-mnist", "mnist", "synthetic"]


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(OptionError) as err:
        load_dataset("imagenet")
    msg = str(err.value)
    assert "'imagenet'" in msg
    for name in known_datasets():
        assert name in msg


def test_aliases_and_case():
    ds = load_dataset("SYNTHETIC", options={"train_size": 10, "test_size": 5})
    assert ds.name == "synthetic"
    with pytest.raises(OptionError, match="fashion-mnist: unknown option"):
        load_dataset("FashionMNIST", options={"bogus": 1})


def test_defaults():
    ds = load_dataset("synthetic")
    assert ds.input_shape == (3, 32, 32) and ds.num_classes == 10 and ds.augment is False
    assert len(ds.train) == 5000 and len(ds.test) == 1000
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert ds.to_dict() == {
        "name": "synthetic",
        "num_classes": 10,
        "input_shape": [3, 32, 32],
        "train_size": 5000,
        "test_size": 1000,
        "augment": False,
        "seed": 0,
    }
    # balanced classes, inputs roughly standardised
    assert torch.bincount(ds.train.y).tolist() == [500] * 10
    assert abs(ds.train.x.mean().item()) < 0.05 and abs(ds.train.x.std().item() - 1) < 0.1


def small(seed: int, **kw):
    kw.setdefault("options", {"train_size": 200, "test_size": 50})
    return load_dataset("synthetic", seed=seed, **kw)


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = small(3), small(3), small(4)
    for split in ("train", "test"):
        assert torch.equal(getattr(a, split).x, getattr(b, split).x)
        assert torch.equal(getattr(a, split).y, getattr(b, split).y)
        assert not torch.allclose(getattr(a, split).x, getattr(c, split).x)
    assert not torch.allclose(a.train.x[:50], a.test.x)  # train and test are different draws


def test_generation_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small(0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("shape", "classes"),
    [((1, 28, 28), 10), ((3, 32, 32), 100), ((784,), 2), ((2, 3, 8, 8), 5), ((1, 1, 1), 3)],
)
def test_any_shape_and_class_count(shape, classes):
    ds = small(0, input_shape=shape, num_classes=classes)
    assert ds.input_shape == shape and ds.num_classes == classes
    assert ds.train.x.shape == (200, *shape) and ds.test.x.shape == (50, *shape)
    assert int(ds.train.y.min()) == 0 and int(ds.train.y.max()) == classes - 1
    assert torch.isfinite(ds.train.x).all()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"num_classes": 1}, "num_classes must be at least 2"),
        ({"input_shape": (3, 0, 4)}, "input shape must be positive"),
        ({"options": {"train_size": 0}}, "train_size must be at least 1"),
        ({"options": {"test_size": "many"}}, "test_size must be an integer"),
        ({"options": {"size": 3}}, "unknown option 'size'"),
    ],
)
def test_bad_synthetic_options(kw, match):
    with pytest.raises(OptionError, match=match):
        small(0, **kw)


def accuracy_after_training(ds, steps: int = 200) -> float:
    torch.manual_seed(0)
    x = ds.train.x.flatten(1)
    model = torch.nn.Linear(x.shape[1], ds.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), ds.train.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (model(ds.test.x.flatten(1)).argmax(1) == ds.test.y).float().mean().item()


def test_a_small_model_learns_it():
    ds = make_synthetic(
        seed=0, input_shape=(1, 12, 12), num_classes=4, train_size=800, test_size=400
    )
    assert accuracy_after_training(ds) > 0.8  # chance is 0.25


def test_learning_needs_the_real_labels():
    # Control: the same model on shuffled training labels stays near chance, so the accuracy
    # above comes from class structure, not from something that leaks through the test set.
    ds = make_synthetic(
        seed=0, input_shape=(1, 12, 12), num_classes=4, train_size=800, test_size=400
    )
    perm = torch.randperm(800, generator=torch.Generator().manual_seed(1))
    shuffled = type(ds)(
        ds.name, type(ds.train)(ds.train.x, ds.train.y[perm]), ds.test, 4, ds.input_shape
    )
    assert accuracy_after_training(shuffled) < 0.4
