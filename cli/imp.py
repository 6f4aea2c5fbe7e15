"""``maskkit imp``: iterative magnitude pruning with rewinding, every round written to a folder."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from maskkit_cli.data_options import data_options
from maskkit_cli.options import input_argument, json_option
from maskkit_cli.training_options import FAMILY_DEFAULTS_HELP, training_options

if TYPE_CHECKING:
    from maskkit.training import ImpRound
    from maskkit_cli.progress import ProgressBar


@click.command(epilog=FAMILY_DEFAULTS_HELP)
@input_argument
@click.option(
    "--rounds",
    type=click.IntRange(min=0),
    required=True,
    help="Pruning rounds after the first training.",
)
@click.option(
    "--rate",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Fraction of the remaining weights pruned each round.",
)
@click.option(
    "--rewind-step",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Step whose weights every round restarts from (0: the initial weights).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    metavar="DIR",
    help="Folder for every round's mask and weights.",
)
@data_options
@training_options
@json_option
def imp(
    input: str,
    rounds: int,
    rate: float,
    rewind_step: int,
    out_dir: str,
    as_json: bool,
    **params: object,
) -> None:
    """Iterative magnitude pruning with rewinding (lottery tickets), from INPUT.

    INPUT is the starting point: dense weights (e.g. from 'maskkit init') or a mask. Round 0
    trains it and saves the weights of --rewind-step K. Each round r then prunes --rate of the
    remaining weights by magnitude (global, exact count: sparsity 1 - d0 (1 - rate)^r),
    rewinds every weight, BatchNorm included, to step K, and trains from step K again (fresh
    optimizer, schedule restarted at K). It is the stage pipeline

    \b
      maskkit score --method magnitude --mask MASK WEIGHTS | maskkit mask --sparsity S
        | maskkit rewind --to DIR/rewind_stepK.safetensors | maskkit train

    DIR receives round{r}_mask.safetensors, round{r}_weights.safetensors,
    rewind_stepK.safetensors and summary.json; the summary table goes to stdout. Each
    round's sparsity is the shortest decimal that prunes its exact count, so the mask stage
    given it by hand writes the same file. Rerun into the same DIR, the same run resumes
    after its last complete round (--rounds may grow); another run is refused.

    \b
    Example:
      maskkit init --model lenet300 | maskkit imp --rounds 5 --out imp-lenet
      maskkit init --model resnet20 > r20.safetensors
      maskkit imp r20.safetensors --rounds 10 --rewind-step 1000 --out imp-r20 --checkpoint-dir ckpt
    """
    from maskkit.format import load
    from maskkit.training import iterative_magnitude_pruning, load_run_data
    from maskkit_cli.data_options import data_request
    from maskkit_cli.report import Report, Table, emit
    from maskkit_cli.streams import read_input
    from maskkit_cli.training_options import make_options, run_io

    data, name = read_input(input)
    start = load(data, kind=("mask", "weights"), name=name)
    io = run_io(params)
    weights = params["weights"]
    dataset = load_run_data(start, data_request(params), source=name, weights=weights, io=io)
    bars = _RoundBars(params["progress"], params["checkpoint_dir"])
    try:
        rows = iterative_magnitude_pruning(
            start,
            dataset,
            make_options(start.model, dataset, params),
            rounds=rounds,
            rate=rate,
            rewind_step=rewind_step,
            out_dir=out_dir,
            source=name,
            weights=weights,
            io=io,
            progress=bars.start,
            on_round=bars.finished,
        )
    finally:
        bars.close()
    table = Table(
        ["round", "sparsity", "kept", "density", "test acc", "test loss", "weights"],
        [
            [
                str(row.round),
                f"{row.sparsity:.4f}",
                f"{row.kept:,}",
                f"{row.density:.2%}",
                f"{row.test_accuracy:.2%}",
                f"{row.test_loss:.4f}",
                row.weights,
            ]
            for row in rows
        ],
        title=f"IMP in {out_dir} (rate {rate}, rewind to step {rewind_step})",
    )
    doc = {
        "out": out_dir,
        "rate": rate,
        "rewind_step": rewind_step,
        "rounds": [r.to_dict() for r in rows],
    }
    emit(doc, Report([table]), as_json=as_json)


class _RoundBars:
    """One progress bar per round's training, and a line when a round is done."""

    def __init__(self, flag: bool | None, checkpoint_dir: str | None) -> None:
        self.flag, self.checkpoint_dir = flag, checkpoint_dir
        self.bars: list[ProgressBar] = []

    def start(self, r: int) -> ProgressBar:
        from maskkit_cli.progress import ProgressBar, progress_enabled

        folder = self.checkpoint_dir
        self.bars.append(
            ProgressBar(
                f"round {r}",
                bar=progress_enabled(self.flag),
                checkpoint_dir=None if folder is None else os.path.join(str(folder), f"round{r}"),
            )
        )
        return self.bars[-1]

    def finished(self, row: ImpRound) -> None:
        from maskkit_cli.progress import note

        self.close()
        note(
            f"round {row.round}: {row.kept:,} of {row.numel:,} weights kept "
            f"({row.density:.2%}), test accuracy {row.test_accuracy:.2%}"
        )

    def close(self) -> None:
        for bar in self.bars:
            bar.close()
        self.bars.clear()
