"""The method registry, options records, input checks and the spec page of every method."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pytest
import torch
from torch import nn

from maskkit.errors import DataError, ModelMismatchError, OptionError
from maskkit.pruners import METHODS, Method, compute_scores, get_method, known_methods
from tests.conftest import invoke
from tests.test_docs import section, table_rows

SPEC = pathlib.Path(__file__).resolve().parent.parent / "spec" / "methods"


def test_known_methods():
    # Every registered method has a page and every page a method: the pages are the list.
    pages = sorted(p.stem for p in SPEC.glob("*.md"))
    assert sorted(known_methods()) == pages
    assert known_methods() == METHODS.names()  # registration order
    for name in known_methods():
        method = get_method(name)
        assert isinstance(method, Method) and method.name == name
        assert get_method(name) is method
    assert {m for m in known_methods() if get_method(m).needs_data} >= {"snip", "grasp"}
    assert [m for m in known_methods() if get_method(m).needs_input_shape] == ["synflow"]


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(OptionError) as err:
        get_method("snipp")
    assert str(err.value) == f"unknown pruning method 'snipp'; known: {', '.join(known_methods())}"


def spec_default(value: object) -> str:
    """How a page's options table writes a default: `required`, a bare number, or `text`."""
    if value is dataclasses.MISSING:
        return "required"
    return f"`{value}`" if isinstance(value, str) else str(value)


@pytest.mark.parametrize("name", known_methods())
def test_every_method_has_a_spec_page_naming_its_options_and_defaults(name):
    check_spec_page(name)


def check_spec_page(name: str) -> None:
    path = SPEC / f"{name}.md"
    assert path.is_file(), f"registered method {name!r} has no page {path}"
    page = path.read_text()
    assert page.startswith(f"# Scoring method `{name}`")
    for header in ("- **Version:** ", "- **Status:** ", "## Change log"):
        assert header in page, f"{name}.md lacks {header!r}"
    fields = dataclasses.fields(get_method(name).Options)
    rows = table_rows(section(page, "Options"))
    assert sorted(rows) == sorted(f.name for f in fields), f"{name}.md options table"
    for f in fields:
        assert f.metadata.get("help"), f"{name}.{f.name} has no help text"
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        assert rows[f.name][1] == spec_default(default), f"{name}.{f.name}: {rows[f.name]}"


def test_options_records():
    snip = get_method("snip")
    opts = snip.make_options({"batch_size": 100})
    assert opts.to_dict() == {
        "batch_size": 100,
        "batching": "near-equal",
        "combine": "mean",
        "batchnorm": "train",
    }
    assert snip.make_options(opts) is opts
    assert snip.make_options(None).batch_size == 256
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.batch_size = 3  # type: ignore[misc]
    with pytest.raises(OptionError, match=r"unknown option.*bs.*known: batch_size, batching"):
        snip.make_options({"bs": 1})
    with pytest.raises(OptionError, match="mapping"):
        snip.make_options(3)
    with pytest.raises(OptionError, match="batch_size"):
        snip.make_options({"batch_size": True})
    assert get_method("magnitude").make_options({}).to_dict() == {}


def test_input_checks():
    net = nn.Sequential(nn.Linear(3, 2))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ModelMismatchError, match=r"no parameter named 'fc\.weight'"):
        compute_scores(net, "magnitude", ["fc.weight"])
    with pytest.raises(OptionError, match="twice"):
        compute_scores(net, "magnitude", ["0.weight", "0.weight"])
    with pytest.raises(OptionError, match="no prunable"):
        compute_scores(net, "magnitude", [])
    with pytest.raises(OptionError, match="one string"):
        compute_scores(net, "magnitude", "0.weight")
    with pytest.raises(OptionError, match="seed"):
        compute_scores(net, "random", ["0.weight"], seed=-1)
    with pytest.raises(DataError, match="4 scoring inputs but 3 labels"):
        compute_scores(net, "snip", ["0.weight"], data=(x, y[:3]))
    with pytest.raises(DataError, match="NaN"):
        compute_scores(net, "snip", ["0.weight"], data=(x.masked_fill(x > 0, torch.nan), y))
    with pytest.raises(DataError, match="integer"):
        compute_scores(net, "grasp", ["0.weight"], data=(x, y.float()))


def test_nan_scores_are_refused():
    net = nn.Linear(3, 2)
    with torch.no_grad():
        net.weight[0, 0] = torch.nan
    with pytest.raises(RuntimeError, match="NaN scores for 'weight'"):
        compute_scores(net, "magnitude", ["weight"])
    # ... unless the NaN weight is pruned anyway.
    mask = {"weight": torch.tensor([[False, True, True], [True, True, True]])}
    got = compute_scores(net, "magnitude", ["weight"], mask=mask)
    assert torch.isneginf(got["weight"][0, 0])


TOY = """
from dataclasses import dataclass, field

from maskkit.pruners.base import Method, MethodOptions


@dataclass(frozen=True)
class ToyOptions(MethodOptions):
    scale: float = field(default=1.0, metadata={"help": "factor on |w|"})
    flip: bool = field(default=False, metadata={"help": "score -|w| instead"})


class ToyMethod(Method):
    name = "toy"
    Options = ToyOptions

    def _score(self, model, prunable, *, options, data, mask, seed):
        sign = -1.0 if options.flip else 1.0
        return {n: sign * options.scale * model.get_parameter(n).detach().abs() for n in prunable}
"""


@pytest.fixture
def toy_method(tmp_path, monkeypatch):
    """A scoring method added the way a contributor adds one: a module and one line."""
    (tmp_path / "toy_scores.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    METHODS.register("toy", "toy_scores:ToyMethod")  # the one registration line
    yield "toy"
    METHODS.unregister("toy")


def test_a_method_is_one_module_and_one_registration_line(toy_method):
    import json

    from maskkit import init_weights, load

    listed = json.loads(invoke(["list", "--json"]).stdout)
    assert {"name": "toy", "needs_data": False} in listed["methods"]
    assert "toy" in invoke(["list"]).stdout
    help_text = invoke(["score", "--help"]).stdout
    assert "--scale FLOAT" in help_text and "toy: factor on |w| (default 1.0)." in help_text
    assert "or toy (see spec/methods/)" in help_text

    result = invoke(
        ["score", "--model", "lenet5", "--seed", "3", "--method", "toy", "--scale", "2"]
    )
    assert result.exit_code == 0, result.stderr
    scores = load(result.stdout_bytes, kind="scores")
    weights = init_weights("lenet5", seed=3)
    for name in weights.prunable:
        expected = 2.0 * np.abs(np.asarray(weights.tensors()[name], dtype=np.float32))
        np.testing.assert_array_equal(np.asarray(scores.tensors()[name]), expected)
    assert scores.provenance[-1].options == {"method": "toy", "scale": 2.0, "flip": False}
    flipped = invoke(["score", "--model", "lenet5", "--method", "toy", "--flip", "yes"])
    assert flipped.exit_code == 0, flipped.stderr
    wrong = invoke(["score", "--model", "lenet5", "--method", "toy", "--rounds", "3"])
    assert (
        wrong.exit_code == 2
        and "--rounds: not an option of method toy (its options: --scale, --flip)" in wrong.stderr
    )
    # ... and the spec-page test demands its page.
    with pytest.raises(AssertionError, match="registered method 'toy' has no page"):
        check_spec_page("toy")
