"""When a run evaluates, hands weights to ``on_save`` and checkpoints: a pure function of the step.

Computed once from the plan, so the step loop asks ``schedule.events(step)`` and acts, and the
schedule can be checked against hand-computed step lists without training anything. After the
update that reaches step k: evaluate every ``eval_every`` steps and at the last step; save at
each ``save_at`` step; checkpoint every ``checkpoint_every`` steps (default one epoch) and at the
last step, only when checkpointing at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from maskkit.training._errors import about
from maskkit.training.options import Duration, Plan


@dataclass(frozen=True)
class Events:
    """What happens after one step."""

    eval: bool = False
    save: bool = False
    checkpoint: bool = False

    def __bool__(self) -> bool:
        return self.eval or self.save or self.checkpoint


@dataclass(frozen=True)
class Schedule:
    """The event steps of one run (``checkpoint_every`` None: no checkpoints)."""

    total_steps: int
    eval_every: int | None
    saves: frozenset[int]
    checkpoint_every: int | None

    @classmethod
    def of(
        cls,
        plan: Plan,
        *,
        start_step: int = 0,
        save_at: Iterable[Duration] = (),
        checkpoint_every: Duration | None = None,
        checkpointing: bool = False,
    ) -> Schedule:
        """The schedule of ``plan`` from ``start_step``; refuses save steps outside the run."""
        total = plan.total_steps
        saves = frozenset(plan.steps(v) for v in save_at)
        for s in sorted(saves):
            if s > total:
                raise about("save_at", "--save-at", f" step {s} is after the last step ({total})")
            if s < start_step:
                rest = f" step {s} is before the starting step ({start_step})"
                raise about("save_at", "--save-at", rest)
        every = plan.steps_per_epoch if checkpoint_every is None else plan.steps(checkpoint_every)
        if every < 1:
            raise about("checkpoint_every", "--checkpoint-every", " must be at least one step")
        return cls(total, plan.eval_every, saves, every if checkpointing else None)

    def events(self, step: int) -> Events:
        last = step == self.total_steps
        every = self.checkpoint_every
        return Events(
            eval=last or (self.eval_every is not None and step % self.eval_every == 0),
            save=step in self.saves,
            checkpoint=every is not None and (last or step % every == 0),
        )
