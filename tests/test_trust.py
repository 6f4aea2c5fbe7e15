"""A file never makes maskkit import code: a package.module:callable model or dataset that a file
names runs only when the user names it (--model, --dataset) or trusts it (--trust-code,
trust_code=)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from maskkit.errors import UntrustedCodeError
from maskkit.format import InitRef, Mask, ModelBinding, Weights, load
from maskkit.models import prunable_names
from maskkit.models.binding import build_bound_model, model_fingerprint
from tests.conftest import ROOT, invoke

HERE = __name__  # "tests.test_trust": importable from the repository root
MODEL = f"{HERE}:touching_model"
DATA = f"{HERE}:touching_data"


def _net(num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))


def touching_model(marker: str = "", num_classes: int = 2, input_shape=(4,)) -> nn.Module:
    """The stand-in for code a file must not be able to run: it leaves a marker file."""
    if marker:
        Path(marker).write_text("ran")
    return _net(num_classes, tuple(input_shape))


def touching_data(marker: str = "", shape=(4,)):
    if marker:
        Path(marker).write_text("ran")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, *shape, generator=g)
    y = torch.arange(8) % 2
    split = torch.utils.data.TensorDataset(x, y)
    return split, split


def _binding(name: str, args: dict) -> ModelBinding:
    return ModelBinding(name=name, args=args, fingerprint=model_fingerprint(_net(2, (4,))))


def _weights(name: str, args: dict, training: dict | None = None) -> Weights:
    net = _net(2, (4,))
    return Weights(
        net.state_dict(),
        prunable=prunable_names(net),
        model=_binding(name, args),
        init=InitRef(seed=0),
        training=training,
    )


def _mask(name: str, args: dict) -> Mask:
    net = _net(2, (4,))
    state = net.state_dict()
    arrays = {n: torch.ones_like(state[n], dtype=torch.bool).numpy() for n in prunable_names(net)}
    return Mask(arrays, model=_binding(name, args), init=InitRef(seed=0))


@pytest.fixture
def crafted(tmp_path, monkeypatch):
    """A weights file and a mask file whose model is this module's marker-writing callable."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "RAN"
    args = {"marker": str(marker), "num_classes": 2, "input_shape": [4]}
    weights, mask = tmp_path / "w.safetensors", tmp_path / "m.safetensors"
    _weights(MODEL, args).save(weights)
    _mask(MODEL, args).save(mask)
    return weights, mask, marker


def _refused(result, file: Path, named: bool = True) -> None:
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert MODEL in lines[0] and "--trust-code" in lines[0]
    assert str(file) in lines[0] or not named


@pytest.mark.parametrize(
    "command",
    [
        ["score", "--method", "magnitude", "{w}"],
        ["eval", "{w}"],
        ["eval", "{m}", "--dataset", "synthetic"],
        ["train", "--dataset", "mnist", "--steps", "1", "{m}"],
        ["imp", "--rounds", "1", "--out", "imp", "--dataset", "mnist", "--steps", "1", "{w}"],
        ["rewind", "--to", "{w}", "{m}"],
    ],
)
def test_a_file_naming_a_callable_is_refused_and_nothing_runs(crafted, command):
    weights, mask, marker = crafted
    args = [a.format(w=weights, m=mask) for a in command]
    result = invoke(args)
    _refused(result, mask if "{m}" in command else weights, named=command[0] != "rewind")
    assert not marker.exists()
    assert not Path("imp").exists()  # refused before any output was made


def test_trust_code_or_the_same_model_name_runs_it(crafted):
    weights, _, marker = crafted
    trusted = invoke(["score", "--method", "magnitude", "--trust-code", str(weights)])
    assert trusted.exit_code == 0, trusted.stderr
    assert marker.read_text() == "ran"
    marker.unlink()
    named = invoke(["score", "--method", "magnitude", "--model", MODEL, str(weights)])
    assert named.exit_code == 0, named.stderr
    assert marker.exists()
    assert load(named.stdout_bytes).model.name == MODEL


def test_another_name_on_the_command_line_trusts_nothing_else(crafted):
    weights, _, marker = crafted
    other = invoke(["eval", str(weights), "--dataset", f"{HERE}:touching_data"])
    _refused(other, weights)
    assert not marker.exists()


def test_eval_with_trust_code_runs_the_users_model(crafted):
    weights, _, marker = crafted
    result = invoke(["eval", str(weights), "--dataset", DATA, "--trust-code", "--json"])
    assert result.exit_code == 0, result.stderr
    assert marker.exists()


