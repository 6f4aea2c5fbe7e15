"""The reader against hostile inputs: devices, pipes, foreign files, strict JSON, printing."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import threading
import time

import pytest

from maskkit.errors import FormatError
from maskkit.format import Mask, ModelBinding, load, read_metadata
from maskkit.format.files import read_fileobj
from maskkit.format.metadata import parse_metadata
from maskkit.format.strict_json import nesting_depth
from maskkit_cli.printable import printable
from tests.conftest import FIXTURES, ROOT, invoke

MASK = FIXTURES / "format" / "valid" / "mask_bool.safetensors"


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("maskkit: error: "), (
        result.exit_code,
        result.stderr,
    )
    return lines[0]


def test_a_character_device_is_refused_before_it_is_read(tmp_path):
    zero = tmp_path / "zero"
    try:
        os.mknod(zero, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is
    except PermissionError:
        pytest.skip("making a device node needs root")
    start = time.monotonic()
    for call in (lambda: load(zero), lambda: read_metadata(zero)):
        with pytest.raises(FormatError, match="is a character device, not an artifact file"):
            call()
    for args in (["verify", str(zero)], ["info", str(zero)], ["diff", str(zero), str(MASK)]):
        result = invoke(args)
        text = result.stdout_bytes.decode() + result.stderr
        assert result.exit_code == 1 and "character device" in text and str(zero) in text
    assert time.monotonic() - start < 5


class Endless(io.RawIOBase):
    """A stream of zero bytes that never ends (stdin redirected from /dev/zero), counting reads."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = bytes(len(buffer))
        self.given += len(buffer)
        return len(buffer)


def test_an_endless_stream_is_read_only_as_far_as_its_header_announces():
    stream = Endless()
    with pytest.raises(FormatError, match="<stdin>"):
        read_fileobj(stream, name="<stdin>")
    assert stream.given <= 16


def _through_fifo(tmp_path, data: bytes) -> bytes | Exception:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        return load(fifo).content_hash
    except FormatError as exc:
        return exc
    finally:
        writer.join(10)


def test_a_pipe_is_read_to_the_end_of_its_data_and_must_end_there(tmp_path):
    data = MASK.read_bytes()
    assert _through_fifo(tmp_path, data) == load(MASK).content_hash
    (tmp_path / "in.fifo").unlink()
    refused = _through_fifo(tmp_path, data + b"more")
    assert isinstance(refused, FormatError) and "goes on past" in str(refused)
    (tmp_path / "in.fifo").unlink()
    short = _through_fifo(tmp_path, data[:-3])
    assert isinstance(short, FormatError) and "truncated" in str(short)


def test_a_pipe_reads_a_foreign_file_whole_for_convert():
    text = b"fc.weight 1 0 1\n" * 3
    assert read_fileobj(io.BytesIO(text), name="<stdin>", artifact=False) == text
    with pytest.raises(FormatError, match="not a safetensors file"):
        read_fileobj(io.BytesIO(text), name="<stdin>")


@pytest.mark.parametrize(
    ("path", "looks_like"),
    [
        ("interop/torch_prune_state_dict.pt", "zip archive"),
        ("interop/masks.npz", "zip archive"),
        ("interop/bad/text.pt", "text"),
        ("format/invalid/torch_zip.safetensors", "zip archive"),
    ],
)
def test_info_on_a_foreign_file_says_what_it_is_and_points_to_convert(path, looks_like):
    line = one_error_line(invoke(["info", str(FIXTURES / path)]))
    assert "not a safetensors file" in line and looks_like in line and "maskkit convert" in line
    assert "100 MB" not in line


def test_a_plain_safetensors_file_points_to_convert_with_a_model():
    line = one_error_line(
        invoke(["info", str(FIXTURES / "format/invalid/no_metadata.safetensors")])
    )
    assert "not a maskkit artifact" in line and "maskkit convert --model NAME" in line


def test_nesting_depth_ignores_brackets_inside_strings():
    assert nesting_depth('{"a": "[[[{{", "b": [1, [2, {"c": "]]]\\"["}]]}') == 4
    assert nesting_depth("[" * 100 + "]" * 100) == 100
    assert nesting_depth('"[[["') == 0


def test_printable_escapes_what_could_forge_output():
    assert printable("a\nmaskkit: error: x") == "a\\x0amaskkit: error: x"
    assert printable("\x1b[2J\x9b\u202eevil\ud800") == "\\x1b[2J\\x9b\\u202eevil\\ud800"
    assert printable("layer1.0.conv1.weight  µ █") == "layer1.0.conv1.weight  µ █"


