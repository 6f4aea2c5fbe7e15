"""The training loop: SGD under a mask, resumable, optionally data-parallel.

Steps are counted from 0 (the initial weights); "step k" is the model after k optimizer updates.
At each step the learning rate is set from the step index, one batch is taken at the data
position the step fixes (epoch = step // steps_per_epoch), the optimizer steps and the mask is
re-applied, so pruned weights are exactly zero after every update. After a step, in this order:
the loss is checked (non-finite stops the run), then the events the schedule
(:mod:`.events`) gives that step happen: the model is evaluated (``eval_every`` and the last
step), ``save_at`` weights are handed to ``on_save``, and a checkpoint is written
(``checkpoint_every`` and the last step).

:func:`train` reads as the loop itself; :class:`_Run` holds what one run sets up (device, AMP,
optimizer, the checkpoint folder and what it restores) and does each part of a step.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maskkit.data import batches
from maskkit.data.types import Dataset
from maskkit.errors import DataError, OptionError, TrainingError
from maskkit.format import write_atomic
from maskkit.training import distributed
from maskkit.training._errors import about
from maskkit.training.checkpoint import (
    CheckpointDir,
    dataset_hash,
    folder_lock,
    rng_state,
    set_rng_state,
    tensors_hash,
)
from maskkit.training.enforce import MaskEnforcer
from maskkit.training.evaluation import Metrics, evaluate
from maskkit.training.events import Events, Schedule
from maskkit.training.options import Duration, TrainOptions
from maskkit.training.run_io import NO_IO, Progress, RunIO

__all__ = ["Progress", "RunIO", "TrainResult", "model_state", "train"]


class _SGD(torch.optim.SGD):
    """torch's SGD, without the ``import torch._dynamo`` (about 0.8 s) of its first use.

    torch.optim wraps these methods in graph-break or dynamo-disable decorators that import
    torch._dynamo when first called, for the benefit of torch.compile; maskkit never compiles
    the optimizer, so the plain functions are called. Updates and state dicts are torch's own.
    """

    add_param_group = inspect.unwrap(torch.optim.Optimizer.add_param_group)
    zero_grad = inspect.unwrap(torch.optim.Optimizer.zero_grad)
    state_dict = inspect.unwrap(torch.optim.Optimizer.state_dict)
    load_state_dict = inspect.unwrap(torch.optim.Optimizer.load_state_dict)
    _plain_step = staticmethod(inspect.unwrap(torch.optim.SGD.step))

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        with torch.no_grad():  # what the decorator does for a non-differentiable optimizer
            return self._plain_step(self, closure)


@dataclass(frozen=True)
class TrainResult:
    """What a run reached: its last step, the final test metrics and the evaluation history."""

    step: int
    total_steps: int
    start_step: int
    steps_per_epoch: int
    metrics: Metrics
    train_loss: float | None = field(
        metadata={"help": "mean training loss over the last epoch's worth of steps"}
    )
    resumed_from: int | None = None
    history: tuple[dict[str, Any], ...] = ()
    device: str = "cpu"
    world_size: int = 1

    @property
    def epochs(self) -> float:
        return self.step / self.steps_per_epoch if self.steps_per_epoch else 0.0


def _amp_dtype(options: TrainOptions, device: torch.device) -> torch.dtype | None:
    if options.amp is False:
        return None
    if device.type != "cuda":
        if options.amp:
            raise about("amp", "--amp", " needs a CUDA device (mixed precision runs on CUDA only)")
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class _Losses:
    """Training-loss bookkeeping: a device-side sum read back only at sync points.

    Keeps the sums of the last epoch's worth of steps (``window``) for the reported training
    loss, and the sum since the last evaluation for the log.
    """

    def __init__(self, device: torch.device, world_size: int, sync_every: int, window: int) -> None:
        self.pending = torch.zeros((), dtype=torch.float64, device=device)
        self.pending_count = 0
        self.world_size = world_size
        self.sync_every = sync_every
        self.window_size = window
        self.window: list[list[float]] = []  # [sum, count] per sync, oldest first
        self.interval_sum = 0.0
        self.interval_count = 0
        self.last: float | None = None

    def add(self, loss: Tensor) -> None:
        self.pending += loss.detach()
        self.pending_count += 1

    def sync(self) -> float | None:
        """Read the pending sum (averaged over ranks); returns it only if it is not finite."""
        if not self.pending_count:
            return None
        value = self.pending
        if self.world_size > 1:
            import torch.distributed as dist

            value = value.clone()
            dist.all_reduce(value)
            value /= self.world_size
        total = float(value)
        count, self.pending_count = self.pending_count, 0
        self.pending.zero_()
        if not math.isfinite(total):
            return total
        self.window.append([total, count])
        while sum(c for _, c in self.window) - self.window[0][1] >= self.window_size:
            self.window.pop(0)
        self.interval_sum += total
        self.interval_count += count
        self.last = total / count
        return None

    def take_interval(self) -> float | None:
        mean = self.interval_sum / self.interval_count if self.interval_count else None
        self.interval_sum, self.interval_count = 0.0, 0
        return mean

    @property
    def train_loss(self) -> float | None:
        count = sum(c for _, c in self.window)
        return sum(s for s, _ in self.window) / count if count else None

    def state(self) -> dict[str, Any]:
        return {
            "window": [list(pair) for pair in self.window],
            "interval_sum": self.interval_sum,
            "interval_count": self.interval_count,
            "last": self.last,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def _sync_buffers(model: nn.Module, world_size: int) -> None:
    """Give every rank rank 0's BatchNorm statistics (each rank updates its own in forward)."""
    if world_size > 1:
        import torch.distributed as dist

        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def _all_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _write_log(path: str | os.PathLike[str], history: Iterable[Mapping[str, Any]]) -> None:
    # Rewritten whole from the history (which checkpoints carry), so after a resume the log
    # holds exactly the evaluations of the run that produced the final weights.
    text = "".join(json.dumps(dict(record), sort_keys=True) + "\n" for record in history)
    try:
        write_atomic(path, [text.encode()])
    except OSError as exc:
        raise TrainingError(f"{path}: cannot write the log ({exc.strerror or exc})") from None


