"""The repository stands alone: nothing it ships points at notes kept outside it.

Design notes that live beside the checkout are not part of the project. What a contributor
needs from them is in ``docs/conventions.md``, ``docs/reference.md`` and ``CONTRIBUTING.md``;
code and docs point there instead.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

# Spelled in pieces so that this file would not match itself even outside tests/.
OUTSIDE = (
    "../" + "shared",
    "CONVENTIONS" + ".md",
    "REFERENCE" + ".md",
)


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name]


def test_no_tracked_file_outside_tests_cites_notes_outside_the_repo():
    found = []
    for name in tracked_files():
        if name.startswith("tests/"):
            continue
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        for line_number, line in enumerate(text.splitlines(), 1):
            for needle in OUTSIDE:
                if needle in line:  # case matters: docs/conventions.md is the in-repo page
                    found.append(f"{name}:{line_number}: {needle}")
    assert not found, "cite the in-repo docs (docs/, CONTRIBUTING.md) instead:\n" + "\n".join(found)


def test_the_in_repo_docs_exist_and_are_linked():
    for page in ("CONTRIBUTING.md", "docs/conventions.md", "docs/reference.md"):
        assert (ROOT / page).is_file(), page
    readme = (ROOT / "README.md").read_text()
    development = readme.split("## Development", 1)[1]
    assert "CONTRIBUTING.md" in development
