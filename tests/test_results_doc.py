"""RESULTS.md (and the README's summary) cannot drift from the committed result files.

Every generated block of the documents is re-rendered from docs/results/*.csv and run.json by
docs/results/make_results.py and must equal what the documents hold; the per-cell CSV must
agree with the report's CSV it sits beside; and the prose outside the blocks holds no number.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
DOC = ROOT / "RESULTS.md"

pytestmark = pytest.mark.skipif(not DOC.exists(), reason="RESULTS.md is not written yet")


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_results", RESULTS / "make_results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_results", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_results() -> ModuleType:
    return _module()


@pytest.fixture(scope="module")
def rendered(make_results: ModuleType) -> dict[str, str]:
    return make_results.render(RESULTS)


@pytest.mark.parametrize("document", ["RESULTS.md", "README.md"])
def test_every_generated_block_equals_its_rendering(
    make_results: ModuleType, rendered: dict[str, str], document: str
) -> None:
    held = make_results.blocks_in((ROOT / document).read_text())
    assert held, f"{document} has no generated block"
    for name, text in held.items():
        assert name in rendered, f"{document}: block {name!r} is not one make_results renders"
        assert text == rendered[name], (
            f"{document}: block {name!r} differs from the committed CSV files; "
            "run python docs/results/make_results.py"
        )


def test_results_md_shows_every_block(make_results: ModuleType, rendered: dict[str, str]) -> None:
    shown = set(make_results.blocks_in(DOC.read_text()))
    shown |= set(make_results.blocks_in((ROOT / "README.md").read_text()))
    assert set(rendered) == shown


def test_per_cell_csv_agrees_with_the_report_csv(make_results: ModuleType) -> None:
    from maskkit.report import stats

    nets = make_results.load_nets(RESULTS)
    assert nets
    for net in nets:
        for point_key, point in net.points.items():
            values = net.values.get(point_key, [])
            assert len(values) == point.n, (net.name, point_key)
            if values:
                assert stats.mean(values) == pytest.approx(point.mean, abs=1e-9)
            if len(values) > 1:
                assert stats.std(values) == pytest.approx(point.std, abs=1e-9)


def test_prose_outside_the_blocks_types_no_number(make_results: ModuleType) -> None:
    text = make_results.BLOCK.sub("", DOC.read_text())
    # names that contain digits but state no result
    for name in ("LeNet-300-100", "LeNet-5", "fc_layers.0.weight", "RESULTS.md", "ICLR 2021"):
        text = text.replace(name, "")
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets: file names
    text = re.sub(r"`[^`]*`", "", text)  # code: commands and file names
    digits = re.findall(r"[^\s]*\d[^\s]*", text)
    assert not digits, f"RESULTS.md types numbers outside its generated blocks: {digits[:10]}"


def test_the_figures_it_links_exist() -> None:
    for target in re.findall(r"\]\((docs/results/[^)]+)\)", DOC.read_text()):
        assert (ROOT / target).is_file(), target
