"""Performance guards: every benchmark starts as the README runs it, training never imports
torch._dynamo, and only the artifact stages fix glibc's mmap threshold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.relative_to(ROOT) for p in (ROOT / "benchmarks").glob("bench_*.py"))


def clean_env() -> dict[str, str]:
    # As a user runs them: no PYTHONPATH pointing at the repo, no debugging switches.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MASKKIT_DEBUG")}


def test_every_benchmark_starts_as_the_readme_says():
    readme = (ROOT / "README.md").read_text()
    assert "python benchmarks/bench_*.py" in readme
    # All at once: each pays its imports (torch for most), the whole point of the check.
    procs = {
        script: subprocess.Popen(
            [sys.executable, str(script), "--help"],
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script in SCRIPTS
    }
    failures = []
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0 or "usage:" not in out:
            failures.append(f"{script}: exit {proc.returncode}: {err.strip()[-300:]}")
        if script.stem not in readme:
            failures.append(f"{script}: not named in the README's benchmark section")
    assert len(SCRIPTS) >= 8
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_bench_cli_quick_run_checks_both_sides_write_the_same_content():
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_cli.py", "--quick"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "same content written: yes" in proc.stdout
    for row in ("train lenet300", "train resnet20", "score synflow", "mask ", "info ", "diff "):
        assert row in proc.stdout
    assert "1 MiB forced" in proc.stdout and "setting off" in proc.stdout


def test_a_training_stage_does_not_import_torch_dynamo(tmp_path):
    import maskkit

    weights = tmp_path / "w.safetensors"
    maskkit.init_weights("lenet300", seed=0).save(weights)
    argv = [
        sys.executable, "-X", "importtime", "-m", "maskkit", "train", str(weights),
        "--dataset", "synthetic", "--data-option", "train_size=128", "--data-option",
        "test_size=32", "--steps", "2", "--batch-size", "64", "--momentum", "0.9",
        "--no-progress", "-o", str(tmp_path / "t.safetensors"),
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=tmp_path, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "torch.optim.sgd" in imported  # the listing is real: the optimizer was imported
    assert (tmp_path / "t.safetensors").stat().st_size > 0  # and it stepped and wrote weights
    assert not {m for m in imported if m.startswith("torch._dynamo")}


@pytest.mark.parametrize(
    ("argv", "fixed"),
    [
        (["mask", "--sparsity", "0.9"], True),
        (["--debug", "shuffle", "--seed", "1"], True),
        (["info", "m.safetensors"], True),
        (["train", "--epochs", "1"], False),
        (["score", "--method", "synflow"], False),
        (["imp", "--rounds", "2"], False),
        (["eval"], False),
        (["experiment", "grid.toml"], False),  # nor its workers, which inherit it
        (["--version"], False),
        ([], False),
    ],
)
def test_only_artifact_stages_fix_the_mmap_threshold(monkeypatch, argv, fixed):
    from maskkit_cli import main

    calls = []
    monkeypatch.setattr(main, "set_mmap_threshold", calls.append)
    main._return_freed_memory_early(argv)
    assert calls == ([1 << 20] if fixed else [])


@pytest.mark.parametrize(
    "values",
    [[], [1.0, 2.0], [-np.inf], [np.nan, -np.inf, 3.0, -np.inf], [np.inf, np.nan], [-0.0, -np.inf]],
)
def test_fast_neginf_count_and_nan_check_agree_with_numpy(values):
    from maskkit.format.tensors import has_nan, neginf_count

    a = np.array(values, dtype=np.float32)
    assert neginf_count(a) == int(np.isneginf(a).sum())
    assert has_nan(a) == bool(np.isnan(a).any())
