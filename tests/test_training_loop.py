"""The training loop: it learns, it is deterministic, and steps, saves and logs line up."""

from __future__ import annotations

import json

import pytest
import torch

from maskkit.errors import OptionError, TrainingError
from maskkit.start_weights import initial_model
from maskkit.training import RunIO, TrainOptions, train
from maskkit.training.loop import model_state
from tests.training_helpers import dataset, lenet_mask

OPTS = TrainOptions(
    steps=40, batch_size=64, lr=0.1, momentum=0.9, weight_decay=1e-4, milestones=(30,)
)


def run(mask, ds, options=OPTS, **kwargs):
    model, masks = initial_model(mask, source="test")
    result = train(model, ds, options, masks=masks, **kwargs)
    return model_state(model), result


def test_learns_well_above_chance_and_loss_falls():
    ds = dataset()
    _, result = run(lenet_mask(0.8), ds, OPTS.replace(eval_every=10))
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.metrics.accuracy > 0.6  # 10 classes: chance is 0.1
    assert result.metrics.count == 200 and result.step == 40 and result.total_steps == 40


def test_same_inputs_give_bitwise_the_same_weights_and_seed_changes_them():
    ds, mask = dataset(), lenet_mask(0.8)
    a, ra = run(mask, ds)
    b, rb = run(mask, ds)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert ra.metrics == rb.metrics and ra.train_loss == rb.train_loss
    c, _ = run(mask, ds, OPTS.replace(seed=1))
    assert not torch.equal(a["fc.weight"], c["fc.weight"])


def test_save_at_equals_a_run_stopped_there():
    ds, mask = dataset(), lenet_mask(0.8)
    saved = {}
    run(mask, ds, save_at=(0, 13, "1ep"), on_save=lambda s, m: saved.setdefault(s, model_state(m)))
    assert sorted(saved) == [0, 8, 13]  # 512 / 64 = 8 steps per epoch
    short, _ = run(mask, ds, OPTS.replace(steps=13))
    assert all(torch.equal(saved[13][n], short[n]) for n in short)
    init, _ = run(mask, ds, OPTS.replace(steps=0))
    assert all(torch.equal(saved[0][n], init[n]) for n in init)


def test_restart_at_step_k_continues_the_schedule_and_data_order():
    """Plain SGD has no optimizer state, so a fresh run from the step-K weights at start_step=K
    must reproduce the uninterrupted run bitwise (schedule, milestone and data position)."""
    ds, mask = dataset(), lenet_mask(0.8)
    options = OPTS.replace(momentum=0.0, milestones=(20,), gamma=0.5)
    saved = {}
    full, _ = run(
        mask, ds, options, save_at=(11,), on_save=lambda s, m: saved.setdefault(s, model_state(m))
    )
    model, masks = initial_model(mask, source="test")
    model.load_state_dict(saved[11])
    result = train(model, ds, options, masks=masks, start_step=11)
    assert result.start_step == 11 and result.step == 40
    assert all(torch.equal(full[n], model.state_dict()[n]) for n in full)


def test_log_has_one_line_per_evaluation(tmp_path):
    log = tmp_path / "run.jsonl"
    _, result = run(lenet_mask(0.8), dataset(), OPTS.replace(eval_every=16), io=RunIO(log_path=log))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in lines] == [16, 32, 40]
    assert lines[-1]["test_accuracy"] == result.metrics.accuracy
    assert (
        lines[0]["epoch"] == 2.0
        and lines[0]["lr"] == 0.1
        and lines[-1]["lr"] == pytest.approx(0.01)
    )


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    ds, mask = dataset(), lenet_mask(0.5)
    options = OPTS.replace(lr=1e10, momentum=0.0, milestones=())
    with pytest.raises(
        TrainingError, match=r"diverged: the loss is (nan|inf) at step \d+ \(learning rate 1e\+10\)"
    ):
        run(mask, ds, options)
    folder = tmp_path / "ckpt"
    with pytest.raises(
        TrainingError, match=r"last checkpoint that verifies \(step \d+\) is kept in .*ckpt"
    ) as err:
        run(mask, ds, options, io=RunIO(checkpoint_dir=folder, checkpoint_every=1))
    stopped = int(str(err.value).split(" at step ")[1].split()[0])
    newest = json.loads((folder / "checkpoints.json").read_text())["checkpoints"][0]
    state = torch.load(folder / newest["file"], weights_only=True)
    assert f"(step {state['step']})" in str(err.value) and state["step"] == stopped - 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())


def test_out_of_range_steps_are_refused():
    ds, mask = dataset(), lenet_mask(0.8)
    with pytest.raises(OptionError, match="after the last step"):
        run(mask, ds, save_at=(41,))
    with pytest.raises(OptionError, match="outside the run"):
        run(mask, ds, start_step=41)
