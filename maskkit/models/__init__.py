"""The model registry: built-in architectures by name, and user models as ``module:callable``.

>>> args = model_args("resnet20")            # {"num_classes": 10, "input_shape": [3, 32, 32], ...}
>>> model = build_model("resnet20", args, seed=0)
>>> prunable_names(model)[:2]
['conv.weight', 'blocks.0.conv1.weight']

Importing this package does not import torch; building a model does.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maskkit._registry import Registry
from maskkit._validate import check_int
from maskkit.errors import OptionError
from maskkit.models import _args, user

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class _Family:
    dataset: str | None
    num_classes: int
    input_shape: tuple[int, int, int]


@dataclass(frozen=True)
class _Spec:
    family: str
    target: str  # "module:Class" inside maskkit.models
    fixed: Mapping[str, Any] = field(default_factory=dict)  # set by the name (depth)
    extras: Mapping[str, Any] = field(default_factory=dict)  # overridable, with defaults
    min_size: int = 1  # smallest H and W the layers can take


_FAMILIES = {
    "lenet": _Family("mnist", 10, (1, 28, 28)),
    "cifar_resnet": _Family("cifar10", 10, (3, 32, 32)),
    "cifar_vgg": _Family("cifar10", 10, (3, 32, 32)),
    "imagenet_resnet": _Family(None, 1000, (3, 224, 224)),
}


def _cifar_resnet(depth: int) -> _Spec:
    return _Spec("cifar_resnet", "cifar_resnet:CifarResNet", {"depth": depth}, {"width": 16})


def _cifar_vgg(depth: int) -> _Spec:
    return _Spec("cifar_vgg", "cifar_vgg:CifarVGG", {"depth": depth}, min_size=16)


def _imagenet_resnet(depth: int) -> _Spec:
    return _Spec(
        "imagenet_resnet", "imagenet_resnet:ImageNetResNet", {"depth": depth}, {"width": 64}
    )


MODELS: Registry[_Spec] = Registry(
    "model",
    {
        "lenet300": _Spec("lenet", "lenet:LeNet300", extras={"hidden": (300, 100)}),
        "lenet5": _Spec("lenet", "lenet:LeNet5", min_size=12),
        "resnet20": _cifar_resnet(20),
        "resnet32": _cifar_resnet(32),
        "resnet44": _cifar_resnet(44),
        "resnet56": _cifar_resnet(56),
        "resnet110": _cifar_resnet(110),
        "vgg11": _cifar_vgg(11),
        "vgg13": _cifar_vgg(13),
        "vgg16": _cifar_vgg(16),
        "vgg19": _cifar_vgg(19),
        "resnet18": _imagenet_resnet(18),
        "resnet50": _imagenet_resnet(50),
    },
    hint=" (or a user model as package.module:callable)",
)
"""Built-in model name -> how to build it (its class is imported only to build one)."""


def known_models() -> list[str]:
    """The built-in model names, in registry order."""
    return MODELS.names()


def _get(name: str) -> _Spec:
    return MODELS.get(name)


def model_family(name: str) -> str:
    """``"lenet"``, ``"cifar_resnet"``, ``"cifar_vgg"``, ``"imagenet_resnet"`` or ``"user"``."""
    return "user" if user.is_user_model(name) else _get(name).family


def default_dataset(name: str) -> str | None:
    """The dataset a model is meant for (``None`` for ImageNet ResNets and user models)."""
    return None if user.is_user_model(name) else _FAMILIES[_get(name).family].dataset


def shape_defaults(
    name: str, overrides: Mapping[str, Any] | None = None
) -> tuple[int | None, list[int] | None]:
    """The class count and input shape ``name`` takes when no dataset says otherwise.

    None for what a user model leaves open (no signature default, no override).
    """
    rest = dict(overrides or {})
    if user.is_user_model(name):
        classes, shape = user.shape_defaults(name)
        if rest.get("num_classes") is not None:
            classes = _args.positive_int("num_classes", rest["num_classes"])
        if rest.get("input_shape") is not None:
            shape = _args.int_list("input_shape", rest["input_shape"])
        return classes, shape
    args = model_args(name, overrides=rest)
    return args["num_classes"], args["input_shape"]


def _merge(key: str, given: Any, override: Any) -> Any:
    if given is not None and override is not None and given != override:
        raise OptionError(f"model argument {key}={override!r} contradicts {key}={given!r}")
    return override if override is not None else given


def model_args(
    name: str,
    *,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Complete, JSON-serialisable construction arguments for ``name``, defaults filled in.

    ``overrides`` are the user's ``--model-arg`` pairs; they may also carry ``num_classes`` and
    ``input_shape`` (which must then agree with the keyword arguments).

    >>> model_args("lenet300", overrides={"hidden": "500,100"})
    {'num_classes': 10, 'input_shape': [1, 28, 28], 'hidden': [500, 100]}
    """
    rest = dict(overrides or {})
    shape_override = rest.pop("input_shape", None)
    classes = _merge("num_classes", num_classes, rest.pop("num_classes", None))
    rank = None if user.is_user_model(name) else 3  # user models take inputs of any rank
    shape = _merge(
        "input_shape",
        None if input_shape is None else _args.int_list("input_shape", input_shape, rank),
        None if shape_override is None else _args.int_list("input_shape", shape_override, rank),
    )
    if classes is not None:
        classes = _args.positive_int("num_classes", classes)
    if user.is_user_model(name):
        return user.user_model_args(name, classes, shape, rest)
    spec = _get(name)
    family = _FAMILIES[spec.family]
    unknown = sorted(set(rest) - set(spec.extras))
    if unknown:
        accepted = ", ".join(["num_classes", "input_shape", *spec.extras])
        raise OptionError(
            f"model {name!r} takes no argument {', '.join(unknown)}; accepted: {accepted}"
        )
    args: dict[str, Any] = {
        "num_classes": family.num_classes if classes is None else classes,
        "input_shape": list(family.input_shape) if shape is None else shape,
    }
    for key, default in spec.extras.items():
        args[key] = _args.coerce(key, rest.get(key, default), default)
    if min(args["input_shape"][1:]) < spec.min_size:
        raise OptionError(
            f"model {name!r} needs inputs of at least {spec.min_size}x{spec.min_size}, "
            f"got input_shape={args['input_shape']}"
        )
    return args


