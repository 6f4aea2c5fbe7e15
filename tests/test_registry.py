"""The one registry helper: names in order, lazy targets, aliases and one unknown-name error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from maskkit._registry import Registry
from maskkit.errors import OptionError


def test_names_keep_registration_order_and_targets_load_on_first_get():
    reg = Registry("codec", {"zeta": "json:dumps", "alpha": "json:loads"})
    reg.register("direct", len)
    assert reg.names() == ["zeta", "alpha", "direct"] and list(reg) == reg.names()
    assert len(reg) == 3 and "alpha" in reg and "beta" not in reg and 3 not in reg
    assert reg.target("zeta") == "json:dumps"
    import json

    assert reg.get("zeta") is json.dumps and reg["alpha"] is json.loads and reg.get("direct") is len
    with pytest.raises(ValueError, match="registered already"):
        reg.register("alpha", "json:load")
    reg.unregister("alpha")
    assert reg.names() == ["zeta", "direct"]


def test_unknown_names_get_one_error_listing_the_known_ones():
    reg = Registry("mask rule", {"global": len, "erk": len}, hint=" (or your own)")
    with pytest.raises(OptionError) as err:
        reg.get("glob")
    assert str(err.value) == "unknown mask rule 'glob'; known: global, erk (or your own)"
    with pytest.raises(OptionError, match="unknown mask rule None"):
        reg.get(None)  # type: ignore[arg-type]
    wider = Registry("layout", {"npz": len}, listed=lambda names: ["auto", *names, "maskkit"])
    with pytest.raises(OptionError, match=r"known: auto, npz, maskkit$"):
        wider.canonical("keras")


def test_aliases_and_folding_lead_to_the_canonical_name():
    reg = Registry("dataset", {"fashion-mnist": len}, aliases={"fashionmnist": "fashion-mnist"},
                   fold=lambda s: s.strip().lower())  # fmt: skip
    assert reg.canonical(" FashionMNIST ") == "fashion-mnist" and "FASHION-MNIST" in reg
    assert reg.names() == ["fashion-mnist"]  # aliases are not listed
    with pytest.raises(ValueError, match="names no registered"):
        reg.alias("fm", "mnist")
    reg.unregister("fashion-mnist")
    assert "fashionmnist" not in reg


def test_a_bad_target_is_a_programming_error():
    with pytest.raises(ValueError, match=r"package.module:attribute"):
        Registry("thing", {"x": "json.dumps"}).get("x")


def test_listing_every_registry_imports_no_torch():
    code = (
        "import sys\n"
        "from maskkit.pruners import known_methods\n"
        "from maskkit.masking.rules import RULES\n"
        "from maskkit.models import known_models\n"
        "from maskkit.data import known_datasets\n"
        "from maskkit.interop.registry import known_layouts\n"
        "names = [known_methods(), list(RULES), known_models(), known_datasets(), known_layouts()]\n"
        "assert all(names), names\n"
        "print(any(m == 'torch' or m.startswith('torch.') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


TOY_RULE = """
import math


def half_rule(shapes, sparsity, **_):
    return {name: math.prod(shape) // 2 for name, shape in shapes.items()}
"""


def test_a_mask_rule_is_one_module_and_one_registration_line(tmp_path, monkeypatch):
    import json

    import numpy as np

    from maskkit import load
    from maskkit.masking.rules import RULES
    from tests.conftest import invoke

    (tmp_path / "toy_rule.py").write_text(TOY_RULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    RULES.register("half", "toy_rule:half_rule")  # the one registration line
    try:
        assert "half" in json.loads(invoke(["list", "--json"]).stdout)["rules"]
        assert "[global|layerwise|erk|half]" in invoke(["mask", "--help"]).stdout
        scores = invoke(["score", "--model", "lenet5", "--method", "random"]).stdout_bytes
        result = invoke(["mask", "--rule", "half", "--sparsity", "0.1"], input=scores)
        assert result.exit_code == 0, result.stderr
        mask = load(result.stdout_bytes, kind="mask")
        for name, array in mask.arrays.items():
            kept = int(np.count_nonzero(array))
            assert kept == array.size - array.size // 2, name
        assert mask.provenance[-1].options["rule"] == "half"
    finally:
        RULES.unregister("half")
    assert "half" not in invoke(["mask", "--help"]).stdout
