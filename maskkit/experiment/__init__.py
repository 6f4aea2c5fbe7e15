"""``maskkit experiment``: a grid of stage pipelines run as one DAG, resumable and parallel.

>>> from maskkit.experiment import read_grid, build_plan, run_experiment    # doctest: +SKIP
>>> summary = run_experiment(read_grid("examples/grids/quick.toml"), "results/", jobs=2)  # doctest: +SKIP

Modules: :mod:`.grid` (the TOML file), :mod:`.plan` (nodes and their identities),
:mod:`.nodes` (what a worker does), :mod:`.runner` (scheduling on an Executor),
:mod:`.index` (the SQLite index), :mod:`.layout` (where files go). Importing this package
imports neither torch nor numpy.
"""

from maskkit._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "maskkit.experiment.grid": ["Cell", "Grid", "parse_grid", "read_grid"],
        "maskkit.experiment.plan": ["Node", "Plan", "build_plan"],
        "maskkit.experiment.runner": ["RunSummary", "run_experiment", "run_plan"],
        "maskkit.experiment.index": ["open_index", "rebuild"],
    },
)
