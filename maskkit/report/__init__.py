"""``maskkit report``'s library: the paper's tables and figures from experiment folders.

Reads each folder's ``index.sqlite`` (sqlite3 and the standard library only: no torch, no numpy),
pools the cells, and computes mean +- std over seeds, Welch's t-test for the ablations, the
matching sparsity, per-layer densities and the theoretical cost in MACs. Figures need the
optional matplotlib (``pip install 'maskkit[plot]'``) and import it only when drawn.
"""

from __future__ import annotations

from maskkit.report.load import Cell, Experiment, ReportError, load_experiment, load_experiments
from maskkit.report.tables import ReportData, build, to_csv, to_json

__all__ = [
    "Cell",
    "Experiment",
    "ReportData",
    "ReportError",
    "build",
    "load_experiment",
    "load_experiments",
    "to_csv",
    "to_json",
]
