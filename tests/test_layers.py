"""The layer rule: every import in ``maskkit/`` and ``cli/`` points down (or sideways), never up.

Most of the library's imports are deferred into functions (so that ``import maskkit`` and
``maskkit --help`` stay cheap), which makes the dependency graph invisible to a grep of the
module heads; this test walks every import statement, function-level and ``TYPE_CHECKING`` ones
included. There is no exception list: an upward edge is fixed by moving code, not by allowing
it here. A new module must be given a layer below (a module in no layer fails the test too).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

#: Bottom first. A module may import modules of its own layer and of layers below it. Entries
#: are module names or package prefixes; the longest matching entry places a module.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "base",
        [
            "maskkit._version",
            "maskkit.errors",
            "maskkit._lazy",
            "maskkit._validate",
            "maskkit._seeds",
            "maskkit._user_code",
            "maskkit._registry",
            "maskkit._options",
        ],
    ),
    ("format", ["maskkit.format"]),
    (
        "domain",
        [
            "maskkit.models",
            "maskkit.data",
            "maskkit.pruners",
            "maskkit.masking",
            "maskkit.ablations",
            "maskkit.collapse",
        ],
    ),
    (
        "starting weights and foreign formats",
        ["maskkit.start_weights", "maskkit.init_lookup", "maskkit.interop"],
    ),
    ("stages", ["maskkit.stages"]),
    ("training", ["maskkit.training"]),
    # The package's lazy names re-export stages, training and the layers below (importlib, so
    # invisible to this walk); what is built on the public API may use it.
    ("facade", ["maskkit"]),
    ("experiments", ["maskkit.experiment", "maskkit.report"]),
    ("cli", ["maskkit_cli", "maskkit.__main__"]),
]

SOURCE_ROOTS = {"maskkit": ROOT / "maskkit", "maskkit_cli": ROOT / "cli"}

_LAZY_TARGET = re.compile(r"((?:maskkit|maskkit_cli)(?:\.\w+)+)(?::[\w.]+)?")


def _module_name(path: Path) -> str:
    for package, folder in SOURCE_ROOTS.items():
        if path.is_relative_to(folder):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise AssertionError(f"{path} is outside the source roots")


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of ours (else it is an attribute of one)."""
    package, *rest = name.split(".")
    base = SOURCE_ROOTS.get(package)
    if base is None:
        return False
    target = base.joinpath(*rest)
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            matches = module == entry or module.startswith(entry + ".")
            if matches and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import of our packages in ``path``, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                # "from maskkit import stages" imports the module maskkit.stages.
                submodule = f"{source}.{alias.name}"
                found.append((node.lineno, submodule if _is_module(submodule) else source))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # Lazy targets ("maskkit.pruners.snip:SnipMethod", lazy_exports' module keys) are
            # imports made later by importlib: they obey the same rule. (A string that names no
            # module, such as a seed label "maskkit.synthetic", is not one.)
            match = _LAZY_TARGET.fullmatch(node.value)
            if match and _is_module(match.group(1)):
                found.append((node.lineno, match.group(1)))
    return [(line, name) for line, name in found if name.split(".")[0] in SOURCE_ROOTS]


def _upward(path: Path, module: str, shown: str) -> list[str]:
    """One ``file:line: ...`` line per import in ``path`` (module ``module``) that points up."""
    own = _layer(module)
    edges = []
    for line, target in _imports(path, module):
        theirs = _layer(target)
        if own is not None and theirs is not None and theirs > own:
            edges.append(f"{shown}:{line}: {LAYERS[own][0]} imports {target} ({LAYERS[theirs][0]})")
    return edges


def _sources() -> list[Path]:
    return sorted(p for folder in SOURCE_ROOTS.values() for p in folder.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    unplaced = [str(p.relative_to(ROOT)) for p in _sources() if _layer(_module_name(p)) is None]
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"


def test_every_import_points_down() -> None:
    upward = [
        edge
        for path in _sources()
        for edge in _upward(path, _module_name(path), str(path.relative_to(ROOT)))
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_a_deferred_upward_import_is_reported_with_its_line(tmp_path: Path) -> None:
    # The check must be able to fail: what format/artifact.py once did, inside a method.
    fake = tmp_path / "fake.py"
    fake.write_text(
        "import os\n"
        "from maskkit.format import metadata\n"
        "class Mask:\n"
        "    def shuffle(self, seed):\n"
        "        from maskkit import stages\n"
        "        if False:\n"
        "            import maskkit_cli.main\n"
    )
    assert _upward(fake, "maskkit.format.fake", "fake.py") == [
        "fake.py:5: format imports maskkit.stages (stages)",
        "fake.py:7: format imports maskkit_cli.main (cli)",
    ]
    # A relative import resolves against the module's package; a name that is not a module
    # (the package's own attribute) places the import at the package.
    fake.write_text("from .. import stages\nfrom maskkit import __version__\n")
    assert _upward(fake, "maskkit.format.fake", "fake.py") == [
        "fake.py:1: format imports maskkit.stages (stages)",
        "fake.py:2: format imports maskkit (facade)",
    ]
    # A lazy target named as a string is an import too.
    fake.write_text('LAZY = {"maskkit.training.loop": ["train"], "x": "maskkit.stages:score"}\n')
    assert _upward(fake, "maskkit.format.fake", "fake.py") == [
        "fake.py:1: format imports maskkit.training.loop (training)",
        "fake.py:1: format imports maskkit.stages (stages)",
    ]
