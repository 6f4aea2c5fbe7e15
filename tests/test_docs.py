"""The README and the spec pages describe what the code registers, and nothing else."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from maskkit.masking.mask import make_mask
from maskkit.masking.rules import RULES
from maskkit_cli.main import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def section(page: str, heading: str) -> str:
    """The text under ``## heading``, up to the next heading of level 2."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, re.M | re.S)
    assert match, f"no section '## {heading}'"
    return match.group(1)


def table_rows(text: str) -> dict[str, list[str]]:
    """The rows of the first markdown table in ``text``: first cell's `name` -> other cells."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:  # after the header and the |---| line
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.match(r"`([^`]+)`", cells[0])
        assert name, f"row without a `name` first: {line}"
        assert name.group(1) not in rows, f"two rows for {name.group(1)}"
        rows[name.group(1)] = [cells[0][name.end() :].strip(), *cells[1:]]
    return rows


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [c for c in COMMANDS if not re.search(rf"\bmaskkit {re.escape(c)}\b(?!-)", readme)]
    assert not missing, f"commands the README never shows: {missing}"


def test_the_masking_spec_lists_every_rule_and_marks_the_default():
    page = (ROOT / "spec" / "masking.md").read_text()
    for header in ("- **Version:** ", "- **Status:** ", "## Change log"):
        assert header in page, header
    rows = table_rows(section(page, "Allocation rules"))
    assert sorted(rows) == sorted(RULES)
    default = inspect.signature(make_mask).parameters["rule"].default
    marked = [name for name, cells in rows.items() if cells[0] == "(default)"]
    assert marked == [default]


def test_table_rows_reads_a_page_table():
    text = "| option | default |\n|---|---|\n| `a` | 1 |\n| `b` (default) | `x` |\n"
    assert table_rows(text) == {"a": ["", "1"], "b": ["(default)", "`x`"]}
