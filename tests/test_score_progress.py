"""Scoring progress: SynFlow reports its rounds to a callback, and the CLI shows a bar on a tty."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from maskkit import stages
from maskkit.format import load
from tests.conftest import ROOT
from tests.terminal import stderr_on_a_terminal


class Recorder:
    def __init__(self, fail_at=None):
        self.calls, self.closed, self.fail_at = [], 0, fail_at

    def __call__(self, done, total):
        self.calls.append((done, total))
        if done == self.fail_at:
            raise KeyboardInterrupt

    def close(self):
        self.closed += 1


@pytest.fixture(scope="module")
def weights():
    return stages.init_weights("lenet300", seed=0)


def test_synflow_reports_every_round_and_scores_as_without(weights):
    options = {"sparsity": 0.9, "rounds": 6}
    heard = Recorder()
    scores = stages.score(weights, "synflow", options=options, progress=heard)
    assert heard.calls == [(e, 6) for e in range(7)] and heard.closed == 1
    plain = stages.score(weights, "synflow", options=options)
    assert all(np.array_equal(scores.arrays[n], plain.arrays[n]) for n in plain.arrays)


def test_the_callback_is_closed_when_scoring_stops_and_quiet_methods_report_nothing(weights):
    heard = Recorder(fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        stages.score(weights, "synflow", options={"sparsity": 0.5, "rounds": 4}, progress=heard)
    assert heard.calls == [(0, 4), (1, 4), (2, 4)] and heard.closed == 1
    quiet = Recorder()
    stages.score(weights, "magnitude", progress=quiet)
    assert quiet.calls == [] and quiet.closed == 1


def test_cli_shows_synflow_rounds_on_a_terminal_only(tmp_path):
    out = tmp_path / "s.safetensors"
    args = [sys.executable, "-m", "maskkit", "score", "--model", "lenet300", "--method",
            "synflow", "--sparsity", "0.9", "--rounds", "30", "-o", str(out)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", TERM="xterm", COLUMNS="100")
    code, seen = stderr_on_a_terminal(args, env=env, cwd=ROOT)
    assert code == 0, seen.decode(errors="replace")
    assert re.search(rb"synflow rounds.*\d+/30", re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen))
    assert load(str(out), kind="scores").numel == 266200
    piped = subprocess.run(args, capture_output=True, cwd=ROOT, env=env)
    assert piped.returncode == 0 and b"rounds" not in piped.stderr
