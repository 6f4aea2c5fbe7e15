"""User models named ``package.module:callable``.

The module is imported from the current directory or ``PYTHONPATH``; the callable gets
``num_classes`` and ``input_shape`` (a tuple) only when its signature takes them (or ``**kwargs``),
plus the user's overrides as keyword arguments. It runs with torch's CPU generator seeded with
the model seed inside ``fork_rng``, so its own default initialisation is seeded and the caller's
global RNG state is left as it was.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from maskkit._user_code import calling_user_code, keyword_params, resolve_callable
from maskkit.errors import OptionError

if TYPE_CHECKING:
    import torch

_SHAPE_KEYS = ("num_classes", "input_shape")
_SCALARS = (type(None), bool, int, float, str)


def is_user_model(name: str) -> bool:
    return ":" in name


def resolve(name: str) -> Callable[..., Any]:
    """Import ``package.module`` and return its ``callable`` (dotted attributes allowed)."""
    return resolve_callable(name, "user model")


def user_model_args(
    name: str, num_classes: int | None, input_shape: Sequence[int] | None, overrides: Mapping
) -> dict[str, Any]:
    if num_classes is None or input_shape is None:
        raise OptionError(
            f"user model {name!r} has no default num_classes/input_shape: "
            "give a dataset, or num_classes and input_shape as model arguments"
        )
    named, var_kw = keyword_params(resolve(name))
    unknown = sorted(k for k in overrides if k not in named)
    if unknown and not var_kw:
        accepted = ", ".join(
            ["num_classes", "input_shape", *(k for k in named if k not in _SHAPE_KEYS)]
        )
        raise OptionError(
            f"user model {name!r} takes no argument {', '.join(unknown)}; accepted: {accepted}"
        )
    args: dict[str, Any] = {"num_classes": num_classes, "input_shape": list(input_shape)}
    missing = []
    for key, param in named.items():
        if key in _SHAPE_KEYS or key in overrides:
            continue
        if param.default is inspect.Parameter.empty:
            missing.append(key)
        elif isinstance(param.default, _SCALARS):  # record defaults that survive JSON
            args[key] = param.default
    if missing:
        raise OptionError(f"user model {name!r} needs argument(s) {', '.join(missing)}")
    args.update(overrides)
    return args


def build_user_model(name: str, args: Mapping[str, Any], seed: int) -> torch.nn.Module:
    import torch

    fn = resolve(name)
    named, var_kw = keyword_params(fn)
    kwargs = {k: v for k, v in args.items() if k not in _SHAPE_KEYS}
    if var_kw or "num_classes" in named:
        kwargs["num_classes"] = args["num_classes"]
    if var_kw or "input_shape" in named:
        kwargs["input_shape"] = tuple(args["input_shape"])
    with torch.random.fork_rng(devices=[]), calling_user_code("user model", name):
        torch.default_generator.manual_seed(seed)
        model = fn(**kwargs)
    if not isinstance(model, torch.nn.Module):
        raise OptionError(
            f"user model {name!r} returned {type(model).__name__}, not a torch.nn.Module"
        )
    return model
