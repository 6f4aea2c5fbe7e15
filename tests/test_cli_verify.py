"""maskkit verify: one line per file, exit 0 only when every file passes."""

from __future__ import annotations

import json

from tests.conftest import FIXTURES, invoke

VALID = sorted((FIXTURES / "format" / "valid").glob("*.safetensors"))
MANIFEST = json.loads((FIXTURES / "format" / "manifest.json").read_text())["files"]


def test_all_valid_fixtures_pass():
    result = invoke(["verify", *map(str, VALID)])
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == len(VALID) and all(line.startswith("ok    ") for line in lines)


def test_any_failure_fails_the_run_and_names_the_file():
    bad = FIXTURES / "format" / "invalid" / "hash_mismatch_mask.safetensors"
    result = invoke(["verify", str(VALID[0]), str(bad), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [r["ok"] for r in doc] == [True, False]
    assert doc[1]["error"] == "IntegrityError" and str(bad) in doc[1]["message"]


def test_every_invalid_fixture_reports_its_manifest_class():
    invalid = [e for e in MANIFEST if e["expect"] not in ("ok", "KindError")]
    result = invoke(["verify", "--json", *(str(FIXTURES / "format" / e["path"]) for e in invalid)])
    assert result.exit_code == 1
    assert [r["error"] for r in json.loads(result.stdout)] == [e["expect"] for e in invalid]


def test_reads_stdin():
    result = invoke(["verify", "-"], input=VALID[0].read_bytes())
    assert result.exit_code == 0 and result.stdout.startswith("ok    <stdin>:")
