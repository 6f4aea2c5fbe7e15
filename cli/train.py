"""``maskkit train``: train the model a mask is bound to, under that mask; write the weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from maskkit_cli.data_options import data_options
from maskkit_cli.options import input_argument, output_option
from maskkit_cli.training_options import FAMILY_DEFAULTS_HELP, training_options

if TYPE_CHECKING:
    from maskkit.training.distributed import DistInfo


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

    nproc = params.pop("nproc")
    if nproc and nproc > 1 and distributed.from_env() is None:
        _launch(ctx, input, output, int(nproc))
        return
    info = distributed.setup(str(params["device"]))
    try:
        _train(input, output, params, info)
    finally:
        distributed.teardown()


def _launch(ctx: click.Context, input: str, output: str | None, nproc: int) -> None:
    """Check what can be checked here, then rerun this command under torchrun."""
    from maskkit.errors import MaskkitError
    from maskkit_cli.streams import Output, read_input
    from maskkit_cli.training_options import child_argv

    Output.open(output)
    data, name = read_input(input)
    from maskkit.format import load

    load(data, kind=("mask", "weights"), name=name)
    argv = child_argv(ctx, skip={"nproc", "input"})
    import subprocess
    import sys

    # The checked bytes go to rank 0 on stdin, whatever the input was.
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={nproc}", "-m", "maskkit", *argv, "-",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env["MASKKIT_INPUT_NAME"] = name
    code = subprocess.run(command, input=data, env=env).returncode
    if code:
        raise MaskkitError(
            f"distributed training failed (torchrun exit status {code}); see the messages above"
        )


def _train(input: str, output: str | None, params: dict, info: DistInfo) -> None:
    from maskkit.format import Mask, Weights, load
    from maskkit.start_weights import initial_model
    from maskkit.training import distributed, parse_duration, train_artifact
    from maskkit.training.options import parse_durations
    from maskkit_cli.data_options import load_data
    from maskkit_cli.options import trust
    from maskkit_cli.streams import Output, read_input
    from maskkit_cli.training_options import (
        ProgressBar,
        make_options,
        note,
        progress_enabled,
    )

    main = info.is_main
    out = Output.open(output) if main else None
    save_at = parse_durations(params["save_at"], what="--save-at")
    save_dir, stem = _save_target(output, params["save_dir"], bool(save_at))

    data = name = None
    if main:
        data, name = read_input(input)
        name = os.environ.get("MASKKIT_INPUT_NAME", name) if info.distributed else name
    data, name = distributed.broadcast_object((data, name))
    artifact = load(data, kind=("mask", "weights"), name=name)
    trusted = trust(bool(params["trust_code"]), params["dataset"])
    # The cheap checks of the inputs (model, fingerprint, initial weights) before the data.
    initial_model(
        artifact,
        weights=params["weights"],
        source=name,
        weights_dirs=params["weights_dir"],
        trust_code=trusted,
    )
    dataset = load_data(
        artifact,
        params["dataset"],
        params["data_dir"],
        params["data_seed"],
        params["data_option"],
        trust_code=trusted,
        source=name,
    )
    options = make_options(artifact.model, dataset, params)
    if main and params["start_step"] is None and isinstance(artifact, (Mask, Weights)):
        from maskkit.training import recorded_step

        start = recorded_step(
            artifact, weights=params["weights"], source=name, weights_dirs=params["weights_dir"]
        )
        if start:
            note(
                f"starting at step {start}, where the starting weights were saved (--start-step 0 starts over)"
            )
    every = params["checkpoint_every"]
    bar = (
        ProgressBar(
            "train",
            bar=progress_enabled(params["progress"]),
            checkpoint_dir=params["checkpoint_dir"],
        )
        if main
        else None
    )

    def on_save(step: int, weights: Weights) -> None:
        from maskkit.errors import MaskkitError

        path = save_dir / f"{stem}_step{step}.safetensors"
        try:
            weights.save(path)
        except OSError as exc:  # the folder was checked up front; it changed since
            raise MaskkitError(f"{path}: cannot write ({exc.strerror or exc})") from None
        if bar is not None:
            bar.note(f"saved the weights of step {step} to {path}")

    try:
        trained, run = train_artifact(
            artifact,
            dataset,
            options,
            source=name,
            weights=params["weights"],
            weights_dirs=params["weights_dir"],
            trust_code=trusted,
            start_step=params["start_step"],
            save_at=save_at,
            on_save=on_save if save_at else None,
            checkpoint_dir=params["checkpoint_dir"],
            checkpoint_every=None
            if every is None
            else parse_duration(every, what="--checkpoint-every"),
            log_path=params["log_path"],
            progress=bar,
            run_id=_run_id(params),
        )
    finally:
        if bar is not None:
            bar.close()
    if not main:
        return
    m = run.metrics
    note(
        f"trained {artifact.model.name} to step {run.step} ({run.epochs:.2f} epochs): "
        f"test accuracy {m.accuracy:.2%}, test loss {m.loss:.4f}"
    )
    out.write(trained)


def _save_target(output: str | None, save_dir: str | None, needed: bool) -> tuple[Path, str]:
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


def _run_id(params: dict) -> str:
    """What decides the run beyond the model, masks and options: the dataset's origin."""
    import json

    return json.dumps(
        {
            "dataset": params["dataset"],
            "data_seed": params["data_seed"],
            "data_option": sorted(params["data_option"]),
        },
        sort_keys=True,
    )
