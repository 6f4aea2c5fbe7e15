"""The training loop: SGD under a mask, resumable, optionally data-parallel.

Steps are counted from 0 (the initial weights); "step k" is the model after k optimizer updates.
At each step the learning rate is set from the step index, one batch is taken at the data
position the step fixes (epoch = step // steps_per_epoch), the optimizer steps and the mask is
re-applied, so pruned weights are exactly zero after every update. After a step, in this order:
the loss is checked (non-finite stops the run), the model is evaluated (``eval_every`` and the
last step), ``save_at`` weights are handed to ``on_save``, and a checkpoint is written
(``checkpoint_every`` and the last step).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maskkit.data.types import Dataset
from maskkit.errors import DataError, OptionError, TrainingError
from maskkit.format import write_atomic
from maskkit.training import distributed
from maskkit.training._data import epoch_batches
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
from maskkit.training.options import Duration, Plan, TrainOptions

Progress = Callable[[int, int, "float | None"], None]
"""Called as ``progress(step, total_steps, mean_recent_loss)``; first with the starting step.

If the object also has an ``evaluation(record)`` method, it receives every evaluation record
(the dict also written to the log); a ``resumed(step)`` method is called when the run resumes
from the checkpoint of ``step``, before training goes on. Only rank 0 calls any of them.
"""


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
            raise OptionError("--amp needs a CUDA device (mixed precision runs on CUDA only)")
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _check_steps(values: Iterable[Duration], plan: Plan, start: int, what: str) -> list[int]:
    steps = sorted({plan.steps(v) for v in values})
    for s in steps:
        if s > plan.total_steps:
            raise OptionError(f"{what} {s} is after the last step ({plan.total_steps})")
        if s < start:
            raise OptionError(f"{what} {s} is before the starting step ({start})")
    return steps


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
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: Duration | None = None,
    run_id: str = "",
    log_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``dataset.train`` under ``masks`` (bool, True = keep).

    ``start_step`` > 0 starts the schedule and the data order at that step with a fresh
    optimizer (rewinding). ``on_save(step, model)`` is called (rank 0 only) with the model at
    each ``save_at`` step. With ``checkpoint_dir`` the run resumes from its last checkpoint;
    ``run_id`` is mixed into the run identity (callers add what the model state cannot show,
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
    info = distributed.current()
    device = distributed.resolve_device(options.device, info)
    plan = options.plan(len(dataset.train))
    total, per_epoch = plan.total_steps, plan.steps_per_epoch
    if per_epoch < 1:
        raise DataError(f"{dataset.name}: the training split is empty")
    if not 0 <= start_step <= total:
        raise OptionError(f"the starting step {start_step} is outside the run (0..{total} steps)")
    saves = set(_check_steps(save_at, plan, start_step, "--save-at step"))
    every = plan.steps(checkpoint_every) if checkpoint_every is not None else per_epoch
    if every < 1:
        raise OptionError("--checkpoint-every must be at least one step")
    augment = dataset.augment if options.augment is None else options.augment
    amp_dtype = _amp_dtype(options, device)

    # The model enters through its initial weights' hash (names, shapes and values).
    identity = {
        "run": run_id,
        "options": options.to_dict(),
        "dataset": dataset.to_dict(),
        "initial": tensors_hash(model.state_dict()),
        "masks": tensors_hash(dict(masks)) if masks else None,
        "start_step": start_step,
        "world_size": info.world_size,
    }
    model.to(device)
    enforcer = MaskEnforcer(model, masks) if masks else None
    if enforcer:
        enforcer.apply()
    optimizer = _SGD(
        model.parameters(),
        lr=plan.lr_at(start_step),
        momentum=options.momentum,
        weight_decay=options.weight_decay,
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    # Reading a loss back stalls an accelerator's queue; on CPU it costs nothing.
    losses = _Losses(device, info.world_size, 1 if device.type == "cpu" else 25, per_epoch)

    with contextlib.ExitStack() as held:
        folder = None
        state = None
        if checkpoint_dir is not None:
            if info.is_main:
                # Locked before anything is read, so a second trainer is refused at once.
                held.enter_context(folder_lock(checkpoint_dir, what="checkpoint folder"))
            folder = CheckpointDir(checkpoint_dir, {**identity, "data": dataset_hash(dataset)})
            if info.is_main:
                folder.claim()
            distributed.barrier()
            state = folder.load()
        step = start_step
        history: list[dict[str, Any]] = []
        resumed_from = None
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
            losses.restore(state["losses"])
            history = list(state["history"])
            step = resumed_from = int(state["step"])
            if info.is_main and hasattr(progress, "resumed"):
                progress.resumed(step)
        elif info.is_main and on_save is not None and step in saves:
            on_save(step, model)

        net: nn.Module = model
        if info.distributed:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        if progress is not None and info.is_main:
            progress(step, total, losses.last)

        def evaluate_now() -> Metrics:
            _sync_buffers(model, info.world_size)
            return evaluate(
                model,
                dataset.test,
                batch_size=options.eval_batch_size,
                device=device,
                rank=info.rank,
                world_size=info.world_size,
            )

        def record(metrics: Metrics) -> None:
            history.append(
                {
                    "step": step,
                    "epoch": round(step / per_epoch, 6),
                    "lr": plan.lr_at(max(step - 1, 0)),
                    "train_loss": losses.take_interval(),
                    "test_loss": metrics.loss,
                    "test_accuracy": metrics.accuracy,
                }
            )
            if log_path is not None and info.is_main:
                _write_log(log_path, history)
            if info.is_main and hasattr(progress, "evaluation"):
                progress.evaluation(history[-1])

        def diverged(what: str) -> TrainingError:
            kept = ""
            if folder is not None:
                # Verified now, so a checkpoint damaged since it was written is not called good.
                good = folder.last_good()
                kept = (
                    f"; no checkpoint in {folder.path} verifies"
                    if good is None
                    else f"; the last checkpoint that verifies (step {good}) is kept in "
                    f"{folder.path}"
                )
            return TrainingError(
                f"training diverged: {what} at step {step} "
                f"(learning rate {plan.lr_at(step - 1):g}); stopped{kept}"
            )

        model.train()
        while step < total:
            epoch, first = divmod(step, per_epoch)
            for x, y in epoch_batches(
                dataset.train,
                options.batch_size,
                seed=options.seed,
                epoch=epoch,
                start_batch=first,
                augment=augment,
                rank=info.rank,
                world_size=info.world_size,
            ):
                lr = plan.lr_at(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = F.cross_entropy(net(x), y)
                optimizer.zero_grad(set_to_none=True)
                if scaler.is_enabled():
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                if enforcer is not None:
                    enforcer.apply()
                step += 1
                losses.add(loss)

                do_eval = step == total or (
                    plan.eval_every is not None and step % plan.eval_every == 0
                )
                do_save = step in saves
                do_checkpoint = folder is not None and (step == total or step % every == 0)
                if do_eval or do_save or do_checkpoint or step % losses.sync_every == 0:
                    bad = losses.sync()
                    if bad is not None:
                        raise diverged(f"the loss is {bad}")
                    if progress is not None and info.is_main:
                        progress(step, total, losses.last)
                if do_eval:
                    record(evaluate_now())
                if do_save or do_checkpoint:
                    if not _all_finite(model):
                        raise diverged("the weights are not finite")
                    _sync_buffers(model, info.world_size)
                if do_save and on_save is not None and info.is_main:
                    on_save(step, model)
                if do_checkpoint and info.is_main:
                    folder.save(
                        {
                            "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "scaler": scaler.state_dict(),
                            "rng": rng_state(),
                            "step": step,
                            "data": {"epoch": step // per_epoch, "batch": step % per_epoch},
                            "losses": losses.state(),
                            "history": history,
                        }
                    )
                if step >= total:
                    break

        _sync_buffers(model, info.world_size)
        if history and history[-1]["step"] == step:
            last = history[-1]
            n = len(dataset.test)
            metrics = Metrics(
                accuracy=last["test_accuracy"],
                loss=last["test_loss"],
                count=n,
                correct=round(last["test_accuracy"] * n),
            )
        else:
            metrics = evaluate_now()
            record(metrics)
        return TrainResult(
            step=step,
            total_steps=total,
            start_step=start_step,
            steps_per_epoch=per_epoch,
            metrics=metrics,
            train_loss=losses.train_loss,
            resumed_from=resumed_from,
            history=tuple(history),
            device=str(device),
            world_size=info.world_size,
        )


def model_state(model: nn.Module) -> dict[str, Tensor]:
    """A CPU copy of ``model``'s state_dict (safe to keep while training goes on)."""
    return {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}
