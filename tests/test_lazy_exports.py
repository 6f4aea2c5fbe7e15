"""The lazy package exports: every name resolves, and the type-checking imports list the same.

A package ``__init__`` that exports names through :func:`maskkit._lazy.lazy_exports` keeps
them out of its runtime imports (``import maskkit`` costs neither torch nor numpy), so it
repeats the same table as real imports under ``if TYPE_CHECKING:`` for editors and type
checkers. These tests read both from the source, so the two cannot drift apart.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "maskkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def lazy_modules() -> list[Path]:
    """Every module of the library that builds its exports with ``lazy_exports(...)``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_lazy.py":
            continue
        if _lazy_call(ast.parse(path.read_text(), str(path))) is not None:
            found.append(path)
    return found


def _lazy_call(tree: ast.Module) -> ast.Call | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "lazy_exports":
                return node
    return None


def lazy_table(path: Path) -> dict[str, str]:
    """``{exported name: module}`` from the literal table passed to ``lazy_exports``."""
    call = _lazy_call(ast.parse(path.read_text(), str(path)))
    assert call is not None and len(call.args) == 2, f"{path}: lazy_exports(__name__, {{...}})"
    table = ast.literal_eval(call.args[1])
    where: dict[str, str] = {}
    for module, names in table.items():
        for name in names:
            assert name not in where, f"{path}: {name} is exported twice"
            where[name] = module
    return where


def type_checking_imports(path: Path) -> dict[str, str]:
    """``{name: module}`` imported in the module's top-level ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    where: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and _is_type_checking(node.test)):
            continue
        for statement in node.body:
            assert isinstance(statement, ast.ImportFrom) and statement.level == 0, (
                f"{path}:{statement.lineno}: only absolute 'from M import N as N' here"
            )
            for alias in statement.names:
                # "N as N" marks a re-export for type checkers and linters.
                assert alias.asname == alias.name, (
                    f"{path}:{statement.lineno}: write 'from {statement.module} import "
                    f"{alias.name} as {alias.name}'"
                )
                assert alias.name not in where, f"{path}: {alias.name} is imported twice"
                where[alias.name] = statement.module
    return where


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


LAZY = lazy_modules()
IDS = [module_name(p) for p in LAZY]


def test_the_lazy_packages_are_found():
    assert {"maskkit", "maskkit.format", "maskkit.data", "maskkit.training"} <= set(IDS)


@pytest.mark.parametrize("path", LAZY, ids=IDS)
def test_the_type_checking_block_lists_the_lazy_table(path):
    table, stubs = lazy_table(path), type_checking_imports(path)
    missing = sorted(
        f"{module}:{name}" for name, module in table.items() if stubs.get(name) != module
    )
    extra = sorted(
        f"{module}:{name}" for name, module in stubs.items() if table.get(name) != module
    )
    assert not missing and not extra, (
        f"{module_name(path)}: the TYPE_CHECKING imports differ from the lazy table: "
        f"missing or elsewhere {missing}, not in the table {extra}"
    )


@pytest.mark.parametrize("path", LAZY, ids=IDS)
def test_every_lazy_name_resolves_to_its_module_attribute(path):
    package = importlib.import_module(module_name(path))
    for name, module in lazy_table(path).items():
        assert name in package.__all__ and name in dir(package), name
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name


@pytest.mark.parametrize("path", LAZY, ids=IDS)
def test_an_unknown_name_is_an_attribute_error(path):
    package = importlib.import_module(module_name(path))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018
