"""``maskkit experiment``: a grid of stage pipelines run as one DAG, resumable and parallel.

>>> from maskkit.experiment import read_grid, build_plan, run_experiment    # doctest: +SKIP
>>> summary = run_experiment(read_grid("examples/grids/quick.toml"), "results/", jobs=2)  # doctest: +SKIP

Modules: :mod:`.grid` (the TOML file), :mod:`.plan` (nodes and their identities),
:mod:`.nodes` (what a worker does), :mod:`.runner` (scheduling on an Executor),
:mod:`.index` (the SQLite index), :mod:`.layout` (where files go). Importing this package
imports neither torch nor numpy.
"""

from typing import TYPE_CHECKING

from maskkit._lazy import lazy_exports

if TYPE_CHECKING:
    from maskkit.experiment.grid import Cell as Cell
    from maskkit.experiment.grid import Grid as Grid
    from maskkit.experiment.grid import parse_grid as parse_grid
    from maskkit.experiment.grid import read_grid as read_grid
    from maskkit.experiment.index import open_index as open_index
    from maskkit.experiment.index import rebuild as rebuild
    from maskkit.experiment.plan import Node as Node
    from maskkit.experiment.plan import Plan as Plan
    from maskkit.experiment.plan import build_plan as build_plan
    from maskkit.experiment.runner import RunSummary as RunSummary
    from maskkit.experiment.runner import run_experiment as run_experiment
    from maskkit.experiment.runner import run_plan as run_plan

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "maskkit.experiment.grid": ["Cell", "Grid", "parse_grid", "read_grid"],
        "maskkit.experiment.plan": ["Node", "Plan", "build_plan"],
        "maskkit.experiment.runner": ["RunSummary", "run_experiment", "run_plan"],
        "maskkit.experiment.index": ["open_index", "rebuild"],
    },
)
