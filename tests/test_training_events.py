"""The training event schedule against step lists worked out by hand."""

from __future__ import annotations

import pytest

from maskkit.errors import OptionError
from maskkit.training import TrainOptions
from maskkit.training.events import Events, Schedule
from maskkit.training.options import Plan

# 10 steps per epoch, 35 steps in all: the last epoch is cut short at step 35.
PLAN = Plan(
    steps_per_epoch=10, total_steps=35, milestones=(), warmup=0, eval_every=15, lr=0.1, gamma=0.1
)


def steps_where(schedule: Schedule, what: str) -> list[int]:
    """The steps (reached by an update: 1 to the last) at which ``what`` happens."""
    return [s for s in range(1, schedule.total_steps + 1) if getattr(schedule.events(s), what)]


def test_evaluations_every_n_steps_and_at_the_last_step():
    assert steps_where(Schedule.of(PLAN), "eval") == [15, 30, 35]


def test_evaluations_only_at_the_end_without_eval_every():
    plan = Plan(10, 35, (), 0, None, 0.1, 0.1)
    assert steps_where(Schedule.of(plan), "eval") == [35]


def test_saves_at_the_steps_and_epochs_asked_for():
    schedule = Schedule.of(PLAN, save_at=(7, "2ep", 0, 7))
    assert steps_where(schedule, "save") == [7, 20]
    assert 0 in schedule.saves  # handed over before the first update


def test_checkpoints_every_epoch_by_default_and_at_the_last_step():
    schedule = Schedule.of(PLAN, checkpointing=True)
    assert steps_where(schedule, "checkpoint") == [10, 20, 30, 35]


def test_checkpoint_interval_in_steps_or_epochs():
    assert steps_where(
        Schedule.of(PLAN, checkpoint_every=12, checkpointing=True), "checkpoint"
    ) == [
        12,
        24,
        35,
    ]
    assert steps_where(
        Schedule.of(PLAN, checkpoint_every="2ep", checkpointing=True), "checkpoint"
    ) == [20, 35]


def test_no_checkpoints_without_a_folder():
    assert steps_where(Schedule.of(PLAN, checkpoint_every=5), "checkpoint") == []


def test_events_are_false_when_nothing_happens():
    schedule = Schedule.of(PLAN, save_at=(7,), checkpointing=True)
    assert not schedule.events(3)
    assert schedule.events(7) == Events(save=True)
    assert schedule.events(35) == Events(eval=True, checkpoint=True)


def test_schedule_from_options_resolves_epochs_with_a_short_last_batch():
    # 95 examples in batches of 10: 10 steps per epoch (the last batch has 5).
    plan = TrainOptions(steps=35, batch_size=10, eval_every="1ep").plan(95)
    schedule = Schedule.of(plan, save_at=("3ep",), checkpoint_every=15, checkpointing=True)
    assert steps_where(schedule, "eval") == [10, 20, 30, 35]
    assert steps_where(schedule, "save") == [30]
    assert steps_where(schedule, "checkpoint") == [15, 30, 35]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"save_at": (36,)}, "save_at step 36 is after the last step (35)"),
        ({"save_at": ("4ep",)}, "save_at step 40 is after the last step (35)"),
        ({"save_at": (5,), "start_step": 6}, "save_at step 5 is before the starting step (6)"),
        ({"checkpoint_every": 0}, "checkpoint_every must be at least one step"),
    ],
)
def test_refuses_events_outside_the_run(kwargs, message):
    with pytest.raises(OptionError) as caught:
        Schedule.of(PLAN, **kwargs)
    assert str(caught.value) == message
