"""maskkit info: the header, read without numpy or torch, shown for people and programs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import safetensors.numpy

from tests.conftest import FIXTURES, invoke

MASK = FIXTURES / "format" / "valid" / "mask_bool.safetensors"


def independent_counts(path):
    arrays = safetensors.numpy.load_file(str(path))
    return {name: (a.size, int(np.count_nonzero(a))) for name, a in arrays.items()}


def test_json_counts_match_the_tensors():
    result = invoke(["info", str(MASK), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    counts = independent_counts(MASK)
    assert {x["name"]: (x["numel"], x["kept"]) for x in doc["layers"]} == counts
    assert doc["kept"] == sum(k for _, k in counts.values())
    assert doc["kind"] == "mask" and doc["encoding"] == "bool" and doc["version"] == "1.0"
    assert [r["stage"] for r in doc["provenance"]] == ["init", "score", "mask"]
    assert doc["init"] == {"type": "seed", "seed": 7}


def test_plain_report_lists_provenance_and_layers():
    out = invoke(["info", str(MASK)]).stdout
    counts = independent_counts(MASK)
    lines = out.splitlines()
    assert "kind:        mask (bool encoding)" in lines
    assert any(line.startswith("  3. mask") and "sparsity=0.5" in line for line in lines)
    for name, (numel, kept) in counts.items():
        row = next(line for line in lines if line.startswith(name))
        assert row.split()[2:5] == [f"{numel:,}", f"{kept:,}", f"{kept / numel:.2%}"]


def test_terminal_report_draws_density_bars(monkeypatch):
    from maskkit_cli import report

    monkeypatch.setattr(report, "stdout_is_terminal", lambda: True)
    out = invoke(["info", str(MASK)]).stdout
    assert "█" in out and "conv.weight" in out


def test_reads_stdin_and_packbits():
    packed = FIXTURES / "format" / "valid" / "mask_packbits.safetensors"
    result = invoke(["info", "--json"], input=packed.read_bytes())
    doc = json.loads(result.stdout)
    assert doc["file"] == "<stdin>" and doc["encoding"] == "packbits"
    assert {x["name"]: (x["numel"], x["kept"]) for x in doc["layers"]} == independent_counts(MASK)


def test_imported_mask_says_the_model_is_unknown():
    out = invoke(["info", str(FIXTURES / "format/valid/mask_imported_unknown_model.safetensors")]).stdout
    assert "model:       unknown (imported without a model)" in out
    assert "init:        unknown" in out


def test_bad_inputs_are_one_line_errors(tmp_path):
    cases = [
        ([str(tmp_path / "absent.safetensors")], None, "no such file"),
        ([str(tmp_path)], None, "is a directory"),
        ([], b"", "empty input: the upstream stage produced nothing"),
        ([str(FIXTURES / "format/invalid/unknown_major.safetensors")], None, "format version 2.0"),
        ([str(FIXTURES / "format/invalid/header_not_json.safetensors")], None, "header is not valid JSON"),
    ]
    for args, stdin, message in cases:
        result = invoke(["info", *args], input=stdin)
        assert result.exit_code == 1, args
        assert result.stdout == ""
        assert result.stderr.startswith("maskkit: error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1


def test_info_imports_neither_numpy_nor_torch():
    code = (
        "import sys\n"
        "from maskkit_cli.main import cli\n"
        f"sys.argv = ['maskkit', 'info', {str(MASK)!r}]\n"
        "try:\n    cli(prog_name='maskkit')\nexcept SystemExit:\n    pass\n"
        "print('numpy' in sys.modules, 'torch' in sys.modules, 'rich' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.split() == ["False", "False", "False"]
