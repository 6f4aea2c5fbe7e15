"""The ``maskkit`` command: a click group that loads each command's module only when it runs.

Commands are looked up lazily so that ``maskkit --help`` and the report commands never pay for
``import torch``; every user-facing error is turned into one line on stderr here, in one place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings
from typing import Any

import click

from maskkit._registry import Registry
from maskkit._version import __version__

#: command name -> "module:attribute" inside maskkit_cli. One line per command.
COMMANDS: Registry[click.Command] = Registry(
    "command",
    {
        "convert": "maskkit_cli.convert:convert",
        "diff": "maskkit_cli.diff:diff",
        "eval": "maskkit_cli.eval:evaluate",
        "experiment": "maskkit_cli.experiment:experiment",
        "imp": "maskkit_cli.imp:imp",
        "info": "maskkit_cli.info:info",
        "init": "maskkit_cli.init:init",
        "list": "maskkit_cli.catalog:catalog",
        "mask": "maskkit_cli.mask:mask",
        "reinit": "maskkit_cli.reinit:reinit",
        "report": "maskkit_cli.report_command:report",
        "rewind": "maskkit_cli.rewind:rewind",
        "score": "maskkit_cli.score:score",
        "shuffle": "maskkit_cli.shuffle:shuffle",
        "train": "maskkit_cli.train:train",
        "verify": "maskkit_cli.verify:verify",
    },
)

EXIT_ERROR = 1
EXIT_USAGE = 2
_DEBUG = "maskkit.debug"  # ctx.meta key: --debug given after the command name


class LazyGroup(click.Group):
    """Imports a command's module on first use, and reports every user-facing error in one line.

    Exit status 1 for bad data or environment (MaskkitError, OSError, an exception inside the
    user's own model or dataset), 2 for usage (click's errors and every OptionError).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        command = COMMANDS.get(name)
        _accept_debug(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        from maskkit.errors import MaskkitError, OptionError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except MaskkitError as exc:
            if debugging(ctx):
                raise
            # The library names parameters; its cli_message gives the same advice as flags.
            message = exc.cli_message or str(exc)
            _fail(ctx, message, EXIT_USAGE if isinstance(exc, OptionError) else EXIT_ERROR)
        except BrokenPipeError:
            # The reader went away (| head): end quietly, as a process killed by SIGPIPE would.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(128 + signal.SIGPIPE)
        except KeyboardInterrupt:
            click.echo("maskkit: interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:
            if debugging(ctx):
                raise
            _fail(ctx, os_error_line(exc), EXIT_ERROR)
        except Exception as exc:
            from maskkit._user_code import user_code_error

            error = user_code_error(exc)
            if error is None or debugging(ctx):
                raise  # a bug in maskkit: keep the traceback
            _fail(ctx, str(error), EXIT_ERROR)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    from maskkit_cli.printable import printable

    # Messages quote names from files: escaped, a newline in one cannot forge a second line.
    click.echo(f"maskkit: error: {printable(message)}", err=True)
    ctx.exit(code)


def os_error_line(exc: OSError) -> str:
    """``PATH: problem`` for an OSError that escaped the library (full disk, permissions)."""
    problem = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return problem
    where = os.fsdecode(exc.filename) if not isinstance(exc.filename, int) else f"fd {exc.filename}"
    if exc.filename2 is not None:
        where += f" -> {os.fsdecode(exc.filename2)}"
    return f"{where}: {problem}"


def _accept_debug(command: click.Command) -> None:
    """Let ``maskkit COMMAND --debug ...`` mean the same as ``maskkit --debug COMMAND ...``."""
    if any(param.name == "debug" for param in command.params):
        return
    command.params.append(
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            callback=_set_debug,
            help="Show tracebacks for errors (also MASKKIT_DEBUG=1).",
        )
    )


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG] = True


def debugging(ctx: click.Context) -> bool:
    """Whether --debug (before or after the command name) or MASKKIT_DEBUG=1 asks for tracebacks."""
    root = ctx.find_root()
    given = (root.params or {}).get("debug") or ctx.meta.get(_DEBUG)
    return bool(given) or os.environ.get("MASKKIT_DEBUG") == "1"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maskkit")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (also MASKKIT_DEBUG=1).")
def cli(debug: bool) -> None:
    """Pruning masks as files: score, mask, shuffle, reinit, train and eval as pipeline stages.

    Every stage reads one artifact (a path, or stdin) and writes one (-o PATH, or stdout):

    \b
      maskkit score --model lenet300 --method snip --dataset mnist \\
        | maskkit mask --sparsity 0.9 | maskkit shuffle --seed 1 > m.safetensors
      maskkit info m.safetensors

    Run 'maskkit COMMAND --help' for a command's options and an example.
    """


def main() -> None:
    warnings.showwarning = _show_warning
    _return_freed_memory_early(sys.argv[1:])
    try:
        cli(prog_name="maskkit")
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    except OSError as exc:  # --help or --version into a full disk; a command's own with --debug
        if "--debug" in sys.argv[1:] or os.environ.get("MASKKIT_DEBUG") == "1":
            raise
        click.echo(f"maskkit: error: {os_error_line(exc)}", err=True)
        code = EXIT_ERROR
    _exit_now(code)


#: Stages that hold one large artifact and compute little: returning the big buffers they free
#: at once keeps their peak memory down at no cost in time. Not score, train, eval or imp: with
#: the fixed threshold every tensor of 1 MiB or more is mmapped, page-faulted and unmapped at
#: each use, which made training 1.5-2.6x slower (benchmarks/bench_cli.py measures both sides).
ARTIFACT_STAGES = frozenset(
    {"convert", "diff", "info", "init", "mask", "reinit", "rewind", "shuffle", "verify"}
)


def _return_freed_memory_early(argv: list[str]) -> None:
    """Give large freed buffers back to the OS at once, for the stages in ARTIFACT_STAGES.

    glibc raises its mmap threshold after each large free, so the next large tensors would be
    carved from the heap and the freed ones never returned; a fixed 1 MiB threshold avoids it.
    """
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command in ARTIFACT_STAGES:
        set_mmap_threshold(1 << 20)


def set_mmap_threshold(size: int) -> None:
    """Fix glibc's M_MMAP_THRESHOLD (no-op elsewhere); benchmarks call it to compare."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").mallopt(-3, size)  # M_MMAP_THRESHOLD


def _exit_now(code: Any) -> None:
    """Flush and leave without interpreter teardown (about 0.4 s with torch loaded per stage).

    Outputs are complete by now (files were renamed into place, stdout was flushed); only
    module finalisers would run, and in a pipeline the next stage waits for them.
    """
    if code is None:
        code = 0
    elif not isinstance(code, int):
        click.echo(str(code), err=True)
        code = EXIT_ERROR
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


_default_showwarning = warnings.showwarning


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    from maskkit.errors import MaskkitWarning

    if issubclass(category, MaskkitWarning):
        from maskkit_cli.printable import printable

        click.echo(f"maskkit: warning: {printable(str(message))}", err=True)
    else:
        _default_showwarning(message, category, *args, **kwargs)
