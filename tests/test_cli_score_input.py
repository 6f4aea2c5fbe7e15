"""The one input rule: an artifact piped in is always read (and checked against --model); no
input means a fresh --model only for a terminal, a closed stdin, /dev/null or an empty pipe."""

from __future__ import annotations

import subprocess
import sys

from maskkit.format import load
from tests.conftest import invoke, run_maskkit


def _maskkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "maskkit", *args]


def _pipe(first: list[str], second: list[str]) -> tuple[subprocess.CompletedProcess, int]:
    """``maskkit FIRST | maskkit SECOND`` joined by a real pipe, as a shell runs it."""
    upstream = subprocess.Popen(_maskkit(*first), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        downstream = subprocess.run(_maskkit(*second), stdin=upstream.stdout, capture_output=True)
    finally:
        upstream.stdout.close()
    return downstream, upstream.wait()


def test_piped_weights_are_scored_not_a_fresh_model():
    result, code = _pipe(
        ["init", "--model", "lenet5", "--seed", "5"],
        ["score", "--model", "lenet5", "--method", "magnitude"],
    )
    assert code == 0 and result.returncode == 0, result.stderr
    scores = load(result.stdout)
    assert scores.init.seed == 5
    assert scores.provenance[0].stage == "init" and scores.provenance[0].seed == 5
    # magnitude scores are |w|: those of the seed-5 weights, which seed 0 does not give
    seed5 = load(invoke(["init", "--model", "lenet5", "--seed", "5"]).stdout_bytes)
    assert (abs(seed5.arrays["fc.weight"]) == scores.arrays["fc.weight"]).all()


def test_piped_weights_of_another_model_are_refused():
    result, _ = _pipe(
        ["init", "--model", "lenet5"], ["score", "--model", "lenet300", "--method", "magnitude"]
    )
    assert result.returncode == 1 and result.stdout == b""
    assert b"<stdin>" in result.stderr and b"lenet5" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_piped_weights_built_with_other_arguments_are_refused():
    weights = invoke(["init", "--model", "lenet300", "--model-arg", "hidden=[6,4]"]).stdout_bytes
    other = invoke(
        ["score", "--model", "lenet300", "--model-arg", "hidden=[8,4]", "--method", "magnitude"],
        input=weights,
    )
    assert other.exit_code == 1 and "hidden=[6, 4]" in other.stderr
    same = invoke(
        ["score", "--model", "lenet300", "--model-arg", "hidden=6,4", "--method", "magnitude"],
        input=weights,
    )
    assert same.exit_code == 0, same.stderr
    assert load(same.stdout_bytes).model.args["hidden"] == [6, 4]


def test_no_stdin_and_an_empty_pipe_mean_the_fresh_model():
    """A first stage under CI: no stdin (/dev/null), or a non-terminal pipe that ends at once."""
    args = ["score", "--model", "lenet300", "--seed", "0", "--method", "snip", "--dataset", "mnist"]
    devnull = subprocess.run(_maskkit(*args), stdin=subprocess.DEVNULL, capture_output=True)
    empty = subprocess.run(_maskkit(*args), input=b"", capture_output=True)
    assert devnull.returncode == 0 and empty.returncode == 0, devnull.stderr + empty.stderr
    assert devnull.stdout == empty.stdout
    scores = load(devnull.stdout)
    assert scores.init.seed == 0 and scores.provenance[-1].options["dataset"] == "mnist"


def test_a_stage_without_input_still_says_so():
    result = run_maskkit(["score", "--method", "magnitude"], input=b"")
    assert result.returncode == 1 and b"empty input" in result.stderr
