"""An init path read from a file's metadata is checked before it is used (issue: trust).

Only a regular file is opened, only the size its safetensors header announces is read, and a
file with other bytes is refused without echoing its digest. Every node lives in tmp_path.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from maskkit import stages
from maskkit.errors import FormatError, IntegrityError
from maskkit.format import InitRef, StageRecord, load
from maskkit.init_lookup import find_init_weights, read_regular_safetensors
from maskkit.start_weights import initial_model
from tests.conftest import ROOT, invoke
from tests.training_helpers import lenet_mask

DIGEST = "ab" * 32  # the digest the mask records: no file here has it


def pointing_at(path, sha256=DIGEST):
    """A mask whose init reference names ``path`` with SHA-256 ``sha256``."""
    mask = lenet_mask(0.5)
    return mask.derive(
        StageRecord.of("rewind", {}, input=mask), init=InitRef(sha256=sha256, path=str(path))
    )


def tiny_safetensors(payload: bytes = b"\x00" * 8) -> bytes:
    header = b'{"t":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' % (
        len(payload),
        len(payload),
    )
    return len(header).to_bytes(8, "little") + header + payload


def hex_runs(text: str, digest: str) -> list[str]:
    """Every 8-digit run of ``digest`` that appears in ``text``."""
    return [digest[i : i + 8] for i in range(0, 57) if digest[i : i + 8] in text]


def test_a_regular_file_with_other_bytes_does_not_match_and_its_digest_is_not_echoed(tmp_path):
    other = tmp_path / "secret.safetensors"
    other.write_bytes(b"root:x:0:0:secret line\n" * 40)  # not even safetensors
    stranger = tmp_path / "w.safetensors"
    stranger.write_bytes(tiny_safetensors(b"secrets!"))  # well-formed, other bytes
    for target in (other, stranger):
        with pytest.raises(FormatError) as caught:
            initial_model(pointing_at(target), source=str(tmp_path / "m.safetensors"))
        message = str(caught.value)
        assert str(target) in message and "\n" not in message
        assert hex_runs(message, hashlib.sha256(target.read_bytes()).hexdigest()) == []
    assert isinstance(caught.value, IntegrityError) and "does not match" in message
    assert DIGEST[:16] in message  # the mask's own record may be shown


def test_a_relative_path_out_of_the_folder_reads_nothing_it_can_echo(tmp_path):
    outside = tmp_path / "passwd"
    outside.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"x" * 300)
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    with pytest.raises(FormatError) as caught:
        initial_model(pointing_at("../../passwd"), source=str(folder / "m.safetensors"))
    message = str(caught.value)
    assert (
        "passwd" in message
        and hex_runs(message, hashlib.sha256(outside.read_bytes()).hexdigest()) == []
    )
    text = message.replace(str(tmp_path), "")
    assert "308" not in text and "300" not in text  # nor the file's size


def test_a_fifo_named_as_init_path_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    mask_path = tmp_path / "m.safetensors"
    pointing_at(fifo).save(mask_path)
    # In a child with a timeout: a regression would block in open() forever.
    code = textwrap.dedent(
        f"""
        from maskkit.format import load
        from maskkit.init_lookup import find_init_weights
        mask = load({str(mask_path)!r})
        try:
            find_init_weights(mask.init.sha256, mask.init.path, source={str(mask_path)!r})
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("FormatError") and "is a FIFO" in done.stdout, done.stdout