@pytest.fixture
def trained_on_user_data(tmp_path, monkeypatch):
    """lenet300 weights (registry model: no trust needed) whose training names a callable."""
    from maskkit.stages import init_weights

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "RAN"
    w = init_weights(
        "lenet300", model_args={"hidden": [3, 2]}, input_shape=(1, 2, 2), num_classes=2
    )
    forged = Weights(
        w.tensor_views(),
        prunable=w.prunable,
        model=w.model,
        init=w.init,
        provenance=w.provenance,
        training={"dataset": {"name": f"{DATA}", "marker": str(marker)}},
    )
    path = tmp_path / "trained.safetensors"
    forged.save(path)
    return path, marker


def test_a_recorded_user_dataset_is_refused_by_eval_and_train(trained_on_user_data):
    path, marker = trained_on_user_data
    for command in (["eval", str(path)], ["train", "--steps", "1", str(path)]):
        result = invoke(command)
        assert result.exit_code == 1, result.stderr
        line = result.stderr.strip()
        assert "\n" not in line and DATA in line and "--dataset" in line and "--trust-code" in line
    assert not marker.exists()


def test_a_recorded_dataset_named_again_is_trusted(trained_on_user_data):
    path, marker = trained_on_user_data
    options = ["--data-option", f"marker={marker}", "--data-option", "shape=[1,2,2]"]
    result = invoke(["eval", str(path), "--dataset", DATA, *options, "--json"])
    assert result.exit_code == 0, result.stderr
    assert marker.exists()


def test_the_library_gate(tmp_path):
    marker = tmp_path / "RAN"
    binding = _binding(MODEL, {"marker": str(marker), "num_classes": 2, "input_shape": [4]})
    with pytest.raises(UntrustedCodeError, match="trust_code=True"):
        build_bound_model(binding, seed=0, source="f.safetensors")
    with pytest.raises(UntrustedCodeError):
        build_bound_model(binding, seed=0, source="f", trust_code={"other:name"})
    assert not marker.exists()
    build_bound_model(binding, seed=0, source="f", trust_code={MODEL})
    assert marker.exists()
    marker.unlink()
    build_bound_model(binding, seed=0, source="f", trust_code=True)
    assert marker.exists()


def test_the_python_api_takes_trust_code(tmp_path):
    import maskkit

    marker = tmp_path / "RAN"
    path = tmp_path / "w.safetensors"
    _weights(MODEL, {"marker": str(marker), "num_classes": 2, "input_shape": [4]}).save(path)
    weights = maskkit.load(path)
    with pytest.raises(UntrustedCodeError):
        maskkit.score(weights, "magnitude")
    with pytest.raises(UntrustedCodeError):
        maskkit.initial_model(weights, source=str(path))
    assert not marker.exists()
    scores = maskkit.score(weights, "magnitude", trust_code=True)
    assert marker.exists() and scores.model.name == MODEL


def test_registry_models_need_no_trust(tmp_path):
    w = tmp_path / "w.safetensors"
    assert invoke(["init", "--model", "lenet5", "-o", str(w)]).exit_code == 0
    assert invoke(["score", "--method", "magnitude", str(w)]).exit_code == 0


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def test_os_system_in_a_received_file_does_not_run(tmp_path):
    """The attack as reported: model os:system with a shell command in its arguments."""
    path = tmp_path / "evil.safetensors"
    _weights("os:system", {"command": "touch PWNED"}).save(path)
    _mask("os:system", {"command": "touch PWNED"}).save(tmp_path / "evil-mask.safetensors")
    for command in (
        ["score", "--method", "magnitude", "evil.safetensors"],
        ["train", "--dataset", "mnist", "evil-mask.safetensors"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "maskkit", *command],
            capture_output=True,
            cwd=tmp_path,
            env=_env(),
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 1, result.stderr
        assert b"'os:system'" in result.stderr and b"Traceback" not in result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_os_abort_as_the_recorded_dataset_does_not_run(tmp_path):
    from maskkit.stages import init_weights

    w = init_weights(
        "lenet300", model_args={"hidden": [3, 2]}, input_shape=(1, 2, 2), num_classes=2
    )
    forged = Weights(
        w.tensor_views(),
        prunable=w.prunable,
        model=w.model,
        init=w.init,
        training={"dataset": {"name": "os:abort"}},
    )
    forged.save(tmp_path / "w.safetensors")
    result = subprocess.run(
        [sys.executable, "-m", "maskkit", "eval", "w.safetensors"],
        capture_output=True,
        cwd=tmp_path,
        env=_env(),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stderr  # not -6 (SIGABRT)
    assert b"'os:abort'" in result.stderr
