"""Training options: one frozen record per run, with OpenLTH's defaults per model family.

Durations (``epochs``/``steps``, ``milestones``, ``warmup``, ``eval_every``) are written as
OpenLTH does: ``"80ep"`` is 80 epochs, ``500`` (or ``"500it"``) is 500 optimizer steps. They are
turned into steps once the training set size is known (:meth:`TrainOptions.plan`). The learning
rate is set at every step from the step index (:meth:`Plan.lr_at`), so the schedule is a pure
function of the step and a run restarted from step K follows the same schedule from K.

>>> opts = default_options("cifar_resnet", "cifar10", steps=1000)
>>> plan = opts.plan(50_000)
>>> plan.total_steps, plan.milestones
(1000, (31280, 46920))
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maskkit import _options
from maskkit._validate import check_seed
from maskkit.errors import OptionError

Duration = int | str
"""Steps as an int (or ``"NNNit"``), or epochs as ``"NNNep"``."""

_DURATION = re.compile(r"^\s*(\d+)\s*(ep|it)?\s*$")
DEVICES = ("auto", "cpu", "cuda", "mps")


def parse_duration(value: Duration, *, what: str) -> Duration:
    """Normalise a duration: an int of steps, or ``"Nep"``.

    >>> parse_duration("80ep", what="milestone"), parse_duration("500it", what="warmup")
    ('80ep', 500)
    """
    if isinstance(value, bool):
        raise OptionError(
            f"{what}: {value!r} is not a number of steps or epochs (e.g. 500 or 80ep)"
        )
    if isinstance(value, int):
        if value < 0:
            raise OptionError(f"{what}: must not be negative, got {value}")
        return value
    match = _DURATION.match(str(value))
    if match is None:
        raise OptionError(
            f"{what}: {value!r} is not a number of steps or epochs (e.g. 500 or 80ep)"
        )
    count, unit = int(match.group(1)), match.group(2)
    return f"{count}ep" if unit == "ep" else count


def duration_steps(value: Duration, steps_per_epoch: int) -> int:
    """A normalised duration in optimizer steps."""
    if isinstance(value, str):
        return int(value[:-2]) * steps_per_epoch
    return value


def parse_durations(value: str | Sequence[Duration] | None, *, what: str) -> tuple[Duration, ...]:
    """``"80ep,120ep"`` or a sequence of durations, normalised."""
    if value is None:
        return ()
    items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
    return tuple(parse_duration(v, what=what) for v in items)


@dataclass(frozen=True)
class Plan:
    """Durations resolved to steps for a given training set size and batch size."""

    steps_per_epoch: int
    total_steps: int
    milestones: tuple[int, ...]
    warmup: int
    eval_every: int | None
    lr: float
    gamma: float

    def lr_at(self, step: int) -> float:
        """Learning rate of the update that takes the model from ``step`` to ``step + 1``.

        Step schedule: lr * gamma^(milestones <= step). Warmup: linear, (step + 1) / warmup, so the
        first update already moves and step ``warmup - 1`` reaches the full rate.
        """
        lr = self.lr * self.gamma ** sum(1 for m in self.milestones if m <= step)
        if self.warmup and step < self.warmup:
            lr *= (step + 1) / self.warmup
        return lr

    def steps(self, value: Duration) -> int:
        return duration_steps(value, self.steps_per_epoch)


@dataclass(frozen=True)
class TrainOptions:
    """Everything that decides a training run (recorded in the output's metadata).

    Exactly one of ``epochs`` and ``steps`` is set. ``augment`` None means the dataset's own
    default (on for CIFAR); ``device`` "auto" picks cuda, then mps, then cpu; ``amp`` None means
    mixed precision on CUDA only.
    """

    epochs: int | None = field(default=None, metadata={"help": "training length in epochs"})
    steps: int | None = field(default=None, metadata={"help": "training length in steps"})
    batch_size: int = field(
        default=128, metadata={"help": "examples per step (all ranks together)"}
    )
    lr: float = field(default=0.1, metadata={"help": "base learning rate of SGD"})
    momentum: float = field(default=0.0, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=0.0, metadata={"help": "L2 weight decay"})
    milestones: tuple[Duration, ...] = field(
        default=(), metadata={"help": "steps or Nep at which lr is multiplied by gamma"}
    )
    gamma: float = field(default=0.1, metadata={"help": "lr factor at each milestone"})
    warmup: Duration = field(default=0, metadata={"help": "linear warmup length (steps or Nep)"})
    seed: int = field(default=0, metadata={"help": "data order and augmentation seed"})
    augment: bool | None = field(default=None, metadata={"help": "random crop + flip"})
    eval_every: Duration | None = field(
        default=None, metadata={"help": "evaluate on the test split every so often"}
    )
    eval_batch_size: int = field(default=1000, metadata={"help": "batch size of evaluation"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or mps"})
    amp: bool | None = field(default=None, metadata={"help": "mixed precision (CUDA only)"})

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if (self.epochs is None) == (self.steps is None):
            raise OptionError("give exactly one of epochs and steps")
        for name in ("epochs", "steps"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 0):
                raise OptionError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("batch_size", "eval_batch_size"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise OptionError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name, low in (("lr", 0.0), ("momentum", 0.0), ("weight_decay", 0.0), ("gamma", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OptionError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < low:
                raise OptionError(f"{name} must be a finite number >= {low:g}, got {value!r}")
            set_(self, name, float(value))
        set_(self, "seed", check_seed(self.seed))
        if self.device not in DEVICES:
            raise OptionError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        set_(self, "milestones", parse_durations(self.milestones, what="milestones"))
        set_(self, "warmup", parse_duration(self.warmup, what="warmup"))
        if self.eval_every is not None:
            set_(self, "eval_every", parse_duration(self.eval_every, what="eval_every"))

    def plan(self, train_size: int) -> Plan:
        """Resolve every duration to steps for ``train_size`` training examples."""
        from maskkit.data import batches_per_epoch

        # The last, smaller batch counts as a step.
        per_epoch = batches_per_epoch(train_size, self.batch_size, drop_last=False)
        total = self.steps if self.steps is not None else self.epochs * per_epoch
        milestones = tuple(sorted(duration_steps(m, per_epoch) for m in self.milestones))
        every = None if self.eval_every is None else duration_steps(self.eval_every, per_epoch)
        return Plan(
            steps_per_epoch=per_epoch,
            total_steps=total,
            milestones=milestones,
            warmup=duration_steps(self.warmup, per_epoch),
            eval_every=every or None,
            lr=self.lr,
            gamma=self.gamma,
        )

    def replace(self, **changes: Any) -> TrainOptions:
        """A copy with ``changes``; setting steps clears epochs and the other way round."""
        if changes.get("steps") is not None and "epochs" not in changes:
            changes["epochs"] = None
        if changes.get("epochs") is not None and "steps" not in changes:
            changes["steps"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options for metadata and the run identity."""
        return _options.to_dict(self)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# OpenLTH's defaults (models/*.py default_hparams), which the paper uses.
_CIFAR = {
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "epochs": 160,
    "milestones": ("80ep", "120ep"),
    "gamma": 0.1,
}
_FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    # mnist_lenet_300_100: plain SGD, lr 0.1, batch 128, 40 epochs.
    "lenet": {"batch_size": 128, "lr": 0.1, "epochs": 40},
    "cifar_resnet": _CIFAR,
    "cifar_vgg": _CIFAR,
}
_IMAGENET = {
    "batch_size": 1024,
    "lr": 0.4,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "epochs": 90,
    "milestones": ("30ep", "60ep", "80ep"),
    "warmup": "5ep",
}
_TINY_IMAGENET = {
    **_IMAGENET,
    "batch_size": 256,
    "lr": 0.2,
    "epochs": 200,
    "milestones": ("100ep", "150ep"),
}
# Keyed by the dataset registry's canonical names (see dataset_key).
_DATASET_FAMILY = {
    "mnist": "lenet",
    "fashion-mnist": "lenet",
    "cifar10": "cifar_resnet",
    "cifar100": "cifar_resnet",
}


