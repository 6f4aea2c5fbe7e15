"""``maskkit convert``: masks from other tools into maskkit v1 masks, and back out."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from maskkit.interop.registry import MASKKIT, MISSING, TARGETS, known_layouts
from maskkit_cli.data_options import dataset_options
from maskkit_cli.options import LiveChoice, encodings, input_argument, model_options

if TYPE_CHECKING:
    from maskkit.format import Mask
    from maskkit_cli.streams import Output


def from_choices() -> list[str]:
    """--from: detection, the foreign layouts, and a maskkit mask (to rebind or re-encode)."""
    return ["auto", *known_layouts(), MASKKIT]


@click.command()
@input_argument
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="PATH",
    help="Write here (atomically) instead of stdout. With --to openlth: a FOLDER receives "
    "mask.pth and sparsity_report.json, a PATH ending in .pth the mask alone.",
)
@click.option(
    "--from",
    "layout",
    type=LiveChoice(from_choices),
    default="auto",
    show_default=True,
    help="Layout of INPUT; auto detects it from the content.",
)
@click.option(
    "--to",
    "target",
    type=click.Choice(TARGETS),
    default="maskkit",
    show_default=True,
    help="maskkit: a v1 mask; torch-prune: a .pt of <param>_mask tensors; openlth: OpenLTH's "
    "mask.pth (int32 0/1), plus sparsity_report.json when -o is a folder.",
)
@model_options()
@click.option(
    "--missing",
    type=click.Choice(MISSING),
    default="error",
    show_default=True,
    help="With --model: prunable layers the file has no mask for are an error, kept whole "
    "(all ones), or left out.",
)
@click.option(
    "--encoding",
    type=LiveChoice(encodings),
    default=None,
    help="Encoding of a maskkit output (default: bool, or the input mask's).",
)
@dataset_options
def convert(
    input: str,
    output: str | None,
    layout: str,
    target: str,
    model: str | None,
    model_arg: dict,
    input_shape: tuple[int, ...] | None,
    num_classes: int | None,
    missing: str,
    encoding: str | None,
    dataset: str | None,
    data_dir: str | None,
    data_option: tuple[str, ...],
    data_seed: int,
) -> None:
    """Import a mask from another tool as a maskkit mask, or export one back.

    Reads torch.nn.utils.prune state_dicts (<param>_mask), torch.ao.pruning sparsifier
    state_dicts, OpenLTH and NNI mask.pth (or an OpenLTH folder holding one), and plain
    safetensors or .npz files of 0/1 tensors; module. and _orig_mod. prefixes are stripped.
    Torch files are loaded with weights_only=True only. Without --model the mask records its
    shapes and an unknown model; with --model it is checked against that model and bound to it
    (a maskkit mask as INPUT is rebound).

    \b
    Example:
      maskkit convert pruned_state_dict.pt --model lenet300 -o m.safetensors
      maskkit convert openlth_run/level_3/main --model lenet300 | maskkit info
      maskkit convert sparsifier.pt --from ao > m.safetensors
      maskkit convert m.safetensors --to torch-prune -o mask.pt
      maskkit convert m.safetensors --to openlth -o level_3/main
    """
    from maskkit.interop import import_mask, resolve_path
    from maskkit_cli.streams import Output, is_stdin, read_input

    if encoding is not None and target != "maskkit":
        raise click.UsageError("--encoding applies to --to maskkit only")
    if model is None and (model_arg or input_shape or num_classes or missing != "error" or dataset):
        raise click.UsageError(
            "--model-arg, --input-shape, --num-classes, --missing and --dataset need --model"
        )
    # The destination is checked before any work, so a bad -o fails fast and writes nothing.
    folder = _openlth_folder(output) if target == "openlth" else None
    out = None if folder is not None else Output.open(output)

    data, name = read_input(input if is_stdin(input) else resolve_path(input), artifact=False)
    if dataset is not None:  # the dataset fixes the model's classes and input shape
        from maskkit_cli.data_options import load_model_data

        ds = load_model_data(
            model, dataset, data_dir, data_seed, data_option,
            num_classes=num_classes, input_shape=input_shape, model_arg=model_arg,
        )  # fmt: skip
        num_classes = num_classes or ds.num_classes
        input_shape = input_shape or tuple(ds.input_shape)
    mask = import_mask(
        data,
        name=name,
        layout=layout,
        model=model,
        model_args=model_arg,
        num_classes=num_classes,
        input_shape=input_shape,
        missing=missing,
        encoding=encoding,
    )
    _write(mask, target, out, folder)
    source = mask.provenance[-1].options["from"]
    bound = mask.model.name or "unknown model"
    from maskkit_cli.printable import printable

    summary = (
        f"maskkit convert: {name} ({source}) -> {target}: {len(mask.layers)} tensors, "
        f"{mask.kept:,}/{mask.numel:,} kept ({mask.density:.2%}), {bound}"
    )
    click.echo(printable(summary), err=True)  # the model name comes from the file


def _write(mask: Mask, target: str, out: Output | None, folder: str | None) -> None:
    """Write ``mask`` as ``target``: a maskkit artifact, a torch file, or an OpenLTH folder."""
    if target == "maskkit":
        out.write(mask)
    elif target == "torch-prune":
        from maskkit.interop import export_torch_prune

        out.write(_Blob(export_torch_prune(mask)))
    elif folder is None:
        from maskkit.interop import export_openlth
        from maskkit.interop.openlth import MASK_FILE

        out.write(_Blob(export_openlth(mask)[MASK_FILE]))
    else:
        from maskkit.errors import MaskkitError
        from maskkit.interop import write_openlth

        try:
            write_openlth(mask, folder)
        except OSError as exc:
            raise MaskkitError(f"{folder}: cannot write: {exc.strerror or exc}") from None


class _Blob:
    """Bytes that :meth:`Output.write` places like an artifact: on stdout, or atomically."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def chunks(self) -> list[bytes]:
        return [self.data]

    def save(self, path: str) -> None:
        from maskkit.format import write_atomic

        write_atomic(path, [self.data])


def _openlth_folder(path: str | None) -> str | None:
    """The folder for ``--to openlth -o PATH``; None for stdout or a single ``.pth`` file.

    A folder may exist or be creatable; it is checked before any work.
    """
    from maskkit.errors import MaskkitError

    if path in (None, "-") or (path.endswith(".pth") and not os.path.isdir(path)):
        return None
    if os.path.exists(path) and not os.path.isdir(path):
        raise MaskkitError(
            f"{path}: exists and is not a folder (--to openlth -o takes a folder, or a .pth file)"
        )
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        raise MaskkitError(f"{path}: cannot write: {existing} is not a writable folder")
    return path
