"""The grid file (``spec/experiment-v1.md``): TOML text in, a checked :class:`Grid` out.

Standard library only (``tomllib``, or ``tomli`` on Python 3.10), so that ``maskkit experiment
plan`` never imports torch. Every problem is an :class:`OptionError` naming the file and the
key, with the accepted values for an unknown one.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maskkit.errors import OptionError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BASELINES = ("dense", "lottery")
ABLATIONS = ("none", "shuffle", "reinit", "invert")
#: The ablations' own seeds are the cell's seed plus this, so that a reinitialised network is
#: never the initialisation of another seed of the same grid.
ABLATION_SEED_OFFSET = 10_000

_TOP = {"model", "dataset", "training", "scoring", "grid", "lottery", "run", "include", "exclude"}
_MODEL = {"name", "args"}
_DATASET = {"name", "data_dir", "seed", "input_shape", "num_classes", "options"}
_SCORING = {"samples_per_class", "data_seed", "options"}
_GRID = {"seeds", "methods", "sparsities", "ablations", "prune_at"}
_LOTTERY = {"rewind_step"}
_RUN = {"checkpoint_every"}
_CELL_KEYS = ("method", "sparsity", "ablation", "seed", "prune_at")


@dataclass(frozen=True, order=True)
class Cell:
    """One point of the grid: one trained network and its metrics."""

    method: str
    sparsity: float
    ablation: str
    seed: int
    prune_at: int

    @property
    def cell_id(self) -> str:
        """A readable, unique name: ``snip-0.9-shuffle-s0-k0``."""
        return f"{self.method}-{self.sparsity!r}-{self.ablation}-s{self.seed}-k{self.prune_at}"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _CELL_KEYS}


@dataclass(frozen=True)
class Grid:
    """A checked grid: what to build, train and measure."""

    text: str
    source: str
    model: str
    model_args: dict[str, Any]
    dataset: dict[str, Any]  # name, seed, input_shape, num_classes, options (data_dir apart)
    data_dir: str | None
    training: dict[str, Any]
    samples_per_class: int
    data_seed: int
    method_options: dict[str, dict[str, Any]]
    rewind_step: int
    checkpoint_every: int | str | None
    cells: tuple[Cell, ...] = field(default=())

    @property
    def methods(self) -> list[str]:
        return sorted({c.method for c in self.cells})


def parse_grid(text: str, *, source: str = "<grid>") -> Grid:
    """Check ``text`` (a grid file's contents) and expand it into its cells.

    >>> g = parse_grid('[model]\\nname = "lenet300"\\n[dataset]\\nname = "mnist"\\n'
    ...                '[grid]\\nmethods = ["snip", "dense"]\\nsparsities = [0.5, 0.9]')
    >>> [c.cell_id for c in g.cells]
    ['dense-0.0-none-s0-k0', 'snip-0.5-none-s0-k0', 'snip-0.9-none-s0-k0']
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OptionError(f"{source}: not valid TOML: {exc}") from None
    _keys(doc, _TOP, source, "the top level")
    model = _table(doc, "model", source, required=True)
    _keys(model, _MODEL, source, "[model]")
    name = _string(model.get("name"), source, "model.name")
    _check_model(name, source)
    dataset = _table(doc, "dataset", source, required=True)
    _keys(dataset, _DATASET, source, "[dataset]")
    data = _dataset(dataset, source)
    training = _table(doc, "training", source)
    _check_training(name, data["name"], training, source)
    scoring = _table(doc, "scoring", source)
    _keys(scoring, _SCORING, source, "[scoring]")
    method_options = _table(scoring, "options", source, where="scoring.options")
    lottery = _table(doc, "lottery", source)
    _keys(lottery, _LOTTERY, source, "[lottery]")
    run = _table(doc, "run", source)
    _keys(run, _RUN, source, "[run]")
    main = _table(doc, "grid", source, required=True)
    _keys(main, _GRID, source, "[grid]")
    methods_known = _known_methods()
    for method, opts in method_options.items():
        if method not in methods_known:
            raise OptionError(
                f"{source}: scoring.options: unknown method {method!r}; known: "
                f"{', '.join(methods_known)}"
            )
        if not isinstance(opts, dict):
            raise OptionError(f"{source}: scoring.options.{method} must be a table")

    rewind = _int(lottery.get("rewind_step", 0), source, "lottery.rewind_step")
    defaults = _block(main, source, "[grid]", methods_known, defaults=None)
    cells = set(_expand(defaults, rewind))
    for i, extra in enumerate(_tables(doc, "include", source)):
        _keys(extra, _GRID, source, f"[[include]] #{i + 1}")
        block = _block(extra, source, f"[[include]] #{i + 1}", methods_known, defaults=defaults)
        cells.update(_expand(block, rewind))
    for i, rule in enumerate(_tables(doc, "exclude", source)):
        where = f"[[exclude]] #{i + 1}"
        _keys(rule, set(_CELL_KEYS), source, where)
        if not rule:
            raise OptionError(f"{source}: {where} is empty (it would exclude every cell)")
        cells = {c for c in cells if not _matches(c, rule)}
    if not cells:
        raise OptionError(f"{source}: the grid has no cells (check methods and [[exclude]])")
    every = _duration_or_none(run.get("checkpoint_every", "1ep"), source, "run.checkpoint_every")
    return Grid(
        text=text,
        source=source,
        model=name,
        model_args=dict(_table(model, "args", source, where="model.args")),
        dataset={k: v for k, v in data.items() if k != "data_dir"},
        data_dir=data.get("data_dir"),
        training=dict(training),
        samples_per_class=_int(
            scoring.get("samples_per_class", 10), source, "scoring.samples_per_class", low=1
        ),
        data_seed=_int(scoring.get("data_seed", 0), source, "scoring.data_seed"),
        method_options={k: dict(v) for k, v in method_options.items()},
        rewind_step=rewind,
        checkpoint_every=every,
        cells=tuple(sorted(cells)),
    )


def read_grid(path: str) -> Grid:
    """Read and check a grid file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise OptionError(f"{path}: no such grid file") from None
    except OSError as exc:
        raise OptionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OptionError(f"{path}: not UTF-8 text, so not a TOML grid file") from None
    return parse_grid(text, source=path)


# -- expansion -----------------------------------------------------------------------------------
def _expand(block: Mapping[str, list[Any]], rewind: int) -> list[Cell]:
    cells = []
    for seed in block["seeds"]:
        for method in block["methods"]:
            if method == "dense":
                cells.append(Cell("dense", 0.0, "none", seed, 0))
                continue
            steps = [rewind] if method == "lottery" else block["prune_at"]
            for sparsity in block["sparsities"]:
                for ablation in block["ablations"]:
                    for k in steps:
                        cells.append(Cell(method, sparsity, ablation, seed, k))
    return cells


def _matches(cell: Cell, rule: Mapping[str, Any]) -> bool:
    for key, wanted in rule.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if getattr(cell, key) not in values:
            return False
    return True


def _block(
    table: Mapping[str, Any],
    source: str,
    where: str,
    methods_known: Sequence[str],
    *,
    defaults: Mapping[str, list[Any]] | None,
) -> dict[str, list[Any]]:
    def get(key: str, fallback: list[Any]) -> Any:
        if key in table:
            return table[key]
        return defaults[key] if defaults is not None else fallback

    if defaults is None and "methods" not in table:
        raise OptionError(f'{source}: {where} needs methods (e.g. methods = ["snip", "dense"])')
    methods = _list(get("methods", []), source, f"{where} methods")
    known = [*methods_known, *BASELINES]
    for m in methods:
        if m not in known:
            raise OptionError(f"{source}: {where}: unknown method {m!r}; known: {', '.join(known)}")
    ablations = _list(get("ablations", ["none"]), source, f"{where} ablations")
    for a in ablations:
        if a not in ABLATIONS:
            raise OptionError(
                f"{source}: {where}: unknown ablation {a!r}; known: {', '.join(ABLATIONS)}"
            )
    pruned = [m for m in methods if m != "dense"]
    raw_sparsities = get("sparsities", None)
    if raw_sparsities is None:
        if pruned:
            raise OptionError(f"{source}: {where} needs sparsities for {', '.join(pruned)}")
        raw_sparsities = []
    return {
        "methods": methods,
        "ablations": ablations,
        "sparsities": _sparsities(raw_sparsities, source, f"{where} sparsities"),
        "seeds": [
            _int(s, source, f"{where} seeds") for s in _list(get("seeds", [0]), source, "seeds")
        ],
        "prune_at": [
            _int(k, source, f"{where} prune_at")
            for k in _list(get("prune_at", [0]), source, f"{where} prune_at")
        ],
    }


def _sparsities(value: Any, source: str, where: str) -> list[float]:
    """A list of fractions pruned, or ``{remaining = 0.8, powers = [...]}``: 1 - 0.8^k."""
    if isinstance(value, dict):
        extra = set(value) - {"remaining", "powers"}
        if extra or "remaining" not in value or "powers" not in value:
            raise OptionError(
                f"{source}: {where}: a series is {{remaining = 0.8, powers = [1, 2, 3]}}"
            )
        base = _fraction(value["remaining"], source, f"{where} remaining")
        powers = [_int(p, source, f"{where} powers") for p in _list(value["powers"], source, where)]
        # Six significant digits: 1 - 0.8**3 is 0.488, not 0.48799999999999993, and 1 - 0.8**20
        # is 0.988471 (a readable cell id; the pruned count moves by at most 1 in 2 million).
        value = [float(f"{1 - base**p:.6g}") for p in powers]
    out = [_fraction(v, source, where) for v in _list(value, source, where)]
    return sorted(set(out))


def _fraction(value: Any, source: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(f"{source}: {where}: {value!r} is not a number")
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise OptionError(f"{source}: {where}: {value!r} is outside [0, 1)")
    return float(value)


# -- checks --------------------------------------------------------------------------------------
def _known_methods() -> list[str]:
    from maskkit.pruners import known_methods

    return list(known_methods())


def _check_model(name: str, source: str) -> None:
    if ":" in name:  # package.module:callable, imported only where it runs
        return
    from maskkit.models import known_models

    if name not in known_models():
        raise OptionError(
            f"{source}: unknown model {name!r}; known: {', '.join(known_models())}, "
            "or package.module:callable"
        )


def _dataset(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    name = _string(table.get("name"), source, "dataset.name")
    if ":" not in name:
        from maskkit.data.registry import canonical_name

        try:
            name = canonical_name(name)
        except OptionError as exc:
            raise OptionError(f"{source}: dataset.name: {exc}") from None
    out: dict[str, Any] = {"name": name, "seed": _int(table.get("seed", 0), source, "dataset.seed")}
    if "data_dir" in table:
        out["data_dir"] = _string(table["data_dir"], source, "dataset.data_dir")
    if "input_shape" in table:
        shape = _list(table["input_shape"], source, "dataset.input_shape")
        out["input_shape"] = [_int(s, source, "dataset.input_shape", low=1) for s in shape]
    if "num_classes" in table:
        out["num_classes"] = _int(table["num_classes"], source, "dataset.num_classes", low=2)
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise OptionError(f"{source}: dataset.options must be a table")
    out["options"] = dict(options)
    return out


def _check_training(model: str, dataset: str, table: Mapping[str, Any], source: str) -> None:
    from maskkit.models import model_family
    from maskkit.training.options import default_options

    family = "user" if ":" in model else model_family(model)
    try:
        default_options(family, dataset, **table)
    except OptionError as exc:
        raise OptionError(f"{source}: [training]: {exc}") from None
    except TypeError as exc:
        raise OptionError(f"{source}: [training]: {exc}") from None


def _duration_or_none(value: Any, source: str, where: str) -> int | str | None:
    from maskkit.training.options import parse_duration

    if value in ("none", "off", 0):
        return None
    try:
        return parse_duration(value, what=where)
    except OptionError as exc:
        raise OptionError(f"{source}: {exc}") from None


def _keys(table: Mapping[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise OptionError(
            f"{source}: {where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(allowed))}"
        )


def _table(
    doc: Mapping[str, Any], key: str, source: str, *, required: bool = False, where: str = ""
) -> dict[str, Any]:
    where = where or f"[{key}]"
    if key not in doc:
        if required:
            raise OptionError(f"{source}: the grid needs a {where} table")
        return {}
    value = doc[key]
    if not isinstance(value, dict):
        raise OptionError(f"{source}: {where} must be a table")
    return value


def _tables(doc: Mapping[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise OptionError(f"{source}: {key} must be written [[{key}]] (an array of tables)")
    return value


def _list(value: Any, source: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise OptionError(f"{source}: {where} must be a list, got {value!r}")
    return value


def _string(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OptionError(f"{source}: {where} must be a non-empty string")
    return value.strip()


def _int(value: Any, source: str, where: str, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptionError(f"{source}: {where}: {value!r} is not an integer >= {low}")
    return value
