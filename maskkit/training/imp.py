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
the start is a mask), and ``summary.json``. Rerun into the same folder, the same run resumes
after its last complete round; another run is refused (:mod:`.imp_folder`).

Each round's sparsity is recorded as the shortest decimal that prunes the round's exact count
(``kept``) under the mask rule, so ``maskkit mask --sparsity 0.36`` by hand gives the same file
as round 2 at rate 0.2 (where ``1 - 0.8**2`` is ``0.3599999999999999`` in floating point).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from maskkit.data.types import Dataset
from maskkit.errors import OptionError
from maskkit.format import Mask, Weights, load, read_file
from maskkit.training._errors import about
from maskkit.training.artifact_runs import train_artifact
from maskkit.training.checkpoint import dataset_hash
from maskkit.training.imp_folder import ImpFolder
from maskkit.training.options import TrainOptions
from maskkit.training.run_io import NO_IO, Progress, RunIO


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


def round_target(round: int, rate: float, start_kept: int, numel: int) -> tuple[int, float]:
    """Round ``round``'s exact pruned count, and the shortest decimal sparsity that prunes it.

    The count is ``floor(S * numel + 1/2)`` with S = 1 - (start_kept / numel) (1 - rate)^round
    computed exactly from the decimal ``rate`` (no float noise); the sparsity is checked with the
    mask rule itself, so masking with it prunes exactly that count.

    >>> round_target(2, 0.2, 266200, 266200)
    (95832, 0.36)
    """
    from maskkit.masking.select import round_half_up

    exact = 1 - Fraction(start_kept, numel) * (1 - Fraction(repr(float(rate)))) ** round
    pruned = round_half_up(exact * numel)
    return pruned, decimal_sparsity(pruned, numel, near=exact)


def decimal_sparsity(pruned: int, numel: int, *, near: Fraction | None = None) -> float:
    """The shortest decimal (nearest to ``near`` at that length) whose mask prunes ``pruned``.

    >>> decimal_sparsity(1, 3), decimal_sparsity(0, 10), decimal_sparsity(9, 10)
    (0.3, 0.0, 0.9)
    """
    from maskkit.masking.select import n_to_prune

    centre = Fraction(pruned, numel) if numel else Fraction(0)
    for digits in range(0, 20):
        quantum = Decimal(1).scaleb(-digits)
        for target in (near, centre):
            if target is None:
                continue
            value = Decimal(target.numerator) / Decimal(target.denominator)
            candidate = float(value.quantize(quantum, rounding=ROUND_HALF_EVEN))
            if 0.0 <= candidate < 1.0 and n_to_prune(candidate, numel) == pruned:
                return candidate
    raise OptionError(f"no sparsity prunes {pruned} of {numel} weights")  # pruned == numel


