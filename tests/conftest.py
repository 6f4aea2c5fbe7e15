"""Shared test helpers: paths, a CLI runner, and small artifacts built by hand."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# Many tiny convolutions run far slower on 2 threads than on 1 when several processes share
# the machine; tests measure behaviour, not speed.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def every_artifact_written_matches_the_schema():
    """Validate the metadata of every artifact the suite serialises against the JSON schema.

    ``Artifact.chunks`` is the one exit point of ``save``, ``to_bytes`` and the CLI's output,
    so spec and code cannot drift unnoticed: a document the schema rejects fails the test that
    wrote it. Subprocesses are covered through :func:`run_maskkit`'s stdout.
    """
    from maskkit.format.artifact import Artifact

    original = Artifact.chunks

    def checked(self: Artifact) -> list:
        check_metadata_document(json.loads(self.metadata.to_json()), f"a {self.kind} artifact")
        return original(self)

    Artifact.chunks = checked  # type: ignore[method-assign]
    try:
        yield
    finally:
        Artifact.chunks = original  # type: ignore[method-assign]


_VALIDATOR = None


def check_metadata_document(doc: object, where: str) -> None:
    """AssertionError naming the first place where ``doc`` breaks spec/metadata-v1.schema.json."""
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema

        schema = json.loads((ROOT / "spec" / "metadata-v1.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        _VALIDATOR = jsonschema.Draft202012Validator(schema)
    errors = sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        at = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise AssertionError(
            f"{where} breaks spec/metadata-v1.schema.json at {at}: {first.message} "
            f"({len(errors)} problem(s))"
        )


def check_artifact_bytes(data: bytes, where: str) -> None:
    """Schema-check ``data`` if it is a maskkit artifact (anything else is left alone)."""
    if len(data) < 8:
        return
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        return
    try:
        header = json.loads(data[8 : 8 + size])
        doc = json.loads(header["__metadata__"]["maskkit"])
    except (ValueError, KeyError, TypeError):
        return
    check_metadata_document(doc, where)


def invoke(args: list[str], input: bytes | None = None):
    """Run the maskkit CLI in-process; stdout as bytes, stderr as text."""
    from maskkit_cli.main import cli

    runner = CliRunner()
    return runner.invoke(cli, args, input=input, catch_exceptions=False)


def run_maskkit(
    args: list[str], input: bytes | None = None, cwd: Path | None = None, check: bool = False
):
    """Run the installed CLI in a real subprocess (pipes, exit codes, imports).

    An artifact it writes to stdout is checked against the schema.
    """
    result = subprocess.run(
        [sys.executable, "-m", "maskkit", *args],
        input=input,
        capture_output=True,
        cwd=cwd,
        check=check,
    )
    check_artifact_bytes(result.stdout, f"the stdout of maskkit {' '.join(map(str, args))}")
    return result


def random_mask_arrays(
    shapes: dict[str, tuple[int, ...]], density: float, seed: int
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.random(shape) < density for name, shape in shapes.items()}