def dataset_key(dataset: str | None) -> str | None:
    """The name every per-dataset lookup uses: the registry's canonical name when the dataset is
    registered (any spelling or alias), else the name as given (user and ImageNet datasets).

    >>> dataset_key("FashionMNIST"), dataset_key("fashion_mnist"), dataset_key("tiny-imagenet")
    ('fashion-mnist', 'fashion-mnist', 'tiny-imagenet')
    """
    from maskkit.data.registry import canonical_name

    if dataset is None or ":" in dataset:
        return dataset
    try:
        return canonical_name(dataset)
    except OptionError:
        return dataset.strip().lower()


def defaults_table() -> list[tuple[str, dict[str, Any]]]:
    """(family, default values) for every row of the defaults above, for help texts.

    ImageNet ResNets have two rows: ``imagenet_resnet`` and ``imagenet_resnet/tiny-imagenet``.
    """
    rows = [(family, dict(values)) for family, values in _FAMILY_DEFAULTS.items()]
    rows.append(("imagenet_resnet", dict(_IMAGENET)))
    rows.append(("imagenet_resnet/tiny-imagenet", dict(_TINY_IMAGENET)))
    return rows


def family_defaults(family: str, dataset: str | None) -> dict[str, Any]:
    """The default option values for a model family (and, for ImageNet ResNets, the dataset).

    User models (family "user") take the defaults of the family their dataset is made for
    (MNIST-like: LeNet; otherwise CIFAR).
    """
    key = dataset_key(dataset)
    if family == "imagenet_resnet":
        tiny = key is not None and key.replace("-", "_").startswith("tiny")
        return dict(_TINY_IMAGENET if tiny else _IMAGENET)
    if family == "user" or family not in _FAMILY_DEFAULTS:
        family = _DATASET_FAMILY.get(key or "", "cifar_resnet")
    return dict(_FAMILY_DEFAULTS[family])


def default_options(family: str, dataset: str | None = None, **overrides: Any) -> TrainOptions:
    """The family's defaults (OpenLTH's, as in the paper) with ``overrides`` applied.

    Overrides that are None are ignored, so CLI options can be passed straight through; giving
    ``steps`` drops the default ``epochs`` and the other way round.

    >>> default_options("lenet", "mnist", steps=100).to_dict()["steps"]
    100
    """
    values = family_defaults(family, dataset)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "steps" in given and "epochs" not in given:
        values.pop("epochs", None)
    if "epochs" in given:
        values.pop("steps", None)
    values.update(given)
    return _options.from_mapping(TrainOptions, values, noun="training option")


def options_from_mapping(values: Mapping[str, Any]) -> TrainOptions:
    """Rebuild options from :meth:`TrainOptions.to_dict` (as stored in metadata)."""
    # Keys a later maskkit added are ignored: the record is read back, not typed by a user.
    known = set(_options.field_names(TrainOptions))
    return _options.from_mapping(
        TrainOptions, {k: v for k, v in values.items() if k in known}, noun="training option"
    )
