"""``maskkit info``: what an artifact is, what it fits, how it was made, and its densities."""

from __future__ import annotations

import json
from typing import Any

import click

from maskkit_cli.options import input_argument, json_option
from maskkit_cli.report import KeyValues, Lines, Report, Table, bar, emit

#: the first line of a --header-only report: its counts are what the header claims
NOT_CHECKED = (
    "content not checked (--header-only): counts and hash are as the header records them; "
    "'maskkit verify' checks them"
)


@click.command()
@input_argument
@click.option(
    "--header-only",
    is_flag=True,
    help="Read the header alone (instant on any size): the counts and hash are not checked.",
)
@json_option
def info(input: str, header_only: bool, as_json: bool) -> None:
    """Show an artifact's kind, model, init, provenance and per-layer densities.

    Checks the tensors against the recorded counts and content hash first, as 'maskkit verify'
    does, and refuses a damaged file; --header-only skips that check (no numpy, instant).
    Layers that keep no weight are marked 'collapsed'.

    \b
    Example:
      maskkit info m.safetensors
      maskkit mask --sparsity 0.9 scores.safetensors | maskkit info --json
      maskkit info --header-only big-weights.safetensors
    """
    from maskkit.format import read_metadata
    from maskkit_cli.streams import is_stdin, read_input

    if header_only and not is_stdin(input):
        name, source = input, input
    else:
        source, name = read_input(input)
    if not header_only:
        from maskkit.format import load

        load(source, name=name)  # IntegrityError (exit 1) for damaged tensor data
    meta = read_metadata(source, name=name)
    emit(
        describe(name, meta, checked=not header_only),
        render(name, meta, checked=not header_only),
        as_json=as_json,
    )


def describe(name: str, meta: Any, *, checked: bool = True) -> dict[str, Any]:
    """The JSON document of ``maskkit info --json``."""
    from maskkit.collapse import collapsed_layers

    collapsed = set(collapsed_layers(meta.layers))
    return {
        "file": name,
        "content_checked": checked,
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
        "collapsed_layers": sorted(collapsed),
        "layers": [
            {
                "name": n,
                "shape": list(c.shape),
                "numel": c.numel,
                "kept": c.kept,
                "density": c.density,
                "collapsed": n in collapsed,
            }
            for n, c in meta.layers.items()
        ],
        "training": dict(meta.training) if meta.training is not None else None,
    }


def render(name: str, meta: Any, *, checked: bool = True) -> Report:
    from maskkit.collapse import collapsed_layers

    density = meta.kept / meta.numel if meta.numel else 1.0
    kind = meta.kind + (f" ({meta.encoding} encoding)" if meta.encoding else "")
    collapsed = collapsed_layers(meta.layers)
    pairs = [
        ("file", name),
        ("kind", kind),
        ("format", f"maskkit {meta.version}"),
        ("model", model_text(meta.model)),
        ("fingerprint", meta.model.fingerprint or "none"),
        ("init", init_text(meta.init)),
        ("content", f"{meta.content_hash} ({'checked' if checked else 'not checked'})"),
        (
            "kept",
            f"{meta.kept:,} of {meta.numel:,} prunable weights "
            f"(density {density:.2%}, sparsity {1 - density:.2%})",
        ),
    ]
    if collapsed:
        pairs.append(("collapsed", _collapsed_text(collapsed, len(meta.layers))))
    if meta.training is not None:
        pairs += [(f"training.{k}", _value(v)) for k, v in sorted(meta.training.items())]
    chain = [record_text(i, r) for i, r in enumerate(meta.provenance, 1)] or [
        "(no stages recorded)"
    ]
    # The note column appears only when it has something to say.
    notes = ["note"] if collapsed else []
    rows = [
        [
            n,
            "x".join(map(str, c.shape)),
            f"{c.numel:,}",
            f"{c.kept:,}",
            f"{c.density:.2%}",
            *(["collapsed" if n in collapsed else ""] if collapsed else []),
            bar(c.density),
        ]
        for n, c in meta.layers.items()
    ]
    footer = [
        "total",
        "",
        f"{meta.numel:,}",
        f"{meta.kept:,}",
        f"{density:.2%}",
        *([""] if collapsed else []),
        bar(density),
    ]
    table = Table(
        ["layer", "shape", "numel", "kept", "density", *notes, ""],
        rows,
        terminal_only=[""],
        footer=footer,
    )
    blocks = [KeyValues(pairs), Lines("provenance", chain), table]
    return Report(blocks if checked else [Lines("", [NOT_CHECKED]), *blocks])


def _collapsed_text(names: list[str], layers: int) -> str:
    if len(names) == layers:
        return "no layer keeps any weight (layer collapse)"
    verb = "keeps" if len(names) == 1 else "keep"
    return f"{len(names)} of {layers} layers {verb} no weight (layer collapse): {', '.join(names)}"


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