def _identity_parts(
    start: Mask | Weights,
    dataset: Dataset,
    options: TrainOptions,
    *,
    rate: float,
    rewind_step: int,
    weights: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    """What decides every round (the count of rounds aside: a longer run extends a shorter)."""
    init = start.init
    given = None
    if weights is not None:
        path = os.fspath(weights)
        given = "sha256:" + hashlib.sha256(read_file(path, name=path)).hexdigest()
    return {
        "start": {
            "kind": start.kind,
            "content": start.content_hash,
            "model": start.model.to_dict(),
            "init": None if init is None else (init.seed if init.sha256 is None else init.sha256),
        },
        "weights": given,
        "options": options.to_dict(),
        "dataset": dataset.to_dict(),
        "data": dataset_hash(dataset),
        "rate": repr(float(rate)),
        "rewind_step": rewind_step,
    }


_ROW_FIELDS = {f.name for f in dataclasses.fields(ImpRound)}


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
    io: RunIO = NO_IO,
    progress: Callable[[int], Progress | None] | None = None,
    on_round: Callable[[ImpRound], None] | None = None,
) -> list[ImpRound]:
    """Run IMP, writing every round's mask and trained weights into ``out_dir``.

    ``progress(round)`` may return a progress callback for that round's training (it takes
    the place of ``io.progress``); ``on_round`` is called after each round. With
    ``io.checkpoint_dir``, round r checkpoints into ``checkpoint_dir/round{r}`` so a rerun
    resumes the round it was in. The rest of ``io`` as for
    :func:`~maskkit.training.artifact_runs.train_artifact` (``log_path`` is not used).

    >>> rows = iterative_magnitude_pruning(init_weights("lenet300"), load_dataset("mnist"),
    ...     default_options("lenet", "mnist"), rounds=5, rate=0.2, rewind_step=0,
    ...     out_dir="imp", source="init")                            # doctest: +SKIP
    """
    from maskkit import stages

    if rounds < 0:
        raise about("rounds", "--rounds", f" must be at least 0, got {rounds}")
    if not 0.0 < rate < 1.0:
        raise about("rate", "--rate", f" must be in (0, 1), got {rate}")
    total = options.plan(len(dataset.train)).total_steps
    if not 0 <= rewind_step <= total:
        rest = f" {rewind_step} is not within the run's {total} steps"
        raise about("rewind_step", "--rewind-step", rest)
    out = Path(out_dir)
    folder = ImpFolder(
        out,
        _identity_parts(
            start, dataset, options, rate=rate, rewind_step=rewind_step, weights=weights
        ),
    )
    rewind_path = out / f"rewind_step{rewind_step}.safetensors"

    def round_io(r: int) -> RunIO:
        folder = io.checkpoint_dir
        return io.replace(
            checkpoint_dir=None if folder is None else os.fspath(Path(folder) / f"round{r}"),
            log_path=None,
            progress=progress(r) if progress else None,
        )

    def save_rewind(step: int, w: Weights) -> None:
        w.save(rewind_path)
        folder.record(rewind_path.name, w)

    rows: list[ImpRound] = []
    summary = {"rate": rate, "rewind_step": rewind_step, "options": options.to_dict()}

    def write_summary() -> None:
        folder.write([row.to_dict() for row in rows], rewind=rewind_path.name, **summary)

    def save(name: str, artifact: Mask | Weights) -> None:
        artifact.save(out / name)
        folder.record(name, artifact)

    def finish(
        r: int, mask: Mask | None, mask_name: str | None, trained: Weights, sparsity: float
    ) -> None:
        name = f"round{r}_weights.safetensors"
        save(name, trained)
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
        write_summary()
        if on_round is not None:
            on_round(row)

    numel = start.numel
    start_kept = start.kept if isinstance(start, Mask) else numel
    with folder.lock():
        done, current, trained = folder.reusable(rounds)
        for recorded in done:
            rows.append(ImpRound(**{k: v for k, v in recorded.items() if k in _ROW_FIELDS}))
            if on_round is not None:
                on_round(rows[-1])
        if not rows:
            write_summary()  # claims the folder for this run before anything else is written
            current = start if isinstance(start, Mask) else None
            mask_name = None
            if current is not None:
                mask_name = "round0_mask.safetensors"
                save(mask_name, current)
            trained, _ = train_artifact(
                start,
                dataset,
                options,
                source=source,
                weights=weights,
                start_step=0,
                save_at=[rewind_step],
                on_save=save_rewind,
                io=round_io(0),
            )
            if not rewind_path.exists():
                # A resumed round 0 that was past step K already wrote the file in its first run.
                raise OptionError(
                    f"{rewind_path}: the rewind weights were not written; delete the checkpoints "
                    "and rerun"
                )
            if rewind_path.name not in folder.files:
                # Written by this run's first attempt (the folder's summary named this run).
                folder.record(rewind_path.name, load(str(rewind_path), kind="weights"))
            finish(0, current, mask_name, trained, decimal_sparsity(numel - start_kept, numel))

        for r in range(len(rows), rounds + 1):
            _, sparsity = round_target(r, rate, start_kept, numel)
            scores = stages.score(trained, "magnitude", mask=current, trust_code=io.trust_code)
            current = stages.rewind(
                stages.make_mask(scores, sparsity),
                rewind_path,
                relative_to=out,
                trust_code=io.trust_code,
            )
            mask_name = f"round{r}_mask.safetensors"
            save(mask_name, current)
            trained, _ = train_artifact(
                current,
                dataset,
                options,
                source=os.fspath(out / mask_name),
                io=round_io(r),
            )
            finish(r, current, mask_name, trained, sparsity)
    return rows