def train(
    model: nn.Module,
    dataset: Dataset,
    options: TrainOptions,
    *,
    masks: Mapping[str, Tensor] | None = None,
    start_step: int = 0,
    save_at: Iterable[Duration] = (),
    on_save: Callable[[int, nn.Module], None] | None = None,
    io: RunIO = NO_IO,
) -> TrainResult:
    """Train ``model`` in place on ``dataset.train`` under ``masks`` (bool, True = keep).

    ``start_step`` > 0 starts the schedule and the data order at that step with a fresh
    optimizer (rewinding). ``on_save(step, model)`` is called (rank 0 only) with the model at
    each ``save_at`` step. With ``io.checkpoint_dir`` the run resumes from its last checkpoint;
    ``io.run_id`` is mixed into the run identity (callers add what the model state cannot show,
    such as the dataset options). Under torch.distributed (see :mod:`.distributed`) the model
    is wrapped in DistributedDataParallel and each rank takes its share of every batch.

    Raises TrainingError on a non-finite loss (naming the last checkpoint that still verifies),
    on a checkpoint folder that belongs to another run (the identity covers the data's content)
    or is held by another process, and when no checkpoint of the folder verifies.

    >>> model, masks = initial_model(mask, source="m.safetensors")   # doctest: +SKIP
    >>> result = train(model, load_dataset("mnist"), default_options("lenet", steps=500),
    ...                masks=masks)                                   # doctest: +SKIP
    >>> result.metrics.accuracy                                       # doctest: +SKIP
    0.93
    """
    run = _Run(model, dataset, options, masks, start_step, save_at, on_save, io)
    with contextlib.ExitStack() as held:
        run.start(held)
        for x, y in run.batches():
            loss = run.update(x, y)
            run.after_step(loss, run.schedule.events(run.step))
        return run.finish()


