"""``maskkit verify``: check files against the format specification."""

from __future__ import annotations

import click

from maskkit_cli.options import json_option
from maskkit_cli.report import Lines, Report, emit

EXIT_FAILED = 1


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@json_option
def verify(files: tuple[str, ...], as_json: bool) -> None:
    """Check artifacts: structure, metadata, per-layer counts and content hash.

    Prints one line per file and exits 0 only if every file passes. '-' reads stdin.

    \b
    Example:
      maskkit verify masks/*.safetensors
    """
    from maskkit.errors import MaskkitError
    from maskkit.format import load
    from maskkit_cli.streams import read_input

    if files.count("-") > 1:
        raise click.UsageError("stdin ('-') can be given only once")
    results = []
    for path in files:
        try:
            data, name = read_input(path)
            artifact = load(data, name=name)
        except MaskkitError as exc:
            results.append(
                {"file": path, "ok": False, "error": type(exc).__name__, "message": str(exc)}
            )
            continue
        results.append(
            {
                "file": name,
                "ok": True,
                "kind": artifact.kind,
                "model": artifact.model.name,
                "numel": artifact.numel,
                "kept": artifact.kept,
                "content_hash": artifact.content_hash,
            }
        )
    lines = [_line(r) for r in results]
    emit(results, Report([Lines("", lines)]), as_json=as_json)
    if not all(r["ok"] for r in results):
        click.get_current_context().exit(EXIT_FAILED)


def _line(result: dict) -> str:
    if not result["ok"]:
        return f"FAIL  {result['message']}"
    model = result["model"] or "unknown model"
    return (
        f"ok    {result['file']}: {result['kind']} for {model}, "
        f"{result['kept']:,}/{result['numel']:,} kept, {result['content_hash'][:23]}…"
    )
