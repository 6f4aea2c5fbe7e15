"""User models named ``package.module:callable``.

The module is imported from the current directory or ``PYTHONPATH``; the callable gets
``num_classes`` and ``input_shape`` (a tuple, of any rank) only when its signature takes them (or
``**kwargs``), plus the user's overrides as keyword arguments. Signature defaults fill what is
not given and are recorded, so a parameterless ``def net()`` needs nothing. It runs with
torch's CPU generator seeded with the model seed inside ``fork_rng``, so its own default
initialisation is seeded and the caller's global RNG state is left as it was.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from maskkit._user_code import calling_user_code, keyword_params, resolve_callable
from maskkit.errors import OptionError
from maskkit.models import _args

if TYPE_CHECKING:
    import torch

_SHAPE_KEYS = ("num_classes", "input_shape")
_SCALARS = (type(None), bool, int, float, str)


def is_user_model(name: str) -> bool:
    return ":" in name


def resolve(name: str) -> Callable[..., Any]:
    """Import ``package.module`` and return its ``callable`` (dotted attributes allowed)."""
    return resolve_callable(name, "user model")


def _shape_default(key: str, param: inspect.Parameter) -> Any:
    """The signature default of ``num_classes``/``input_shape``, checked; None when there is none."""
    if param.default is inspect.Parameter.empty or param.default is None:
        return None
    if key == "num_classes":
        return _args.positive_int(key, param.default)
    return _args.int_list(key, param.default)


def shape_defaults(name: str) -> tuple[int | None, list[int] | None]:
    """The ``num_classes`` and ``input_shape`` defaults of the callable's signature, if any."""
    named, _ = keyword_params(resolve(name))
    classes, shape = (
        _shape_default(key, named[key]) if key in named else None for key in _SHAPE_KEYS
    )
    return classes, shape


def user_model_args(
    name: str, num_classes: int | None, input_shape: Sequence[int] | None, overrides: Mapping
) -> dict[str, Any]:
    """The complete arguments of a user model: given values, else its signature's defaults.

    ``num_classes``/``input_shape`` are recorded when known (given, from a dataset, or a
    signature default); a callable that takes them (or ``**kwargs``) must get them somehow.
    """
    named, var_kw = keyword_params(resolve(name))
    unknown = sorted(k for k in overrides if k not in named)
    if unknown and not var_kw:
        accepted = ", ".join(
            ["num_classes", "input_shape", *(k for k in named if k not in _SHAPE_KEYS)]
        )
        raise OptionError(
            f"user model {name!r} takes no argument {', '.join(unknown)}; accepted: {accepted}"
        )
    given = {"num_classes": num_classes, "input_shape": input_shape}
    args: dict[str, Any] = {}
    needed = []
    for key in _SHAPE_KEYS:
        value = given[key]
        if value is None and key in named:
            value = _shape_default(key, named[key])
        if value is not None:
            args[key] = list(value) if key == "input_shape" else value
        elif var_kw or key in named:
            needed.append(key)
    if needed:
        needs = f"user model {name!r} needs {' and '.join(needed)}"
        raise OptionError(
            f"{needs}: give a dataset, or num_classes and input_shape",
            cli_message=f"{needs}: give --dataset, or --num-classes and --input-shape",
        )
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
    for key in _SHAPE_KEYS:
        if key in args and (var_kw or key in named):
            kwargs[key] = tuple(args[key]) if key == "input_shape" else args[key]
    with torch.random.fork_rng(devices=[]), calling_user_code("user model", name):
        torch.default_generator.manual_seed(seed)
        model = fn(**kwargs)
    if not isinstance(model, torch.nn.Module):
        raise OptionError(
            f"user model {name!r} returned {type(model).__name__}, not a torch.nn.Module"
        )
    return model
