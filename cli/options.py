"""Options shared by several commands, defined once so that they read the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


class LiveChoice(click.Choice):
    """A Choice whose values come from a library constant or registry, read when they are used.

    ``values`` is called at parse or help time, not at import, so the group's --help imports
    nothing behind it and a name registered later is accepted too.
    """

    def __init__(self, values: Callable[[], Sequence[str]], case_sensitive: bool = True) -> None:
        self._values = values
        super().__init__([], case_sensitive=case_sensitive)

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        return tuple(self._values())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        pass  # click.Choice.__init__ assigns the (empty) list; the values stay live


def encodings() -> tuple[str, ...]:
    """The mask encodings the format defines (for --encoding)."""
    from maskkit.format.metadata import ENCODINGS

    return ENCODINGS


#: --sparsity: the fraction of weights pruned, 0 (none) up to but excluding 1.
SPARSITY = FiniteFloatRange(0, 1, max_open=True)


def flag(field: str) -> str:
    """The CLI flag of a library option field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


def method_options(method: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The method options the user set (not None), checked now: a usage error names the flag.

    ``given`` maps every method-option flag's field name to its value (None: not given).
    """
    import dataclasses

    from maskkit._options import is_required
    from maskkit.errors import OptionError

    options = {key: value for key, value in given.items() if value is not None}
    fields = dataclasses.fields(method.Options)
    known = [f.name for f in fields]
    unknown = [key for key in options if key not in known]
    if unknown:
        takes = ", ".join(flag(key) for key in known if key in given) or "none"
        raise click.UsageError(
            f"{', '.join(map(flag, unknown))}: not an option of method {method.name} "
            f"(its options: {takes})"
        )
    derived = method.model_options()
    for f in fields:
        if is_required(f) and f.name not in options and f.name not in derived:
            raise click.UsageError(f"{method.name} needs {flag(f.name)}: {f.metadata.get('help')}")
    try:
        method.check_options(options)  # a bad value: exit 2 before any work
    except OptionError as exc:
        raise click.UsageError(_flagged(str(exc), known)) from None
    return options


def _flagged(message: str, fields: list[str]) -> str:
    """``message`` with each option field name written as its flag (batch_size -> --batch-size)."""
    import re

    if not fields:
        return message
    words = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, fields)) + r")(?![\w-])")
    return words.sub(lambda m: flag(m.group(1)), message)


def method_option_params(taken: set[str]) -> list[click.Option]:
    """One flag per option field of the registered methods, help and choices from the fields.

    A field whose flag or name the command already has (``--input-shape``, which the method
    then takes from the model) gets none.
    """
    import dataclasses

    from maskkit._options import default_of, field_types, is_required
    from maskkit.pruners import get_method, known_methods

    seen: dict[str, dict[str, Any]] = {}
    for name in known_methods():
        method = get_method(name)
        types_ = field_types(method.Options)
        for f in dataclasses.fields(method.Options):
            if f.name in taken or flag(f.name) in taken:
                continue
            entry = seen.setdefault(
                f.name, {"field": f, "type": types_.get(f.name), "methods": [], "defaults": []}
            )
            entry["methods"].append(name)
            entry["defaults"].append("required" if is_required(f) else default_of(f))
    return [_flag_for(name, entry) for name, entry in seen.items()]


def _flag_for(name: str, entry: dict[str, Any]) -> click.Option:
    from maskkit._options import optional_inner

    f = entry["field"]
    choices = f.metadata.get("choices")
    annotation, _ = optional_inner(entry["type"])
    if choices:
        kind: Any = click.Choice(list(choices))
    else:
        kind = {int: click.INT, float: click.FLOAT, bool: click.BOOL}.get(annotation, click.STRING)
    defaults = entry["defaults"]
    if all(d == "required" for d in defaults):
        note = "required"
    elif len({repr(d) for d in defaults}) == 1:
        default = defaults[0]
        note = f"default {','.join(map(str, default)) if isinstance(default, tuple) else default}"
    else:
        note = "default " + ", ".join(
            f"{m} {d}" for m, d in zip(entry["methods"], defaults, strict=True)
        )
    help_text = f"{', '.join(entry['methods'])}: {f.metadata.get('help', '')} ({note})."
    return click.Option([flag(name), name], type=kind, default=None, help=help_text)


def method_help() -> str:
    """The --method help: the registered names, from the registry (no method is imported)."""
    from maskkit.pruners import known_methods

    names = known_methods()
    listed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    return f"{listed} (see spec/methods/)."


class MethodCommand(click.Command):
    """A command with one flag per method option, made from the registered methods' fields.

    The flags are made when the command parses or shows its help, not when it is imported, so
    that the group's --help imports no method module (nor torch); they go before the
    parameter named ``before``, and reach the callback as ``method_values``.
    """

    def __init__(self, *args: Any, before: str = "output", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._before = before
        self._made: tuple[tuple[str, ...], list[click.Option]] | None = None

    def _method_params(self) -> list[click.Option]:
        from maskkit.pruners import known_methods

        key = tuple(known_methods())
        if self._made is None or self._made[0] != key:
            taken = {p.name for p in self.params if p.name} | {
                o for p in self.params for o in getattr(p, "opts", [])
            }
            self._made = (key, method_option_params(taken))
        return self._made[1]

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        for p in params:
            if p.name == "method":
                p.help = method_help()
        where = next((i for i, p in enumerate(params) if p.name == self._before), len(params))
        return [*params[:where], *self._method_params(), *params[where:]]

    def invoke(self, ctx: click.Context) -> Any:
        names = {p.name for p in self._method_params()}
        ctx.params["method_values"] = {n: ctx.params.pop(n) for n in names if n in ctx.params}
        return super().invoke(ctx)


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
