"""``maskkit info``: what an artifact is, what it fits, how it was made, and its densities."""

from __future__ import annotations

import json
from typing import Any

import click

from maskkit_cli.options import input_argument, json_option
from maskkit_cli.report import KeyValues, Lines, Report, Table, bar, emit


@click.command()
@input_argument
@json_option
def info(input: str, as_json: bool) -> None:
    """Show an artifact's kind, model, init, provenance and per-layer densities.

    Reads the header only, so it is instant on any size; 'maskkit verify' checks the tensors
    against the recorded counts and content hash.

    \b
    Example:
      maskkit info m.safetensors
      maskkit mask --sparsity 0.9 scores.safetensors | maskkit info --json
    """
    from maskkit.format import read_metadata
    from maskkit_cli.streams import is_stdin, read_input

    if is_stdin(input):
        data, name = read_input(input)
        meta = read_metadata(data, name=name)
    else:
        name = input
        meta = read_metadata(input)
    emit(describe(name, meta), render(name, meta), as_json=as_json)


def describe(name: str, meta: Any) -> dict[str, Any]:
    """The JSON document of ``maskkit info --json``."""
    return {
        "file": name,
        "kind": meta.kind,
        "version": meta.version,
        "encoding": meta.encoding,
        "model": meta.model.to_dict(),
        "init": meta.init.to_dict() if meta.init else None,
        "provenance": [r.to_dict() for r in meta.provenance],
        "content_hash": meta.content_hash,
        "numel": meta.numel,
        "kept": meta.kept,
        "density": meta.kept / meta.numel if meta.numel else 1.0,
        "layers": [
            {
                "name": n,
                "shape": list(c.shape),
                "numel": c.numel,
                "kept": c.kept,
                "density": c.density,
            }
            for n, c in meta.layers.items()
        ],
        "training": dict(meta.training) if meta.training is not None else None,
    }


def render(name: str, meta: Any) -> Report:
    density = meta.kept / meta.numel if meta.numel else 1.0
    kind = meta.kind + (f" ({meta.encoding} encoding)" if meta.encoding else "")
    pairs = [
        ("file", name),
        ("kind", kind),
        ("format", f"maskkit {meta.version}"),
        ("model", model_text(meta.model)),
        ("fingerprint", meta.model.fingerprint or "none"),
        ("init", init_text(meta.init)),
        ("content", meta.content_hash),
        (
            "kept",
            f"{meta.kept:,} of {meta.numel:,} prunable weights "
            f"(density {density:.2%}, sparsity {1 - density:.2%})",
        ),
    ]
    if meta.training is not None:
        pairs += [(f"training.{k}", _value(v)) for k, v in sorted(meta.training.items())]
    chain = [record_text(i, r) for i, r in enumerate(meta.provenance, 1)] or [
        "(no stages recorded)"
    ]
    rows = [
        [
            n,
            "x".join(map(str, c.shape)),
            f"{c.numel:,}",
            f"{c.kept:,}",
            f"{c.density:.2%}",
            bar(c.density),
        ]
        for n, c in meta.layers.items()
    ]
    footer = ["total", "", f"{meta.numel:,}", f"{meta.kept:,}", f"{density:.2%}", bar(density)]
    table = Table(
        ["layer", "shape", "numel", "kept", "density", ""],
        rows,
        terminal_only=[""],
        footer=footer,
    )
    return Report([KeyValues(pairs), Lines("provenance", chain), table])


def model_text(model: Any) -> str:
    if model.name is None:
        return "unknown (imported without a model)"
    args = ", ".join(f"{k}={_value(v)}" for k, v in sorted(model.args.items()))
    return f"{model.name}({args})"


def init_text(init: Any) -> str:
    if init is None:
        return "unknown"
    if init.seed is not None:
        return f"model initialiser, seed {init.seed}"
    where = f" ({init.path})" if init.path else ""
    return f"weights file sha256:{init.sha256[:16]}…{where}"


def record_text(index: int, record: Any) -> str:
    options = " ".join(
        f"{k}={_value(v)}" for k, v in sorted(record.options.items()) if v is not None
    )
    seed = f" seed={record.seed}" if record.seed is not None else ""
    source = f"  <- {record.input[:19]}…" if record.input else ""
    version = f"  [maskkit {record.maskkit}]" if record.maskkit else ""
    return f"{index}. {record.stage:<8} {options}{seed}{source}{version}".rstrip()


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