class _Run:
    """One call of :func:`train`: its setup, its restored state, and the parts of a step."""

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        options: TrainOptions,
        masks: Mapping[str, Tensor] | None,
        start_step: int,
        save_at: Iterable[Duration],
        on_save: Callable[[int, nn.Module], None] | None,
        io: RunIO,
    ) -> None:
        self.info = info = distributed.current()
        self.device = device = distributed.resolve_device(options.device, info)
        self.plan = plan = options.plan(len(dataset.train))
        if plan.steps_per_epoch < 1:
            raise DataError(f"{dataset.name}: the training split is empty")
        if not 0 <= start_step <= plan.total_steps:
            raise OptionError(
                f"the starting step {start_step} is outside the run (0..{plan.total_steps} steps)"
            )
        self.schedule = Schedule.of(
            plan,
            start_step=start_step,
            save_at=save_at,
            checkpoint_every=io.checkpoint_every,
            checkpointing=io.checkpoint_dir is not None,
        )
        self.model, self.dataset, self.options, self.io = model, dataset, options, io
        self.on_save = on_save if info.is_main else None
        self.progress = io.progress if info.is_main else None
        self.augment = dataset.augment if options.augment is None else options.augment
        self.amp_dtype = _amp_dtype(options, device)
        # The model enters through its initial weights' hash (names, shapes and values).
        self.identity = {
            "run": io.run_id,
            "options": options.to_dict(),
            "dataset": dataset.to_dict(),
            "initial": tensors_hash(model.state_dict()),
            "masks": tensors_hash(dict(masks)) if masks else None,
            "start_step": start_step,
            "world_size": info.world_size,
        }
        model.to(device)
        self.enforcer = MaskEnforcer(model, masks) if masks else None
        if self.enforcer:
            self.enforcer.apply()
        self.optimizer = _SGD(
            model.parameters(),
            lr=plan.lr_at(start_step),
            momentum=options.momentum,
            weight_decay=options.weight_decay,
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        # Reading a loss back stalls an accelerator's queue; on CPU it costs nothing.
        sync_every = 1 if device.type == "cpu" else 25
        self.losses = _Losses(device, info.world_size, sync_every, plan.steps_per_epoch)
        self.start_step = self.step = start_step
        self.history: list[dict[str, Any]] = []
        self.resumed_from: int | None = None
        self.folder: CheckpointDir | None = None
        self.net: nn.Module = model

    def start(self, held: contextlib.ExitStack) -> None:
        """Claim and restore the checkpoint folder, wrap the model for DDP, report the start."""
        info, io = self.info, self.io
        state = None
        if io.checkpoint_dir is not None:
            if info.is_main:
                # Locked before anything is read, so a second trainer is refused at once.
                held.enter_context(folder_lock(io.checkpoint_dir, what="checkpoint folder"))
            identity = {**self.identity, "data": dataset_hash(self.dataset)}
            self.folder = CheckpointDir(io.checkpoint_dir, identity)
            if info.is_main:
                self.folder.claim()
            distributed.barrier()
            state = self.folder.load()
        if state is not None:
            self._restore(state)
        elif self.on_save is not None and self.step in self.schedule.saves:
            self.on_save(self.step, self.model)
        if info.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        if self.progress is not None:
            self.progress(self.step, self.plan.total_steps, self.losses.last)
        self.model.train()

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.losses.restore(state["losses"])
        self.history = list(state["history"])
        self.step = self.resumed_from = int(state["step"])
        if hasattr(self.progress, "resumed"):
            self.progress.resumed(self.step)

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """This rank's batches from the current step to the last, epoch after epoch."""
        per_epoch, total = self.plan.steps_per_epoch, self.plan.total_steps
        while self.step < total:
            epoch, first = divmod(self.step, per_epoch)
            for batch in batches(
                self.dataset.train,
                self.options.batch_size,
                seed=self.options.seed,
                epoch=epoch,
                shuffle=True,
                augment=self.augment,
                start_batch=first,
                rank=self.info.rank,
                world_size=self.info.world_size,
                drop_last=False,
            ):
                yield batch
                if self.step >= total:
                    return

    def update(self, x: Tensor, y: Tensor) -> Tensor:
        """One optimizer step at the current step's learning rate; the mask re-applied."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.plan.lr_at(self.step)
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        amp = self.amp_dtype
        with torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
            loss = F.cross_entropy(self.net(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.enforcer is not None:
            self.enforcer.apply()
        self.step += 1
        return loss

    def after_step(self, loss: Tensor, events: Events) -> None:
        """Check the loss, then evaluate, save and checkpoint as the schedule says."""
        step = self.step
        self.losses.add(loss)
        if events or step % self.losses.sync_every == 0:
            bad = self.losses.sync()
            if bad is not None:
                raise self._diverged(f"the loss is {bad}")
            if self.progress is not None:
                self.progress(step, self.plan.total_steps, self.losses.last)
        if events.eval:
            self._record(self._evaluate())
        if events.save or events.checkpoint:
            if not _all_finite(self.model):
                raise self._diverged("the weights are not finite")
            _sync_buffers(self.model, self.info.world_size)
        if events.save and self.on_save is not None:
            self.on_save(step, self.model)
        if events.checkpoint and self.info.is_main:
            self.folder.save(self._checkpoint())

    def _checkpoint(self) -> dict[str, Any]:
        per_epoch = self.plan.steps_per_epoch
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "step": self.step,
            "data": {"epoch": self.step // per_epoch, "batch": self.step % per_epoch},
            "losses": self.losses.state(),
            "history": self.history,
        }

    def _evaluate(self) -> Metrics:
        _sync_buffers(self.model, self.info.world_size)
        return evaluate(
            self.model,
            self.dataset.test,
            batch_size=self.options.eval_batch_size,
            device=self.device,
            rank=self.info.rank,
            world_size=self.info.world_size,
        )

    def _record(self, metrics: Metrics) -> None:
        step = self.step
        self.history.append(
            {
                "step": step,
                "epoch": round(step / self.plan.steps_per_epoch, 6),
                "lr": self.plan.lr_at(max(step - 1, 0)),
                "train_loss": self.losses.take_interval(),
                "test_loss": metrics.loss,
                "test_accuracy": metrics.accuracy,
            }
        )
        if self.io.log_path is not None and self.info.is_main:
            _write_log(self.io.log_path, self.history)
        if hasattr(self.progress, "evaluation"):
            self.progress.evaluation(self.history[-1])

    def _diverged(self, what: str) -> TrainingError:
        kept = ""
        if self.folder is not None:
            # Verified now, so a checkpoint damaged since it was written is not called good.
            good = self.folder.last_good()
            where = self.folder.path
            kept = (
                f"; no checkpoint in {where} verifies"
                if good is None
                else f"; the last checkpoint that verifies (step {good}) is kept in {where}"
            )
        return TrainingError(
            f"training diverged: {what} at step {self.step} "
            f"(learning rate {self.plan.lr_at(self.step - 1):g}); stopped{kept}"
        )

    def finish(self) -> TrainResult:
        """The final metrics (the last step's evaluation, made now if the schedule had none)."""
        _sync_buffers(self.model, self.info.world_size)
        if self.history and self.history[-1]["step"] == self.step:
            last, n = self.history[-1], len(self.dataset.test)
            metrics = Metrics(
                accuracy=last["test_accuracy"],
                loss=last["test_loss"],
                count=n,
                correct=round(last["test_accuracy"] * n),
            )
        else:
            metrics = self._evaluate()
            self._record(metrics)
        return TrainResult(
            step=self.step,
            total_steps=self.plan.total_steps,
            start_step=self.start_step,
            steps_per_epoch=self.plan.steps_per_epoch,
            metrics=metrics,
            train_loss=self.losses.train_loss,
            resumed_from=self.resumed_from,
            history=tuple(self.history),
            device=str(self.device),
            world_size=self.info.world_size,
        )


def model_state(model: nn.Module) -> dict[str, Tensor]:
    """A CPU copy of ``model``'s state_dict (safe to keep while training goes on)."""
    return {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}
