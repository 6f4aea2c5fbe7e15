"""Training options: OpenLTH's family defaults, durations and the lr schedule."""

from __future__ import annotations

import pytest

from maskkit.data.registry import ALIASES, canonical_name, known_datasets
from maskkit.errors import OptionError
from maskkit.training import TrainOptions, default_options
from maskkit.training.options import _DATASET_FAMILY, dataset_key


def test_cifar_defaults_are_openlth():
    o = default_options("cifar_resnet", "cifar10")
    assert (o.batch_size, o.lr, o.momentum, o.weight_decay, o.epochs, o.gamma) == (
        128, 0.1, 0.9, 1e-4, 160, 0.1,
    )  # fmt: skip
    assert o.milestones == ("80ep", "120ep") and o.steps is None and o.warmup == 0
    assert default_options("cifar_vgg", "cifar10") == o


def test_lenet_and_imagenet_defaults():
    lenet = default_options("lenet", "mnist")
    assert (lenet.batch_size, lenet.lr, lenet.momentum, lenet.epochs) == (128, 0.1, 0.0, 40)
    tiny = default_options("imagenet_resnet", "tiny-imagenet")
    assert (tiny.batch_size, tiny.lr, tiny.epochs, tiny.warmup) == (256, 0.2, 200, "5ep")
    assert tiny.milestones == ("100ep", "150ep")
    big = default_options("imagenet_resnet", "imagenet")
    assert (big.batch_size, big.lr, big.epochs) == (1024, 0.4, 90)
    assert big.milestones == ("30ep", "60ep", "80ep")
    # a user model takes the defaults of the family its dataset is made for
    assert default_options("user", "mnist") == lenet


def test_overrides_steps_replace_epochs_and_none_is_ignored():
    o = default_options("cifar_resnet", "cifar10", steps=1000, lr=None, momentum=0.5)
    assert o.steps == 1000 and o.epochs is None and o.lr == 0.1 and o.momentum == 0.5


def test_plan_resolves_epochs_to_steps():
    o = default_options("cifar_resnet", "cifar10", warmup="2ep", eval_every="1ep")
    plan = o.plan(50_000)  # ceil(50000 / 128) = 391 steps per epoch
    assert plan.steps_per_epoch == 391
    assert plan.total_steps == 160 * 391
    assert plan.milestones == (80 * 391, 120 * 391)
    assert plan.warmup == 782 and plan.eval_every == 391


def test_lr_schedule_by_hand():
    o = TrainOptions(steps=100, lr=0.4, milestones=(10, "3ep"), gamma=0.5, warmup=4, batch_size=10)
    plan = o.plan(50)  # 5 steps per epoch: "3ep" = step 15
    got = [plan.lr_at(s) for s in (0, 1, 3, 4, 9, 10, 14, 15, 99)]
    assert got == pytest.approx([0.1, 0.2, 0.4, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1])


@pytest.mark.parametrize(
    "bad",
    [
        {},  # neither epochs nor steps
        {"steps": 10, "epochs": 1},
        {"steps": 10, "lr": -1.0},
        {"steps": 10, "lr": float("nan")},
        {"steps": 10, "batch_size": 0},
        {"steps": 10, "milestones": ("80 epochs",)},
        {"steps": 10, "device": "tpu"},
    ],
)
def test_invalid_options_are_refused(bad):
    with pytest.raises(OptionError):
        TrainOptions(**bad)


def test_unknown_override_names_the_known_ones():
    with pytest.raises(OptionError, match=r"unknown training option.*lr"):
        default_options("lenet", "mnist", learning_rate=0.1)


# What a user model trains with, per registered dataset: LeNet's for the MNIST-shaped ones.
USER_FAMILY = {
    "mnist": "lenet",
    "fashion-mnist": "lenet",
    "cifar10": "cifar_resnet",
    "cifar100": "cifar_resnet",
    "synthetic": "cifar_resnet",  # 3x32x32 by default
}


@pytest.mark.parametrize("name", sorted({*known_datasets(), *ALIASES, "FashionMNIST", "MNIST"}))
def test_every_registered_dataset_name_gets_its_familys_defaults(name):
    canonical = canonical_name(name)
    assert dataset_key(name) == canonical
    want = default_options(USER_FAMILY[canonical], canonical)
    assert default_options("user", name) == want
    if USER_FAMILY[canonical] == "lenet":
        assert (want.epochs, want.momentum) == (40, 0.0)  # not CIFAR's 160 epochs, momentum 0.9


def test_the_table_covers_the_registry_and_uses_its_names():
    assert set(USER_FAMILY) == set(known_datasets())
    assert all(canonical_name(key) == key for key in _DATASET_FAMILY)
    # unregistered names pass through: user datasets and the ImageNet ones
    assert dataset_key("mydata:small") == "mydata:small" and dataset_key(None) is None
    assert default_options("imagenet_resnet", "Tiny-ImageNet").batch_size == 256
