"""``maskkit train``: train the model a mask is bound to, under that mask; write the weights."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from maskkit_cli.data_options import data_options
from maskkit_cli.options import input_argument, output_option
from maskkit_cli.training_options import FAMILY_DEFAULTS_HELP, training_options

if TYPE_CHECKING:
    from maskkit.format import Weights
    from maskkit.training.distributed import DistInfo
    from maskkit_cli.progress import ProgressBar


@click.command(epilog=FAMILY_DEFAULTS_HELP)
@input_argument
@data_options
@training_options
@click.option(
    "--save-at",
    default=None,
    metavar="D[,D...]",
    help="Also write the weights of these steps (or Nep), as STEM_stepK.safetensors.",
)
@click.option(
    "--save-dir",
    default=None,
    metavar="DIR",
    help="Folder for --save-at files (default: the folder of -o); STEM is -o's, or 'weights'.",
)
@click.option(
    "--start-step",
    type=click.IntRange(min=0),
    default=None,
    help="Step the run starts at (default: the step the starting weights were saved at, else 0).",
)
@click.option(
    "--log",
    "log_path",
    default=None,
    metavar="FILE.jsonl",
    help="Write one JSON line per evaluation.",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=None,
    help="Train data-parallel on N local processes (launches torchrun).",
)
@output_option
@click.pass_context
def train(ctx: click.Context, input: str, output: str | None, **params: object) -> None:
    """Train under a mask (or densely, from a weights artifact); write the trained weights.

    INPUT is a mask (path or stdin): the model it is bound to starts from the weights its init
    reference names (a seed, or a weights file checked against its SHA-256; --weights
    overrides) and pruned weights stay exactly zero. A weights artifact trains densely. When
    the starting weights were saved at step K of a run (--save-at, then 'maskkit rewind'),
    training continues from step K: same schedule, same data order, fresh optimizer.

    Progress goes to stderr. The output records the mask's hash, the options, the steps and
    the final test metrics. Under torchrun (or --nproc N) only rank 0 writes.

    \b
    Example:
      maskkit score --model lenet300 --method snip | maskkit mask --sparsity 0.9 \\
        | maskkit train --steps 2000 --eval-every 500 > trained.safetensors
      maskkit train dense-init.safetensors --save-at 500 -o dense.safetensors
      maskkit train m.safetensors --checkpoint-dir ckpt -o out.safetensors   # rerun resumes
      maskkit train m.safetensors --nproc 2 -o out.safetensors
    """
    from maskkit.training import distributed
    from maskkit_cli.torchrun import relaunch

    nproc = params.pop("nproc")
    if nproc and nproc > 1 and distributed.from_env() is None:
        relaunch(ctx, input, output, int(nproc))
        return
    info = distributed.setup(str(params["device"]))
    try:
        _train(input, output, params, info)
    finally:
        distributed.teardown()


def _train(input: str, output: str | None, params: dict, info: DistInfo) -> None:
    from maskkit.training import data_run_id, load_run_data, recorded_step, train_artifact
    from maskkit.training.options import parse_durations
    from maskkit_cli.data_options import data_request
    from maskkit_cli.progress import ProgressBar, note, progress_enabled
    from maskkit_cli.streams import Output
    from maskkit_cli.torchrun import shared_input
    from maskkit_cli.training_options import make_options, run_io

    main = info.is_main
    out = Output.open(output) if main else None
    save_at = parse_durations(params["save_at"], what="--save-at")
    save_dir, stem = _save_target(output, params["save_dir"], bool(save_at))
    artifact, name = shared_input(input, info)
    checkpoints = params["checkpoint_dir"]
    bar = ProgressBar("train", bar=progress_enabled(params["progress"]), checkpoint_dir=checkpoints)
    run_id = data_run_id(params["dataset"], params["data_seed"], params["data_option"])
    io = run_io(params, progress=bar if main else None, run_id=run_id)
    weights = params["weights"]
    dataset = load_run_data(artifact, data_request(params), source=name, weights=weights, io=io)
    options = make_options(artifact.model, dataset, params)
    if main and params["start_step"] is None:
        start = recorded_step(artifact, weights=weights, source=name, weights_dirs=io.weights_dirs)
        if start:
            note(f"starting at step {start}, where the starting weights were saved "
                 "(--start-step 0 starts over)")  # fmt: skip
    try:
        trained, run = train_artifact(
            artifact,
            dataset,
            options,
            source=name,
            weights=weights,
            start_step=params["start_step"],
            save_at=save_at,
            on_save=_saver(save_dir, stem, bar) if save_at else None,
            io=io,
        )
    finally:
        bar.close()
    if main:
        m = run.metrics
        note(
            f"trained {artifact.model.name} to step {run.step} ({run.epochs:.2f} epochs): "
            f"test accuracy {m.accuracy:.2%}, test loss {m.loss:.4f}"
        )
        out.write(trained)


def _saver(folder: Path, stem: str, bar: ProgressBar) -> Callable[[int, Weights], None]:
    """``on_save`` for --save-at: write STEM_stepK.safetensors into ``folder``, say so."""

    def on_save(step: int, weights: Weights) -> None:
        from maskkit.errors import MaskkitError

        path = folder / f"{stem}_step{step}.safetensors"
        try:
            weights.save(path)
        except OSError as exc:  # the folder was checked up front; it changed since
            raise MaskkitError(f"{path}: cannot write ({exc.strerror or exc})") from None
        bar.note(f"saved the weights of step {step} to {path}")

    return on_save


def _save_target(output: str | None, save_dir: str | None, needed: bool) -> tuple[Path, str]:
    """The folder and file-name stem of the --save-at files (from --save-dir and -o)."""
    stem = "weights"
    if output not in (None, "-"):
        stem = Path(output).name.removesuffix(".safetensors")
    if save_dir is not None:
        folder = Path(save_dir)
    elif output not in (None, "-"):
        folder = Path(output).parent
    elif needed:
        raise click.UsageError("--save-at writes files: give -o FILE or --save-dir DIR")
    else:
        folder = Path(".")
    if needed and not folder.is_dir():
        raise click.UsageError(f"--save-dir {folder}: no such folder")
    if needed and not os.access(folder, os.W_OK):
        # Checked before the data is read, not when training reaches the first --save-at step.
        from maskkit.errors import MaskkitError

        raise MaskkitError(f"--save-dir {folder}: cannot write: the folder is not writable")
    return folder, stem
