"""Iterative magnitude pruning with rewinding (OpenLTH's lottery-ticket procedure).

Round 0 trains the starting artifact (dense weights, or a mask) and saves the weights of step
K. Round r (1..N) scores the previous round's trained weights by magnitude under the previous
mask (pruned weights stay pruned), keeps ``d0 * (1 - rate)^r`` of all prunable weights (d0 =
the starting density; global rule, exact count), rewinds to the step-K weights (BatchNorm
included) and trains again from step K with a fresh optimizer and the schedule restarted at K.

Each round is exactly the stage pipeline

    maskkit score --method magnitude --mask MASK_{r-1} WEIGHTS_{r-1}
      | maskkit mask --sparsity S_r | maskkit rewind --to REWIND | maskkit train

so the files written here can be reproduced one stage at a time. Files in ``out_dir``:
``round0_weights.safetensors``, ``rewind_step{K}.safetensors`` and, for r >= 1,
``round{r}_mask.safetensors`` and ``round{r}_weights.safetensors`` (plus ``round0_mask`` when
the start is a mask), and ``summary.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskkit.data.types import Dataset
from maskkit.errors import OptionError
from maskkit.format import Mask, Weights, write_atomic
from maskkit.training.loop import Progress
from maskkit.training.options import TrainOptions
from maskkit.training.stage import train_artifact


@dataclass(frozen=True)
class ImpRound:
    """One round's outcome (paths relative to the output folder)."""

    round: int
    sparsity: float
    kept: int
    numel: int
    mask: str | None
    weights: str
    test_accuracy: float
    test_loss: float
    train_loss: float | None

    @property
    def density(self) -> float:
        return self.kept / self.numel if self.numel else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "sparsity": self.sparsity,
            "density": self.density,
            "kept": self.kept,
            "numel": self.numel,
            "mask": self.mask,
            "weights": self.weights,
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "train_loss": self.train_loss,
        }


def round_sparsity(round: int, rate: float, start_density: float = 1.0) -> float:
    """The sparsity asked of round ``round``: 1 - d0 * (1 - rate)^round.

    >>> round(round_sparsity(2, 0.2), 6)
    0.36
    """
    return 1.0 - start_density * (1.0 - rate) ** round


def iterative_magnitude_pruning(
    start: Mask | Weights,
    dataset: Dataset,
    options: TrainOptions,
    *,
    rounds: int,
    rate: float,
    rewind_step: int,
    out_dir: str | os.PathLike[str],
    source: str,
    weights: str | os.PathLike[str] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    progress: Callable[[int], Progress | None] | None = None,
    on_round: Callable[[ImpRound], None] | None = None,
    weights_dirs: Sequence[str | os.PathLike[str]] = (),
) -> list[ImpRound]:
    """Run IMP, writing every round's mask and trained weights into ``out_dir``.

    ``progress(round)`` may return a progress callback for that round's training;
    ``on_round`` is called after each round. With ``checkpoint_dir``, round r checkpoints into
    ``checkpoint_dir/round{r}`` so a rerun resumes the round it was in.

    >>> rows = iterative_magnitude_pruning(init_weights("lenet300"), load_dataset("mnist"),
    ...     default_options("lenet", "mnist"), rounds=5, rate=0.2, rewind_step=0,
    ...     out_dir="imp", source="init")                            # doctest: +SKIP
    """
    from maskkit import stages

    if rounds < 0:
        raise OptionError(f"--rounds must be at least 0, got {rounds}")
    if not 0.0 < rate < 1.0:
        raise OptionError(f"--rate must be in (0, 1), got {rate}")
    total = options.plan(len(dataset.train)).total_steps
    if not 0 <= rewind_step <= total:
        raise OptionError(f"--rewind-step {rewind_step} is not within the run's {total} steps")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(
            f"{out}: cannot create the output folder ({exc.strerror or exc})"
        ) from None
    rewind_path = out / f"rewind_step{rewind_step}.safetensors"

    def checkpoints(r: int) -> str | None:
        return None if checkpoint_dir is None else os.fspath(Path(checkpoint_dir) / f"round{r}")

    def save_rewind(step: int, w: Weights) -> None:
        w.save(rewind_path)

    rows: list[ImpRound] = []

    def finish(
        r: int, mask: Mask | None, mask_name: str | None, trained: Weights, sparsity: float
    ) -> None:
        name = f"round{r}_weights.safetensors"
        trained.save(out / name)
        metrics = trained.training["metrics"]
        row = ImpRound(
            round=r,
            sparsity=sparsity,
            kept=mask.kept if mask is not None else trained.numel,
            numel=trained.numel,
            mask=mask_name,
            weights=name,
            test_accuracy=metrics["test_accuracy"],
            test_loss=metrics["test_loss"],
            train_loss=metrics["train_loss"],
        )
        rows.append(row)
        _write_summary(out, rows, rate=rate, rewind_step=rewind_step, options=options)
        if on_round is not None:
            on_round(row)

    current: Mask | None = start if isinstance(start, Mask) else None
    start_density = current.density if current is not None else 1.0
    mask_name = None
    if current is not None:
        mask_name = "round0_mask.safetensors"
        current.save(out / mask_name)
    trained, _ = train_artifact(
        start,
        dataset,
        options,
        source=source,
        weights=weights,
        weights_dirs=weights_dirs,
        start_step=0,
        save_at=[rewind_step],
        on_save=save_rewind,
        checkpoint_dir=checkpoints(0),
        checkpoint_every=checkpoint_every,
        progress=progress(0) if progress else None,
    )
    if not rewind_path.exists():
        # A resumed round 0 that was past step K already wrote the file in its first run.
        raise OptionError(
            f"{rewind_path}: the rewind weights were not written; delete the checkpoints and rerun"
        )
    finish(0, current, mask_name, trained, 1.0 - start_density)

    for r in range(1, rounds + 1):
        sparsity = round_sparsity(r, rate, start_density)
        scores = stages.score(trained, "magnitude", mask=current)
        current = stages.rewind(stages.make_mask(scores, sparsity), rewind_path, relative_to=out)
        mask_name = f"round{r}_mask.safetensors"
        current.save(out / mask_name)
        trained, _ = train_artifact(
            current,
            dataset,
            options,
            source=os.fspath(out / mask_name),
            checkpoint_dir=checkpoints(r),
            checkpoint_every=checkpoint_every,
            progress=progress(r) if progress else None,
        )
        finish(r, current, mask_name, trained, sparsity)
    return rows


def _write_summary(
    out: Path, rows: list[ImpRound], *, rate: float, rewind_step: int, options: TrainOptions
) -> None:
    doc = {
        "rate": rate,
        "rewind_step": rewind_step,
        "options": options.to_dict(),
        "rounds": [row.to_dict() for row in rows],
    }
    write_atomic(out / "summary.json", [(json.dumps(doc, indent=2) + "\n").encode()])
