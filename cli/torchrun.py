"""``--nproc N``: the same command again under torchrun, and the input shared by its ranks.

The parent checks what it can (the output, the input artifact) so that a mistake is one line
before any process starts, then rebuilds the command line from the parsed parameters and hands
it to :func:`maskkit.training.distributed.launch`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from maskkit.format import Mask, Weights
    from maskkit.training.distributed import DistInfo


def relaunch(ctx: click.Context, input: str, output: str | None, nproc: int) -> None:
    """Check the output and the input here, then run this command on ``nproc`` processes."""
    from maskkit.format import load
    from maskkit.training.distributed import launch
    from maskkit_cli.streams import Output, is_stdin, read_input

    Output.open(output)
    data, name = read_input(input)
    load(data, kind=("mask", "weights"), name=name)
    argv = child_argv(ctx, skip={"nproc", "input"})
    # A regular file is read again by rank 0, so messages name it and a relative init path
    # resolves against its folder; stdin or a pipe, consumed here, is piped on.
    if not is_stdin(input) and os.path.isfile(input):
        launch(nproc, [*argv, "--", input])
    else:
        launch(nproc, [*argv, "-"], stdin=data)


def shared_input(input: str, info: DistInfo) -> tuple[Mask | Weights, str]:
    """The input artifact and its name on every rank: rank 0 reads it, the others receive it."""
    from maskkit.format import load
    from maskkit.training import distributed
    from maskkit_cli.streams import read_input

    found = read_input(input) if info.is_main else None
    data, name = distributed.broadcast_object(found)
    return load(data, kind=("mask", "weights"), name=name), name


def child_argv(ctx: click.Context, skip: set[str]) -> list[str]:
    """The command line that gives ``ctx``'s parsed parameters again, minus ``skip``.

    Only parameters the user set are repeated; every value here is the raw text or number.
    """
    from click.core import ParameterSource

    argv = [ctx.info_name or ""]
    positional: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if name in skip or ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            continue
        value = ctx.params.get(name)
        if isinstance(param, click.Argument):
            positional.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            if param.secondary_opts and not value:
                argv.append(param.secondary_opts[0])
            elif value:
                argv.append(param.opts[-1])
        elif isinstance(param, click.Option) and param.multiple:
            for item in value or ():
                argv += [param.opts[-1], str(item)]
        elif value is not None:
            argv += [param.opts[-1], str(value)]
    return [*argv, "--", *positional] if positional else argv