def build_model(name: str, args: Mapping[str, Any], *, seed: int) -> torch.nn.Module:
    """Build ``name`` from ``args`` (as from :func:`model_args`) with seeded initial weights.

    The same seed gives bitwise the same weights in any process; torch's global RNG is untouched.
    """
    import torch

    seed = check_int(seed, "model seed", high=2**64)  # (torch's generator takes 64 bits)
    full = model_args(name, overrides=args)
    if user.is_user_model(name):
        return user.build_user_model(name, full, seed)
    spec = _get(name)
    module_name, _, class_name = spec.target.partition(":")
    cls = getattr(importlib.import_module(f"maskkit.models.{module_name}"), class_name)
    # Built on the meta device: no default initialisation (and no global RNG draws) to throw away.
    with torch.device("meta"):
        model = cls(**full, **spec.fixed)
    model = model.to_empty(device="cpu")
    from maskkit.models.initialisers import initialise

    initialise(model, torch.Generator().manual_seed(seed))
    return model


def prunable_names(model: torch.nn.Module) -> list[str]:
    """The state_dict names of every Conv*/Linear ``.weight``, in model order."""
    from torch import nn
    from torch.nn.modules.conv import _ConvNd

    return [
        f"{prefix}.weight" if prefix else "weight"
        for prefix, module in model.named_modules()
        if isinstance(module, (_ConvNd, nn.Linear)) and getattr(module, "weight", None) is not None
    ]
