"""maskkit info: the content checked (or the header alone), shown for people and programs."""

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
    out = invoke(
        ["info", str(FIXTURES / "format/valid/mask_imported_unknown_model.safetensors")]
    ).stdout
    assert "model:       unknown (imported without a model)" in out
    assert "init:        unknown" in out


def test_bad_inputs_are_one_line_errors(tmp_path):
    cases = [
        ([str(tmp_path / "absent.safetensors")], None, "no such file"),
        ([str(tmp_path)], None, "is a directory"),
        ([], b"", "empty input: the upstream stage produced nothing"),
        ([str(FIXTURES / "format/invalid/unknown_major.safetensors")], None, "format version 2.0"),
        (
            [str(FIXTURES / "format/invalid/header_not_json.safetensors")],
            None,
            "header is not valid JSON",
        ),
    ]
    for args, stdin, message in cases:
        result = invoke(["info", *args], input=stdin)
        assert result.exit_code == 1, args
        assert result.stdout == ""
        assert result.stderr.startswith("maskkit: error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1


def flipped(tmp_path, source, name="flipped.safetensors", at=-1):
    """A copy of ``source`` with the lowest bit of one tensor data byte flipped."""
    data = bytearray(source.read_bytes())
    data[at] ^= 1
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


def test_a_flipped_bit_is_refused_with_verifys_message(tmp_path):
    weights = FIXTURES / "format" / "valid" / "weights.safetensors"
    packed = FIXTURES / "format" / "valid" / "mask_packbits.safetensors"
    # The last byte is tensor data in each: a bool (0 <-> 1), a packed byte, a float's sign/exponent.
    for source in (MASK, packed, weights):
        bad = flipped(tmp_path, source, name=source.name)
        checked = json.loads(invoke(["verify", "--json", str(bad)]).stdout)[0]
        assert checked["ok"] is False and checked["error"] == "IntegrityError"
        result = invoke(["info", str(bad)])
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr == f"maskkit: error: {checked['message']}\n"
        piped = invoke(["info", "--json"], input=bad.read_bytes())
        assert piped.exit_code == 1 and "<stdin>" in piped.stderr


def test_header_only_shows_the_recorded_counts_and_says_so_first(tmp_path):
    bad = flipped(tmp_path, MASK)
    result = invoke(["info", "--header-only", str(bad)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("content not checked (--header-only)")
    counts = independent_counts(MASK)  # the header still records the undamaged counts
    for name, (numel, kept) in counts.items():
        row = next(line for line in lines if line.startswith(name))
        assert row.split()[2:4] == [f"{numel:,}", f"{kept:,}"]
    assert any(line.startswith("content:") and line.endswith("(not checked)") for line in lines)
    doc = json.loads(invoke(["info", "--header-only", "--json"], input=bad.read_bytes()).stdout)
    assert doc["content_checked"] is False
    assert json.loads(invoke(["info", "--json", str(MASK)]).stdout)["content_checked"] is True
    assert "(checked)" in invoke(["info", str(MASK)]).stdout


def test_collapsed_layers_are_marked(tmp_path):
    from maskkit.format import Mask

    arrays = {"a": np.array([1, 0, 1], bool), "b": np.zeros((2, 2), bool), "c": np.zeros(5, bool)}
    path = tmp_path / "collapsed.safetensors"
    Mask(arrays).save(path)
    for flag in ([], ["--header-only"]):
        doc = json.loads(invoke(["info", "--json", *flag, str(path)]).stdout)
        assert doc["collapsed_layers"] == ["b", "c"]
        assert {x["name"]: x["collapsed"] for x in doc["layers"]} == {
            "a": False,
            "b": True,
            "c": True,
        }
    lines = invoke(["info", str(path)]).stdout.splitlines()
    assert "collapsed:   2 of 3 layers keep no weight (layer collapse): b, c" in lines
    assert next(line for line in lines if line.startswith("layer ")).split()[-1] == "note"
    rows = {line.split()[0]: line.split() for line in lines if line[:2] in ("a ", "b ", "c ")}
    assert (
        rows["b"][-1] == "collapsed" and rows["c"][-1] == "collapsed" and rows["a"][-1] == "66.67%"
    )
    Mask({"a": np.zeros(3, bool)}).save(path)
    out = invoke(["info", str(path)]).stdout
    assert "collapsed:   no layer keeps any weight (layer collapse)" in out
    # A mask without a collapsed layer has no note column.
    assert "note" not in invoke(["info", str(MASK)]).stdout


def imports_after(args):
    code = (
        "import sys\n"
        "from maskkit_cli.main import cli\n"
        f"sys.argv = ['maskkit', *{args!r}]\n"
        "try:\n    cli(prog_name='maskkit')\nexcept SystemExit:\n    pass\n"
        "print('numpy' in sys.modules, 'torch' in sys.modules, 'rich' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return result.stderr.split()


def test_info_never_imports_torch_and_header_only_not_numpy():
    # The content check reads the tensors with numpy, as verify does; the header alone needs neither.
    assert imports_after(["info", str(MASK)]) == ["True", "False", "False"]
    weights = FIXTURES / "format" / "valid" / "weights.safetensors"
    assert imports_after(["info", str(weights)]) == ["True", "False", "False"]
    assert imports_after(["info", "--header-only", str(MASK)]) == ["False", "False", "False"]