def test_train_refuses_a_fifo_init_path_in_one_line(tmp_path):
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    mask_path = tmp_path / "m.safetensors"
    pointing_at(fifo).save(mask_path)
    done = subprocess.run(
        [sys.executable, "-m", "maskkit", "train", str(mask_path), "--dataset", "synthetic",
         "--steps", "1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a FIFO" in lines[0] and "--weights" in lines[0], done.stderr


def test_a_character_device_is_refused_without_being_opened(tmp_path, monkeypatch):
    zero = tmp_path / "zero"
    try:
        os.mknod(zero, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("making a device node needs root")
    opened = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda p, *a, **k: opened.append(os.fspath(p)) or real_open(p, *a, **k)
    )
    with pytest.raises(FormatError, match="is a character device"):
        initial_model(pointing_at(zero), source="<stdin>")
    assert str(zero) not in opened


def test_a_symbolic_link_is_not_followed(tmp_path):
    real = tmp_path / "real.safetensors"
    weights = stages.init_weights("lenet300", seed=0)
    weights.save(real)
    link = tmp_path / "w.safetensors"
    link.symlink_to(real)
    digest = hashlib.sha256(real.read_bytes()).hexdigest()  # the link's target does match
    with pytest.raises(FormatError, match="symbolic link"):
        initial_model(pointing_at("w.safetensors", digest), source=str(tmp_path / "m.safetensors"))
    with pytest.raises(FormatError, match="symbolic link"):
        read_regular_safetensors(str(link))
    assert read_regular_safetensors(str(link), follow_symlinks=True) == real.read_bytes()


def test_a_file_larger_than_its_header_announces_is_refused_unread(tmp_path):
    good = tiny_safetensors()
    longer = tmp_path / "w.safetensors"
    longer.write_bytes(good + b"\x00" * 4096)
    with pytest.raises(FormatError, match="not the one its safetensors header announces"):
        read_regular_safetensors(str(longer))
    shorter = tmp_path / "s.safetensors"
    shorter.write_bytes(good[:-1])
    with pytest.raises(FormatError, match="not the one"):
        read_regular_safetensors(str(shorter))
    exact = tmp_path / "e.safetensors"
    exact.write_bytes(good)
    assert read_regular_safetensors(str(exact)) == good


def test_a_file_is_read_no_further_than_its_announced_size(tmp_path, monkeypatch):
    """A file that grows while being read (a log, a download) is refused, and the reader
    asks for at most the announced size plus one probe byte."""
    good = tiny_safetensors(b"\x01" * 100)
    path = tmp_path / "w.safetensors"
    path.write_bytes(good)
    asked = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: asked.append(n) or real_read(fd, n))
    assert read_regular_safetensors(str(path)) == good
    assert sum(asked) == len(good) + 1
    # The size at fstat was right, then a writer appended: the probe byte sees it.
    grown = [b"\x00"]
    monkeypatch.setattr(
        os, "read", lambda fd, n: grown.pop() if n == 1 and grown else real_read(fd, n)
    )
    with pytest.raises(FormatError, match="grew while being read"):
        read_regular_safetensors(str(path))


def test_header_length_and_header_text_are_checked_before_any_data_is_read(tmp_path):
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes((200_000_000).to_bytes(8, "little") + b"{}")
    with pytest.raises(FormatError, match="exceeds the 100 MB limit"):
        read_regular_safetensors(str(huge))
    deep = tmp_path / "deep.safetensors"
    header = b"[" * 100_000 + b"]" * 100_000
    deep.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(FormatError, match="not a safetensors file"):
        read_regular_safetensors(str(deep))
    for name in ("w\0.safetensors", "w\udc80.safetensors", ""):
        with pytest.raises(FormatError):
            read_regular_safetensors(str(tmp_path / name) if name else name)


def test_a_path_with_control_characters_is_shown_escaped(tmp_path):
    with pytest.raises(FormatError) as caught:
        find_init_weights(DIGEST, "w\n\x1b[31m.safetensors", source=str(tmp_path / "m.safetensors"))
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and "\\x1b" in message


def test_the_cli_names_its_options_and_the_library_its_parameters(tmp_path):
    mask_path = tmp_path / "m.safetensors"
    pointing_at("gone.safetensors").save(mask_path)
    with pytest.raises(FormatError) as caught:
        initial_model(load(str(mask_path)), source=str(mask_path))
    assert "weights=" in str(caught.value) and "--weights" not in str(caught.value)
    result = invoke(["eval", str(mask_path), "--dataset", "synthetic"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--weights" in lines[0] and "--weights-dir" in lines[0], (
        result.stderr
    )
    assert "gone.safetensors: no such file" in lines[0]
