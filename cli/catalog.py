"""``maskkit list``: the models, scoring methods, datasets and mask rules maskkit knows."""

from __future__ import annotations

import click

from maskkit_cli.options import json_option
from maskkit_cli.report import Lines, Report, Table, emit


@click.command("list")
@json_option
def catalog(as_json: bool) -> None:
    """List the registered models, scoring methods, datasets and mask rules.

    \b
    Example:
      maskkit list
      maskkit list --json | jq '.models[].name'
    """
    from maskkit.data import known_datasets
    from maskkit.masking.rules import known_rules
    from maskkit.models import default_dataset, known_models, model_family
    from maskkit.pruners import get_method, known_methods

    models = [
        {"name": n, "family": model_family(n), "dataset": default_dataset(n)}
        for n in known_models()
    ]
    methods = [{"name": n, "needs_data": get_method(n).needs_data} for n in known_methods()]
    document = {
        "models": models,
        "methods": methods,
        "datasets": known_datasets(),
        "rules": known_rules(),
    }
    report = Report(
        [
            Table(
                ["model", "family", "default dataset"],
                [[m["name"], m["family"], m["dataset"] or "-"] for m in models],
            ),
            Table(
                ["method", "needs data"],
                [[m["name"], "yes" if m["needs_data"] else "no"] for m in methods],
            ),
            Lines("datasets", [*document["datasets"], "package.module:callable (your own)"]),
            Lines("mask rules", document["rules"]),
        ]
    )
    emit(document, report, as_json=as_json)
