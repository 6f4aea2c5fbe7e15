"""maskkit convert: foreign masks in and out through files, pipes and the model binding."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest
import torch

from maskkit.format import load
from tests.conftest import FIXTURES, ROOT, invoke, run_maskkit

HERE = FIXTURES / "interop"
EXPECTED = json.loads((HERE / "expected.json").read_text())["files"]
GOOD = sorted(p for p, e in EXPECTED.items() if "layout" in e)
BAD = sorted(p for p, e in EXPECTED.items() if "error" in e)
TINY = [
    "--model",
    "lenet300",
    "--model-arg",
    "hidden=[6,4]",
    "--input-shape",
    "1,2,2",
    "--num-classes",
    "3",
]


def bits(mask) -> dict:
    return {
        n: {"shape": list(a.shape), "bits": "".join("1" if b else "0" for b in a.reshape(-1))}
        for n, a in mask.arrays.items()
    }


def test_help_has_an_example_section_and_lists_the_layouts():
    result = invoke(["convert", "--help"])
    assert result.exit_code == 0
    text = result.stdout
    assert "\nExample:\n" in text.replace("  ", "")
    assert "maskkit convert" in text.split("Example:")[1]
    for name in ("torch-prune", "openlth", "ao", "safetensors", "npz", "maskkit"):
        assert name in text


def test_help_imports_neither_torch_nor_numpy():
    code = (
        "import sys; from click.testing import CliRunner; from maskkit_cli.main import cli; "
        "r = CliRunner().invoke(cli, ['convert', '--help']); assert r.exit_code == 0; "
        "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", GOOD)
def test_every_layout_converts_to_a_v1_mask_on_stdout(path):
    result = invoke(["convert", str(HERE / path)])
    assert result.exit_code == 0, result.stderr
    mask = load(result.stdout_bytes, kind="mask")
    assert bits(mask) == EXPECTED[path]["masks"]
    assert mask.model.name is None
    record = mask.provenance[-1]
    assert record.stage == "convert" and record.options["from"] == EXPECTED[path]["layout"]
    assert f"({EXPECTED[path]['layout']}) -> maskkit" in result.stderr


def test_writes_atomically_to_a_file_with_the_provenance(tmp_path):
    src = HERE / "ao_sparsifier.pt"
    out = tmp_path / "m.safetensors"
    result = invoke(["convert", str(src), "--from", "ao", "-o", str(out), *TINY])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    mask = load(out, kind="mask")
    assert mask.model.name == "lenet300"
    assert mask.model.args == {"hidden": [6, 4], "input_shape": [1, 2, 2], "num_classes": 3}
    digest = __import__("hashlib").sha256(src.read_bytes()).hexdigest()
    assert mask.provenance[-1].options == {"from": "ao", "input_sha256": digest, "missing": "error"}
    assert mask.provenance[-1].input == f"sha256:{digest}"


def test_stdin_to_stdout_and_packbits():
    data = (HERE / "masks.npz").read_bytes()
    result = invoke(["convert", "-", "--encoding", "packbits"], input=data)
    assert result.exit_code == 0, result.stderr
    mask = load(result.stdout_bytes, kind="mask")
    assert mask.encoding == "packbits" and bits(mask) == EXPECTED["masks.npz"]["masks"]
    assert "<stdin> (npz)" in result.stderr


def test_an_openlth_folder_as_input():
    result = invoke(["convert", str(HERE / "openlth"), *TINY])
    assert result.exit_code == 0, result.stderr
    assert bits(load(result.stdout_bytes)) == EXPECTED["openlth/mask.pth"]["masks"]


def test_export_torch_prune_and_openlth_round_trip(tmp_path):
    first = load(invoke(["convert", str(HERE / "torch_prune_wrapped.pt")]).stdout_bytes)
    src = tmp_path / "m.safetensors"
    first.save(src)

    pt = tmp_path / "mask.pt"
    assert invoke(["convert", str(src), "--to", "torch-prune", "-o", str(pt)]).exit_code == 0
    loaded = torch.load(pt, weights_only=True)
    assert sorted(loaded) == sorted(f"{n}_mask" for n in first.arrays)

    folder = tmp_path / "level_1" / "main"
    assert invoke(["convert", str(src), "--to", "openlth", "-o", str(folder)]).exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["mask.pth", "sparsity_report.json"]

    single = invoke(["convert", str(src), "--to", "openlth"])  # stdout: mask.pth alone
    assert single.stdout_bytes == (folder / "mask.pth").read_bytes()
    file_out = tmp_path / "alone.pth"
    assert invoke(["convert", str(src), "--to", "openlth", "-o", str(file_out)]).exit_code == 0
    assert file_out.read_bytes() == single.stdout_bytes

    for exported in (pt, folder, file_out):
        again = load(invoke(["convert", str(exported)]).stdout_bytes)
        assert again.content_hash == first.content_hash


def test_export_of_a_foreign_file_directly():
    result = invoke(["convert", str(HERE / "masks.safetensors"), "--to", "torch-prune"])
    loaded = torch.load(io.BytesIO(result.stdout_bytes), weights_only=True)
    expected = EXPECTED["masks.safetensors"]["masks"]
    for name, entry in expected.items():
        flat = loaded[f"{name}_mask"].reshape(-1).tolist()
        assert "".join("1" if v else "0" for v in flat) == entry["bits"]


def test_real_pipeline_between_processes(tmp_path):
    out = tmp_path / "back.pth"
    command = (
        f"{sys.executable} -m maskkit convert {HERE / 'torch_prune_state_dict.pt'} "
        f"| {sys.executable} -m maskkit convert - --model lenet300 --model-arg hidden=[6,4] "
        "--input-shape 1,2,2 --num-classes 3 "
        f"| {sys.executable} -m maskkit convert --to openlth > {out}"
    )
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    loaded = torch.load(out, weights_only=True)
    expected = EXPECTED["torch_prune_state_dict.pt"]["masks"]
    assert {n: "".join(str(int(v)) for v in t.reshape(-1)) for n, t in loaded.items()} == {
        n: e["bits"] for n, e in expected.items()
    }


def _run_on_terminal(args, *, stdin_tty: bool, stdout_tty: bool):
    """Run maskkit with stdin and/or stdout on a pseudo-terminal; (exit code, stdout, stderr)."""
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "maskkit", *args],
            stdin=terminal if stdin_tty else subprocess.DEVNULL,
            stdout=terminal if stdout_tty else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    return done.returncode, done.stdout or b"", done.stderr.decode()


def test_refuses_a_terminal_stdout():
    for extra in ([], ["--to", "torch-prune"], ["--to", "openlth"]):
        code, _, err = _run_on_terminal(
            ["convert", str(HERE / "masks.npz"), *extra], stdin_tty=False, stdout_tty=True
        )
        assert code == 1 and "refusing to write a binary artifact to a terminal" in err


def test_refuses_a_terminal_stdin_and_an_empty_pipe():
    code, out, err = _run_on_terminal(["convert"], stdin_tty=True, stdout_tty=False)
    assert code == 1 and "refusing to read binary from a terminal" in err and out == b""
    done = run_maskkit(["convert"], input=b"")
    assert (
        done.returncode == 1 and b"empty input: the upstream stage produced nothing" in done.stderr
    )


@pytest.mark.parametrize("path", BAD)
def test_bad_files_exit_1_with_one_line_and_write_nothing(tmp_path, path):
    out = tmp_path / "out.safetensors"
    result = invoke(["convert", str(HERE / path), "-o", str(out)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"maskkit: error: {HERE / path}: ")
    assert EXPECTED[path]["message"] in lines[0]
    assert list(tmp_path.iterdir()) == []
    assert "Traceback" not in result.stderr


def test_an_existing_output_survives_an_error(tmp_path):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"previous")
    folder = tmp_path / "lth"
    for args in (
        [str(HERE / "bad" / "value_two.pth"), "-o", str(out)],
        [str(HERE / "masks.npz"), "-o", str(out), "--model", "lenet300"],
        [str(HERE / "bad" / "soft_mask.pt"), "--to", "openlth", "-o", str(folder)],
    ):
        result = invoke(["convert", *args])
        assert result.exit_code == 1, args
        assert result.stdout_bytes == b""
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_model_mismatch_lists_the_layers():
    result = invoke(["convert", str(HERE / "masks.npz"), "--model", "lenet300"])
    assert result.exit_code == 1 and result.stdout_bytes == b""
    line = result.stderr.strip()
    assert line.startswith(
        f"maskkit: error: {HERE / 'masks.npz'}: the mask does not fit model lenet300: "
    )
    assert "fc.weight [3, 4] vs model [10, 100]" in line
    assert "fc_layers.0.weight [6, 4] vs model [300, 784]" in line


def test_missing_keep_fills_layers_with_ones(tmp_path):
    npz = tmp_path / "two.npz"
    two = {n: np.ones(e["shape"], np.uint8) for n, e in EXPECTED["masks.npz"]["masks"].items()}
    del two["fc.weight"]
    np.savez(npz, **two)
    assert invoke(["convert", str(npz), *TINY]).exit_code == 1
    result = invoke(["convert", str(npz), *TINY, "--missing", "keep"])
    assert result.exit_code == 0, result.stderr
    assert load(result.stdout_bytes).arrays["fc.weight"].all()


def test_explicit_from_that_does_not_fit(tmp_path):
    result = invoke(["convert", str(HERE / "masks.npz"), "--from", "torch-prune"])
    assert result.exit_code == 1 and "not a torch file" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--to", "torch-prune", "--encoding", "packbits"],
        ["--missing", "keep"],
        ["--num-classes", "3"],
        ["--from", "keras"],
        ["--to", "maskkit", "--missing", "omit"],
    ],
)
def test_usage_errors_exit_2(args):
    result = invoke(["convert", str(HERE / "masks.npz"), *args])
    assert result.exit_code == 2


def test_openlth_output_that_is_a_file(tmp_path):
    taken = tmp_path / "taken"
    taken.write_bytes(b"x")
    result = invoke(["convert", str(HERE / "masks.npz"), "--to", "openlth", "-o", str(taken)])
    assert result.exit_code == 1 and "exists and is not a folder" in result.stderr
    assert taken.read_bytes() == b"x"
