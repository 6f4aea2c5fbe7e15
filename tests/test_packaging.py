"""The distribution: every package is installed, and the light paths stay light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_every_package_folder_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = config["package-dir"]
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "maskkit").rglob("__init__.py")
    }
    found |= {
        "maskkit_cli"
        + "".join("." + part for part in p.parent.relative_to(ROOT / dirs["maskkit_cli"]).parts)
        for p in (ROOT / dirs["maskkit_cli"]).rglob("__init__.py")
    }
    assert found == listed


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_library_imports_without_click_rich_torch_or_numpy():
    modules = imported_after("import maskkit, maskkit.format, maskkit.data, maskkit.training")
    assert not modules & {"click", "rich", "torch", "numpy"}


def test_help_does_not_import_torch():
    code = (
        "import sys, io, contextlib\n"
        "from maskkit_cli.main import cli\n"
        "sys.argv = ['maskkit', '--help']\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli(prog_name='maskkit')\n"
    )
    assert "torch" not in imported_after(code)


def test_mask_and_shuffle_stages_do_not_import_torch(tmp_path):
    # The stages after score need numpy only; torch's import would cost each pipeline stage
    # seconds of CPU.
    from maskkit import stages

    scores = tmp_path / "s.safetensors"
    stages.score(stages.init_weights("lenet5", seed=0), "random").save(scores)
    code = (
        "import sys, io, contextlib\n"
        "from maskkit_cli.main import cli\n"
        f"for args in (['mask', '--sparsity', '0.9', {str(scores)!r}, '-o', {str(tmp_path / 'm')!r}],\n"
        f"             ['shuffle', '--seed', '1', {str(tmp_path / 'm')!r}, '-o', {str(tmp_path / 'x')!r}]):\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        cli(args, prog_name='maskkit')\n"
    )
    modules = imported_after(code)
    assert "maskkit.masking.select" in modules and "maskkit.ablations.shuffle" in modules
    assert not any(m == "torch" or m.startswith("torch.") for m in modules)
    assert (tmp_path / "x").exists()
