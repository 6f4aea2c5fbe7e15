"""Where ``-o`` writes: devices, FIFOs and /dev/fd/N are written into, symlinks keep their link.

Every node here is made inside ``tmp_path``: a null and a full character device (the numbers of
/dev/null and /dev/full), a FIFO, symlinks; descriptors come from pipes and a pseudo-terminal. Making device nodes
needs root (the usual case in containers); without it those tests are skipped.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading

import pytest

from maskkit.errors import MaskkitError
from maskkit.format import load, write_atomic
from maskkit.format.files import destination
from tests.conftest import invoke

NULL, FULL = os.makedev(1, 3), os.makedev(1, 7)
#: An unassigned block major ("local/experimental use"): opening it finds no device.
NO_SUCH_BLOCK = os.makedev(240, 0)


def _node(path, kind: int, rdev: int):
    try:
        os.mknod(path, kind | 0o666, rdev)
    except PermissionError:
        pytest.skip("making device nodes needs root")
    return path


def _assert_char_device(path, rdev: int) -> None:
    st = os.lstat(path)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == rdev


@pytest.fixture(scope="module")
def mask(tmp_path_factory):
    """A small mask file and the bytes ``shuffle --seed 1`` makes of it (written to a file)."""
    folder = tmp_path_factory.mktemp("mask")
    scores = invoke(["score", "--model", "lenet5", "--method", "random"]).stdout_bytes
    path = folder / "m.safetensors"
    assert invoke(["mask", "--sparsity", "0.5", "-o", str(path)], input=scores).exit_code == 0
    reference = folder / "shuffled.safetensors"
    assert invoke(["shuffle", "--seed", "1", str(path), "-o", str(reference)]).exit_code == 0
    expected = reference.read_bytes()
    assert load(expected, kind="mask").provenance[-1].stage == "shuffle"
    return path, expected


def _shuffle_to(mask_path, out) -> object:
    return invoke(["shuffle", "--seed", "1", str(mask_path), "-o", str(out)])


def test_a_null_device_is_written_into_and_stays_a_device(tmp_path, mask):
    null = _node(tmp_path / "null", stat.S_IFCHR, NULL)
    result = _shuffle_to(mask[0], null)
    assert result.exit_code == 0, result.stderr
    _assert_char_device(null, NULL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary file


def test_a_full_device_is_a_one_line_error_and_stays_a_device(tmp_path, mask):
    full = _node(tmp_path / "full", stat.S_IFCHR, FULL)
    result = _shuffle_to(mask[0], full)
    assert result.exit_code == 1
    assert result.stderr == f"maskkit: error: {full}: cannot write: No space left on device\n"
    _assert_char_device(full, FULL)


def test_a_fifo_reader_gets_the_complete_artifact(tmp_path, mask):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = _shuffle_to(mask[0], fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert got == [mask[1]]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_keeps_its_link_and_its_target_is_replaced(tmp_path, mask):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real.safetensors"
    target.write_bytes(b"old content")
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "out.safetensors"
    link.symlink_to("../store/real.safetensors")  # relative to the link's own folder
    result = _shuffle_to(mask[0], link)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == "../store/real.safetensors"
    assert target.read_bytes() == mask[1]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["real.safetensors"]
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["out.safetensors"]


def test_a_dangling_symlink_gets_its_target_created(tmp_path, mask):
    link = tmp_path / "out.safetensors"
    link.symlink_to("new.safetensors")
    assert _shuffle_to(mask[0], link).exit_code == 0
    assert link.is_symlink() and (tmp_path / "new.safetensors").read_bytes() == mask[1]


def test_a_symlink_to_a_device_writes_into_the_device(tmp_path, mask):
    null = _node(tmp_path / "null", stat.S_IFCHR, NULL)
    link = tmp_path / "out"
    link.symlink_to("null")
    assert _shuffle_to(mask[0], link).exit_code == 0
    assert link.is_symlink()
    _assert_char_device(null, NULL)


def test_a_block_device_is_refused_before_any_work(tmp_path):
    block = _node(tmp_path / "disk", stat.S_IFBLK, NO_SUCH_BLOCK)
    # No input at all: the output is checked before the input is read.
    result = invoke(["shuffle", "--seed", "1", "-o", str(block)], input=b"")
    assert result.exit_code == 1
    assert result.stderr == (
        f"maskkit: error: {block}: is a block device; refusing to write an artifact over it\n"
    )
    st = os.lstat(block)
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == NO_SUCH_BLOCK


def test_a_terminal_is_refused(mask):
    """A pseudo-terminal's descriptor as /dev/fd/N: binary never goes to a terminal."""
    master, slave = os.openpty()
    try:
        # Drain the terminal so that a wrongly accepted write could not block the test.
        threading.Thread(target=lambda: _drain(master), daemon=True).start()
        result = _shuffle_to(mask[0], f"/dev/fd/{slave}")
        assert result.exit_code == 1
        assert result.stderr == (
            f"maskkit: error: /dev/fd/{slave}: is a terminal; refusing to write a binary "
            "artifact to it\n"
        )
    finally:
        os.close(slave)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 1 << 16):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_closed_descriptor_is_refused_before_any_work():
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)  # now certainly not open in this process
    result = invoke(["shuffle", "--seed", "1", "-o", f"/dev/fd/{write_end}"], input=b"")
    assert result.exit_code == 1
    assert result.stderr == (
        f"maskkit: error: /dev/fd/{write_end}: cannot write: {write_end} is not an open descriptor\n"
    )


