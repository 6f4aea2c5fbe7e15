"""Report output shared by the report commands: JSON for programs, a table for people.

A command builds one :class:`Report` (blocks of key/values, lines and tables) plus a JSON
document, and calls :func:`emit`. On a terminal the report is drawn with rich; into a pipe it is
plain aligned text, which greps well and spares the import of rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from maskkit_cli.printable import printable
from maskkit_cli.streams import names_stdout


@dataclass
class KeyValues:
    pairs: list[tuple[str, str]]


@dataclass
class Lines:
    title: str  # "" for bare lines
    lines: list[str]


@dataclass
class Table:
    columns: Sequence[str]
    rows: list[Sequence[str]]
    title: str = ""
    #: columns drawn only on a terminal (bar charts)
    terminal_only: Sequence[str] = ()
    footer: Sequence[str] | None = None

    def numeric(self, column: int) -> bool:
        # "-" stands for a value that does not exist (no spread, nothing kept): not text.
        return all(_looks_numeric(row[column]) for row in self.rows if row[column] not in ("", "-"))


@dataclass
class Report:
    blocks: list[KeyValues | Lines | Table] = field(default_factory=list)


def _looks_numeric(text: str) -> bool:
    return text.lstrip("+-").replace(".", "", 1).replace(",", "").rstrip("%x").isdigit()


@names_stdout
def emit(document: Any, report: Report, *, as_json: bool) -> None:
    """Write ``document`` as JSON (``--json``) or ``report`` for people, to stdout.

    Every string of the report is passed through :func:`printable` first, since names and
    values come from files.
    """
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    elif stdout_is_terminal():
        _rich(safe_report(report))
    else:
        sys.stdout.write(render_plain(report))
    sys.stdout.flush()


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def safe_report(report: Report) -> Report:
    """The report with control and bidi characters escaped in every string it shows."""
    blocks: list[KeyValues | Lines | Table] = []
    for block in report.blocks:
        if isinstance(block, KeyValues):
            blocks.append(KeyValues([(printable(k), printable(v)) for k, v in block.pairs]))
        elif isinstance(block, Lines):
            blocks.append(Lines(printable(block.title), [printable(x) for x in block.lines]))
        else:
            blocks.append(
                Table(
                    [printable(c) for c in block.columns],
                    [[printable(c) for c in row] for row in block.rows],
                    title=printable(block.title),
                    terminal_only=[printable(c) for c in block.terminal_only],
                    footer=[printable(c) for c in block.footer] if block.footer else block.footer,
                )
            )
    return Report(blocks)


def render_plain(report: Report) -> str:
    out: list[str] = []
    for block in safe_report(report).blocks:
        if isinstance(block, KeyValues):
            width = max((len(k) for k, _ in block.pairs), default=0)
            out += [f"{k + ':':<{width + 1}} {v}" for k, v in block.pairs]
        elif isinstance(block, Lines) and not block.title:
            out += block.lines
        elif isinstance(block, Lines):
            out.append(f"{block.title}:")
            out += [f"  {line}" for line in block.lines]
        else:
            out += _plain_table(block)
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _plain_table(block: Table) -> list[str]:
    keep = [i for i, c in enumerate(block.columns) if c not in block.terminal_only]
    head = [block.columns[i] for i in keep]
    rows = [[row[i] for i in keep] for row in block.rows]
    if block.footer:
        rows.append([block.footer[i] for i in keep])
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    right = [block.numeric(i) for i in keep]

    def line(cells: Sequence[str]) -> str:
        parts = [
            f"{c:>{w}}" if r else f"{c:<{w}}" for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    title = [f"{block.title}:"] if block.title else []
    return title + [line(head)] + [line(r) for r in rows]


def _rich(report: Report) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text  # plain text: a name like "[/]" is not markup

    console = Console()
    for block in report.blocks:
        if isinstance(block, KeyValues):
            grid = RichTable.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column()
            for k, v in block.pairs:
                grid.add_row(Text(k), Text(v))
            console.print(grid)
        elif isinstance(block, Lines):
            if block.title:
                console.print(Text(block.title, style="bold"))
            indent = "  " if block.title else ""
            for text in block.lines:
                console.print(f"{indent}{text}", highlight=False, markup=False)
        else:
            table = RichTable(
                title=Text(block.title) if block.title else None,
                box=box.SIMPLE_HEAD,
                show_footer=block.footer is not None,
                title_justify="left",
            )
            for i, name in enumerate(block.columns):
                table.add_column(
                    Text(name),
                    justify="right" if block.numeric(i) else "left",
                    footer=Text(block.footer[i]) if block.footer else "",
                    no_wrap=True,
                )
            for row in block.rows:
                table.add_row(*(Text(cell) for cell in row))
            console.print(table)
        console.print()


def bar(fraction: float, width: int = 20) -> str:
    """A horizontal bar of ``width`` cells with eighth-cell resolution."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return text.ljust(width)
