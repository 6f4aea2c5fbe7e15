"""Every error a user can cause is one line on stderr: exit 1 for bad data, 2 for usage.

Covers what used to end in a traceback (stdout on a full disk, an exception inside the user's own
model or dataset), the usage mistakes that must exit 2 whichever command takes the option, and
``--debug`` on either side of the command name.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from maskkit.errors import FormatError, UserCodeError
from maskkit_cli.main import COMMANDS, os_error_line
from tests.conftest import invoke, run_maskkit


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small artifacts of each kind: scores, a mask and weights of lenet5."""
    folder = tmp_path_factory.mktemp("artifacts")
    paths = {kind: folder / f"{kind}.safetensors" for kind in ("weights", "scores", "mask")}
    assert invoke(["init", "--model", "lenet5", "-o", str(paths["weights"])]).exit_code == 0
    score = ["score", "--method", "random", str(paths["weights"]), "-o", str(paths["scores"])]
    assert invoke(score).exit_code == 0
    mask = ["mask", "--sparsity", "0.5", str(paths["scores"]), "-o", str(paths["mask"])]
    assert invoke(mask).exit_code == 0
    return {kind: str(path) for kind, path in paths.items()}


def _one_line(stderr: str) -> str:
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert stderr.startswith("maskkit: error: ") and "Traceback" not in stderr
    return stderr[len("maskkit: error: ") : -1]


# --- OSError: one line naming the path (or stdout) -------------------------------------------


def test_stdout_on_a_full_device_is_one_line(tmp_path, files):
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("making device nodes needs root")
    for args in (["info", files["mask"]], ["info", "--json", files["mask"]]):
        with open(full, "wb") as stdout:
            proc = subprocess.run(
                [sys.executable, "-m", "maskkit", *args], stdout=stdout, stderr=subprocess.PIPE
            )
        assert proc.returncode == 1
        assert _one_line(proc.stderr.decode()) == "<stdout>: No space left on device"


def test_an_oserror_line_names_the_path_and_the_problem():
    assert os_error_line(PermissionError(13, "Permission denied", "/x/run")) == (
        "/x/run: Permission denied"
    )
    moved = OSError(18, "Invalid cross-device link", "a.tmp", None, "b")
    assert os_error_line(moved) == "a.tmp -> b: Invalid cross-device link"
    assert os_error_line(OSError(28, "No space left on device")) == "No space left on device"


# --- exceptions inside the user's own code -----------------------------------------------------

USER_CODE = textwrap.dedent(
    """\
    from torch import nn


    def broken(num_classes, input_shape):
        raise ValueError("bad width\\nsecond line")


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x.reshape(len(x), 5))


    def net(num_classes, input_shape):
        return Net()


    def no_data(seed=0):
        return {}["train"]
    """
)


@pytest.fixture
def user_module(tmp_path, monkeypatch, request):
    """A user module in the working directory, under a name of its own (imports are cached)."""
    name = f"usercode_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_CODE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


SHAPE = ["--num-classes", "3", "--input-shape", "1,2,2"]


def _line_of(text: str) -> int:
    return USER_CODE.splitlines().index(text) + 1


def test_an_exception_building_a_user_model_names_its_line(user_module):
    result = invoke(["init", "--model", f"{user_module}:broken", *SHAPE, "-o", "w.safetensors"])
    assert result.exit_code == 1
    line = _line_of('    raise ValueError("bad width\\nsecond line")')
    assert _one_line(result.stderr) == (
        f"user model '{user_module}:broken': ValueError: bad width second line "
        f"(at {user_module}.py:{line})"
    )
    assert not os.path.exists("w.safetensors")


def test_debug_gives_the_user_codes_traceback(user_module):
    with pytest.raises(UserCodeError) as err:
        invoke(["init", "--debug", "--model", f"{user_module}:broken", *SHAPE])
    assert isinstance(err.value.__cause__, ValueError)


def test_an_exception_in_a_user_models_forward_names_the_users_line(user_module):
    """Raised by torch inside the user's forward: the location is the user's line."""
    args = ["score", "--model", f"{user_module}:net", *SHAPE, "--method", "synflow"]
    args += ["--sparsity", "0.5"]
    result = invoke(args)
    assert result.exit_code == 1
    line = _line_of("        return self.fc(x.reshape(len(x), 5))")
    message = _one_line(result.stderr)
    assert message.startswith(f"user model '{user_module}:net': RuntimeError: shape ")
    assert message.endswith(f"(at {user_module}.py:{line})")
    with pytest.raises(RuntimeError, match="is invalid for input of size"):
        invoke(["--debug", *args])


def test_an_exception_in_a_user_dataset_names_its_line(user_module):
    from maskkit.data import load_dataset

    line = _line_of('    return {}["train"]')
    with pytest.raises(UserCodeError) as err:
        load_dataset(f"{user_module}:no_data")
    assert str(err.value) == (
        f"user dataset '{user_module}:no_data': KeyError: 'train' (at {user_module}.py:{line})"
    )
    assert isinstance(err.value.__cause__, KeyError)