def _run(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "maskkit", *args], **kwargs)


def test_dev_fd_n_writes_into_the_inherited_descriptor(tmp_path, mask):
    """What ``-o >(wc -c)`` gives maskkit: the write end of a pipe as /dev/fd/N."""
    read_end, write_end = os.pipe()
    proc = _run(
        ["shuffle", "--seed", "1", str(mask[0]), "-o", f"/dev/fd/{write_end}"],
        pass_fds=(write_end,),
        stderr=subprocess.PIPE,
    )
    os.close(write_end)  # the child's copy is now the only writer: EOF when it ends
    with os.fdopen(read_end, "rb") as reader:
        got = reader.read()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert got == mask[1]


def test_a_symlink_to_proc_self_fd_1_is_this_processes_stdout(tmp_path, mask):
    """Like ``-o /dev/stdout``, with the link made in tmp_path: the bytes come out of stdout."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    proc = _run(
        ["shuffle", "--seed", "1", str(mask[0]), "-o", str(link)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert out == mask[1]
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


# The library function every writer of files goes through (artifacts, imp, checkpoints).


def test_write_atomic_names_the_path_when_a_device_is_full(tmp_path):
    full = _node(tmp_path / "full", stat.S_IFCHR, FULL)
    with pytest.raises(OSError) as err:
        write_atomic(full, [b"x" * 10])
    assert err.value.filename == str(full) and err.value.strerror == "No space left on device"
    _assert_char_device(full, FULL)


def test_write_atomic_writes_big_chunks_completely_into_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    chunks = [bytes(range(256)) * 1000, memoryview(b"tail" * 50_000)]
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, chunks)
    reader.join(timeout=30)
    assert got == [b"".join(bytes(c) for c in chunks)]


def test_destination_of_each_kind_of_path(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "link").symlink_to("file")
    (tmp_path / "loop").symlink_to("loop")
    assert destination(tmp_path / "new") == destination(str(tmp_path / "new"))
    assert not destination(tmp_path / "new").through
    assert destination(tmp_path / "link").path == os.path.join(str(tmp_path), "file")
    assert destination("/dev/fd/7").fd == 7 and destination("/proc/self/fd/3").through
    assert destination(f"/proc/{os.getpid()}/fd/4").fd == 4
    assert destination("/proc/1/fd/4").fd is None  # another process's: opened by path
    with pytest.raises(MaskkitError, match="is a directory"):
        destination(tmp_path)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        destination(tmp_path / "loop")


def test_every_file_is_written_through_write_atomic():
    """One place decides how a path is written: no other module renames or writes files.

    (A lock file opened with O_CREAT holds no content and is not looked for.)
    """
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    writes = re.compile(
        r"os\.replace|os\.rename|mkstemp|NamedTemporaryFile|\.write_(?:text|bytes)\("
        r"|open\([^)]*['\"][wax]b?\+?['\"]|torch\.save\([^)]*(?:path|file)"
    )
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("maskkit", "cli")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "maskkit" / "format" / "files.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if writes.search(line) and "doctest: +SKIP" not in line
    ]
    assert found == []