def test_strings_from_a_file_are_escaped_in_reports_and_json_stays_valid(tmp_path):
    base = load(MASK)
    evil = "tiny\n\x1b[31mmaskkit: error: forged\u202e"
    mask = Mask(
        base.arrays,
        model=ModelBinding(evil, {"note": evil}, base.model.fingerprint),
        init=base.init,
        provenance=base.provenance,
    )
    path = tmp_path / "evil.safetensors"
    mask.save(path)
    for args in (["info", str(path)], ["info", "--header-only", str(path)], ["verify", str(path)]):
        out = invoke(args).stdout_bytes.decode()
        assert "\x1b" not in out and "\u202e" not in out and "\nmaskkit: error" not in out
    doc = json.loads(invoke(["info", "--json", str(path)]).stdout_bytes)
    assert doc["model"]["name"] == evil


def test_an_error_line_quoting_a_name_stays_one_line(tmp_path):
    path = tmp_path / "bad\nmaskkit: error: forged.safetensors"
    path.write_bytes(b"")
    line = one_error_line(invoke(["info", str(path)]))
    assert "\\x0amaskkit: error: forged" in line


def _spec_example() -> dict:
    text = (ROOT / "spec" / "format-v1.md").read_text()
    section = text[text.index("## 7. Example") : text.index("## 8.")]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.DOTALL).group(1))


def test_the_spec_example_parses_and_names_the_real_lenet300_layers():
    import maskkit

    meta = parse_metadata(_spec_example(), name="spec §7")
    weights = maskkit.init_weights("lenet300", seed=0)
    assert meta.model.name == "lenet300" and meta.kind == "mask"
    assert {n: c.shape for n, c in meta.layers.items()} == {
        n: tuple(weights.arrays[n].shape) for n in weights.prunable
    }
    assert meta.model.fingerprint == weights.model.fingerprint
    assert dict(meta.model.args) == dict(weights.model.args)


def test_the_null_fingerprint_rule():
    doc = _spec_example()
    doc["model"] = {"name": None, "args": {}, "fingerprint": doc["model"]["fingerprint"]}
    assert parse_metadata(doc, name="x").model.name is None  # a module scored directly
    doc["model"] = {"name": "lenet300", "args": {}, "fingerprint": None}
    with pytest.raises(FormatError, match=r"'model\.fingerprint' is null but 'model\.name' is set"):
        parse_metadata(doc, name="x")
    with pytest.raises(ValueError, match="needs its fingerprint"):
        ModelBinding("lenet300", {}, None)


def test_verify_reports_every_file_of_a_batch_with_a_hostile_one_among_them():
    invalid = FIXTURES / "format" / "invalid"
    files = [
        MASK,
        invalid / "deep_nesting_metadata.safetensors",
        invalid / "metadata_nan.safetensors",
        MASK,
    ]
    result = invoke(["verify", *map(str, files)])
    lines = result.stdout_bytes.decode().splitlines()
    assert result.exit_code == 1 and len(lines) == 4
    assert [line.split()[0] for line in lines] == ["ok", "FAIL", "FAIL", "ok"]


def test_stdin_from_a_character_device_is_refused_at_once(tmp_path):
    import subprocess
    import sys

    zero = tmp_path / "zero"
    try:
        os.mknod(zero, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("making a device node needs root")
    for command in (["info"], ["verify", "-"], ["convert", "--model", "lenet300"]):
        with open(zero, "rb") as stdin:
            done = subprocess.run(
                [sys.executable, "-m", "maskkit", *command],
                stdin=stdin,
                capture_output=True,
                text=True,
                timeout=60,
                cwd=ROOT,
            )
        text = done.stdout + done.stderr
        assert done.returncode == 1 and "<stdin>" in text, (command, text)
        assert len(done.stderr.strip().splitlines()) <= 1


def test_a_writer_refuses_what_a_reader_would_refuse():
    import numpy as np

    with pytest.raises(FormatError, match="control character"):
        Mask({"fc.weight\n": np.zeros(3, bool)}).to_bytes()
    from maskkit.format.container import build_header

    # (Through Mask.to_bytes the suite's schema check would refuse it first: the schema agrees.)
    with pytest.raises(FormatError, match="9 dimensions, more than 8"):
        build_header({}, [("w", "BOOL", (1,) * 9)])


def test_a_piped_foreign_file_is_refused_by_artifact_stages_and_read_by_convert():
    torch_file = (FIXTURES / "interop" / "torch_prune_state_dict.pt").read_bytes()
    for args in (["info"], ["shuffle", "--seed", "1"]):
        line = one_error_line(invoke(args, input=torch_file))
        assert (
            "<stdin>: not a safetensors file (a zip archive" in line and "maskkit convert" in line
        )
    verified = invoke(["verify", "-"], input=torch_file)
    assert verified.exit_code == 1 and "not a safetensors file" in verified.stdout_bytes.decode()
    converted = invoke(["convert"], input=torch_file)
    assert converted.exit_code == 0, converted.stderr
    assert load(converted.stdout_bytes, kind="mask").numel == 60