def test_a_maskkit_bug_keeps_its_traceback(monkeypatch, files, tmp_path):
    """Only the user's code is summarised: anything else is a bug and is not hidden."""
    from maskkit import stages

    def bug(*args, **kwargs):
        raise ZeroDivisionError("maskkit bug")

    monkeypatch.setattr(stages, "shuffle", bug)
    with pytest.raises(ZeroDivisionError):
        invoke(["shuffle", "--seed", "1", files["mask"], "-o", str(tmp_path / "out")])


# --- usage mistakes exit 2 ---------------------------------------------------------------------


def _usage(files, tmp_path) -> list[tuple[list[str], str]]:
    w, s, m = files["weights"], files["scores"], files["mask"]
    out = str(tmp_path / "imp")
    return [
        # unknown names
        (["init", "--model", "nope"], "unknown model 'nope'"),
        (["score", "--model", "nope", "--method", "magnitude"], "unknown model 'nope'"),
        (["score", "--model", "lenet5", "--method", "nope"], "unknown pruning method 'nope'"),
        (["score", "--method", "snip", "--dataset", "nope", w], "unknown dataset 'nope'"),
        (["train", "--dataset", "nope", m], "unknown dataset 'nope'"),
        (["eval", "--dataset", "nope", w], "unknown dataset 'nope'"),
        (["imp", "--rounds", "1", "--out", out, "--dataset", "nope", w], "unknown dataset 'nope'"),
        (["mask", "--rule", "nope", "--sparsity", "0.5", s], "'nope' is not one of"),
        # sparsities that are not a fraction in [0, 1)
        *[(["mask", "--sparsity", v, s], "--sparsity") for v in ("nan", "inf", "-0.1", "1")],
        (["score", "--method", "synflow", "--sparsity", "nan", w], "--sparsity"),
        (["score", "--method", "synflow", "--sparsity", "1", w], "--sparsity"),
        (["diff", "--sparsity", "nan", s, s], "sparsity"),
        (["imp", "--rounds", "1", "--rate", "nan", "--out", out, w], "rate"),
        # a method option the method does not take: named by its flag
        (["score", "--method", "magnitude", "--batch-size", "4", w], "--batch-size"),
        (["score", "--method", "snip", "--temperature", "2", w], "--temperature"),
        (["score", "--method", "grasp", "--rounds", "3", w], "--rounds"),
        (["score", "--method", "grasp", "--temperature", "-1", w], "temperature"),
    ]


def test_usage_mistakes_exit_2_with_one_message(files, tmp_path):
    for args, expected in _usage(files, tmp_path):
        result = invoke(args)
        assert result.exit_code == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert "_size" not in result.stderr, (args, result.stderr)  # a flag, never a field name
        assert not os.path.exists(tmp_path / "imp"), args


def test_a_method_option_error_lists_the_flags_the_method_takes(files):
    result = invoke(["score", "--method", "magnitude", "--batch-size", "4", files["weights"]])
    assert "--batch-size: not an option of method magnitude (its options: none)" in result.stderr
    result = invoke(["score", "--method", "grasp", "--rounds", "3", files["weights"]])
    assert "--rounds: not an option of method grasp (its options: --batch-size" in result.stderr


def test_bad_data_still_exits_1(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not an artifact")
    for args in (["shuffle", "--seed", "1", str(bad)], ["info", str(bad)]):
        result = invoke(args)
        assert result.exit_code == 1, args
        _one_line(result.stderr)


# --- --debug before or after the command name ------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_accepts_debug(command):
    result = invoke([command, "--debug", "--help"])
    assert result.exit_code == 0
    assert "--debug" in result.stdout


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_debug_shows_the_traceback_wherever_it_is_given(tmp_path, monkeypatch, where):
    missing = str(tmp_path / "missing.safetensors")
    args = {
        "before": ["--debug", "shuffle", "--seed", "1", missing],
        "after": ["shuffle", "--seed", "1", "--debug", missing],
        "env": ["shuffle", "--seed", "1", missing],
    }[where]
    if where == "env":
        monkeypatch.setenv("MASKKIT_DEBUG", "1")
    with pytest.raises(FormatError, match="no such file"):
        invoke(args)
    monkeypatch.delenv("MASKKIT_DEBUG", raising=False)
    quiet = [a for a in args if a != "--debug"]
    assert _one_line(invoke(quiet).stderr).endswith("missing.safetensors: no such file")


# --- python -m maskkit ---------------------------------------------------------------------------


def test_importing_maskkit_main_does_not_run_the_cli():
    code = "import maskkit.__main__; print('still running')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "still running\n"
    assert run_maskkit(["--version"]).stdout.startswith(b"maskkit, version ")
