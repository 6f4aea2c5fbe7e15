"""Options shared by several commands, defined once so that they read the same everywhere."""

from __future__ import annotations

from typing import Any

import click

input_argument = click.argument("input", required=False, default="-", metavar="[INPUT]")
"""The input artifact: a path, or '-' / nothing for stdin."""

output_option = click.option(
    "-o",
    "--output",
    default=None,
    metavar="PATH",
    help="Write the artifact here (atomically) instead of stdout.",
)

json_option = click.option(
    "as_json",
    "--json",
    is_flag=True,
    help="Print one JSON document for programs instead of a table.",
)


trust_option = click.option(
    "--trust-code",
    is_flag=True,
    help="Import and run the package.module:callable model or dataset that an input file "
    "names (only for files you trust; a name given with --model or --dataset is trusted).",
)


def trust(trust_code: bool, *names: str | None) -> bool | frozenset[str]:
    """What the command trusts: everything with --trust-code, else the names given on it."""
    return True if trust_code else frozenset(n for n in names if n)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan, which passes every range comparison."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


#: --sparsity: the fraction of weights pruned, 0 (none) up to but excluding 1.
SPARSITY = FiniteFloatRange(0, 1, max_open=True)


def flag(field: str) -> str:
    """The CLI flag of a library option field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


def method_options(method: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The method options the user set (not None), checked now: a usage error names the flag.

    ``given`` maps every method-option field the command offers to its value.
    """
    import dataclasses

    options = {key: value for key, value in given.items() if value is not None}
    fields = dataclasses.fields(method.Options)
    known = {f.name for f in fields}
    unknown = [key for key in options if key not in known]
    if unknown:
        takes = ", ".join(flag(key) for key in given if key in known) or "none"
        raise click.UsageError(
            f"{', '.join(map(flag, unknown))}: not an option of method {method.name} "
            f"(its options: {takes})"
        )
    nodefault = dataclasses.MISSING
    required = [f.name for f in fields if f.default is nodefault and f.default_factory is nodefault]
    if all(key in options for key in required):  # else the command says which flag is missing
        method.make_options(options)  # a bad value: OptionError (exit 2) before any work
    return options


def parse_pairs(values: tuple[str, ...], what: str) -> dict[str, Any]:
    """KEY=VALUE pairs; each VALUE is parsed as JSON when it can be (else kept as text)."""
    import json

    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        try:
            parsed[key] = json.loads(text)
        except ValueError:
            parsed[key] = text  # a bare string such as basic or bottleneck
    return parsed


def _parse_pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
    return parse_pairs(values, f"--{param.name.replace('_', '-')}")


def _parse_shape(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        shape = tuple(int(x) for x in value.replace("x", ",").split(","))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a shape like 3,32,32", ctx=ctx, param=param
        ) from None
    if not shape or min(shape) < 1:
        raise click.BadParameter(
            f"{value!r}: every dimension must be positive", ctx=ctx, param=param
        )
    return shape


def model_options(required: bool = False):
    """--model, --model-arg, --input-shape and --num-classes, in that order."""

    def decorate(f):
        f = click.option(
            "--num-classes",
            type=click.IntRange(min=1),
            default=None,
            help="Output classes (default: the dataset's, else the model's).",
        )(f)
        f = click.option(
            "--input-shape",
            callback=_parse_shape,
            default=None,
            metavar="SHAPE",
            help="Input shape without the batch dimension, e.g. 3,32,32 or 20 (default: the "
            "dataset's, else the model's).",
        )(f)
        f = click.option(
            "--model-arg",
            "model_arg",
            multiple=True,
            callback=_parse_pairs,
            metavar="KEY=VALUE",
            help="Extra model constructor argument (repeatable; VALUE parsed as JSON when it can be).",
        )(f)
        return click.option(
            "--model",
            "model",
            required=required,
            default=None,
            metavar="NAME",
            help="A registered model (see 'maskkit list') or package.module:callable returning an nn.Module.",
        )(f)

    return decorate
