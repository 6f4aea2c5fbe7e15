"""Registry API: names, argument defaults and checks, seeding, user models."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import maskkit.models as models
from maskkit.errors import OptionError
from maskkit.models import build_model, default_dataset, model_args, model_family

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = ["lenet300", "lenet5", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]
BUILT_IN += ["vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet50"]


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.contiguous().numpy().tobytes())
    return h.hexdigest()


def test_known_models():
    assert models.known_models() == BUILT_IN


def test_unknown_name_lists_known_models():
    for call in (model_family, default_dataset, model_args):
        with pytest.raises(OptionError, match="unknown model 'resnet21'") as err:
            call("resnet21")
        assert all(name in str(err.value) for name in BUILT_IN)


@pytest.mark.parametrize(
    ("name", "family", "dataset", "classes", "shape"),
    [
        ("lenet300", "lenet", "mnist", 10, [1, 28, 28]),
        ("lenet5", "lenet", "mnist", 10, [1, 28, 28]),
        ("resnet56", "cifar_resnet", "cifar10", 10, [3, 32, 32]),
        ("vgg16", "cifar_vgg", "cifar10", 10, [3, 32, 32]),
        ("resnet18", "imagenet_resnet", None, 1000, [3, 224, 224]),
        ("resnet50", "imagenet_resnet", None, 1000, [3, 224, 224]),
    ],
)
def test_defaults(name, family, dataset, classes, shape):
    assert model_family(name) == family
    assert default_dataset(name) == dataset
    args = model_args(name)
    assert args["num_classes"] == classes and args["input_shape"] == shape
    assert json.loads(json.dumps(args)) == args


def test_model_args_overrides_and_checks():
    args = model_args("resnet20", num_classes=100, overrides={"width": 32})
    assert args == {"num_classes": 100, "input_shape": [3, 32, 32], "width": 32}
    assert model_args("lenet300", overrides={"hidden": "500,100"})["hidden"] == [500, 100]
    assert model_args("lenet5", overrides={"input_shape": "3x32x32"})["input_shape"] == [3, 32, 32]
    assert model_args("vgg11", input_shape=(1, 28, 28), overrides={"input_shape": [1, 28, 28]})
    with pytest.raises(
        OptionError, match=r"no argument depth, wdith; accepted: num_classes, input_shape, width"
    ):
        model_args("resnet20", overrides={"wdith": 8, "depth": 3})
    bad = [
        {"num_classes": 0},
        {"num_classes": True},
        {"width": 1.5},
        {"input_shape": [3, 32]},
        {"input_shape": "3,32,x"},
        {"input_shape": [3, 8, 8]},  # VGG needs >= 16x16
    ]
    for overrides in bad:
        with pytest.raises(OptionError):
            model_args("vgg16" if "width" not in overrides else "resnet20", overrides=overrides)
    with pytest.raises(OptionError, match="contradicts"):
        model_args("resnet20", num_classes=10, overrides={"num_classes": 100})
    with pytest.raises(OptionError, match="at least 12x12"):
        model_args("lenet5", input_shape=(1, 10, 28))


def test_build_model_applies_overrides():
    model = build_model("resnet20", model_args("resnet20", overrides={"width": 8}), seed=0)
    assert model.state_dict()["conv.weight"].shape == (8, 3, 3, 3)
    assert model.state_dict()["fc.weight"].shape == (10, 32)


def test_seeding_is_deterministic_and_leaves_global_rng_alone():
    args = model_args("resnet20")
    torch.manual_seed(1234)
    expected_next = torch.rand(5)
    torch.manual_seed(1234)
    a = build_model("resnet20", args, seed=5)
    b = build_model("resnet20", args, seed=5)
    c = build_model("resnet20", args, seed=6)
    assert torch.equal(torch.rand(5), expected_next)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    assert not torch.equal(a.state_dict()["conv.weight"], c.state_dict()["conv.weight"])
    assert not torch.equal(a.state_dict()["bn.weight"], c.state_dict()["bn.weight"])


def test_same_weights_in_another_process():
    code = textwrap.dedent(
        """
        import hashlib, torch
        from maskkit.models import build_model, model_args
        torch.manual_seed(99)  # the global seed must not matter
        m = build_model("vgg11", model_args("vgg11"), seed=42)
        h = hashlib.sha256()
        for name, tensor in m.state_dict().items():
            h.update(name.encode()); h.update(tensor.contiguous().numpy().tobytes())
        print(h.hexdigest())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == _digest(build_model("vgg11", model_args("vgg11"), seed=42))


def test_import_does_not_load_torch():
    code = (
        "import sys, maskkit.models as m; m.model_args('resnet20'); print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr


def test_seed_must_be_an_integer():
    with pytest.raises(OptionError, match="seed"):
        build_model("lenet5", model_args("lenet5"), seed="1")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="seed"):
        build_model("lenet5", model_args("lenet5"), seed=-1)  # would alias 2**64 - 1


USER_MODULE = """
import torch
from torch import nn

def full(num_classes, input_shape, hidden=32, act="relu"):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

def anything(**kwargs):
    return nn.Linear(kwargs["input_shape"][0], kwargs["num_classes"])

def bare():
    return nn.Linear(4, 2)

def needs_depth(depth, num_classes):
    return nn.Linear(depth, num_classes)

def not_a_module(num_classes):
    return "oops"

class Holder:
    @staticmethod
    def make():
        return nn.Linear(3, 3)
"""


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    name = f"usermodels_{tmp_path.name}"  # unique per test: sys.modules caches imports
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_user_model_arguments(user_pkg):
    name = f"{user_pkg}:full"
    assert model_family(name) == "user" and default_dataset(name) is None
    args = model_args(name, num_classes=3, input_shape=(1, 4, 4), overrides={"hidden": 7})
    assert args == {"num_classes": 3, "input_shape": [1, 4, 4], "hidden": 7, "act": "relu"}
    model = build_model(name, args, seed=0)
    assert model[1].weight.shape == (7, 16) and model[3].weight.shape == (3, 7)
    with pytest.raises(
        OptionError, match="no argument width; accepted: num_classes, input_shape, hidden, act"
    ):
        model_args(name, num_classes=3, input_shape=(1, 4, 4), overrides={"width": 2})
    with pytest.raises(OptionError, match="num_classes"):
        model_args(name)


def test_user_model_signature_variants(user_pkg):
    shape = {"num_classes": 5, "input_shape": (6, 1, 1)}
    m = build_model(f"{user_pkg}:anything", model_args(f"{user_pkg}:anything", **shape), seed=0)
    assert m.weight.shape == (5, 6)
    bare = build_model(f"{user_pkg}:bare", model_args(f"{user_pkg}:bare", **shape), seed=0)
    assert bare.weight.shape == (2, 4)
    held = f"{user_pkg}:Holder.make"
    assert build_model(held, model_args(held, **shape), seed=0).weight.shape == (3, 3)
    with pytest.raises(OptionError, match="needs argument"):
        model_args(f"{user_pkg}:needs_depth", **shape)
    with pytest.raises(OptionError, match=re.escape("not a torch.nn.Module")):
        build_model(
            f"{user_pkg}:not_a_module", model_args(f"{user_pkg}:not_a_module", **shape), seed=0
        )


def test_user_model_seeding(user_pkg):
    name = f"{user_pkg}:full"
    args = model_args(name, num_classes=3, input_shape=(1, 8, 8))
    state = torch.get_rng_state()
    a, b, c = (build_model(name, args, seed=s).state_dict() for s in (1, 1, 2))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["1.weight"], c["1.weight"])
    # "Seeded" means torch's own default init under torch.manual_seed(seed), as documented.
    torch.manual_seed(1)
    assert torch.equal(torch.nn.Linear(64, 32).weight, a["1.weight"])
    torch.set_rng_state(state)


def test_user_model_from_working_directory(tmp_path, monkeypatch):
    name = f"cwdmodel_{tmp_path.name}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert model_args(f"{name}:bare", num_classes=2, input_shape=(1, 2, 2))["num_classes"] == 2
    assert str(tmp_path) in sys.path


def test_user_model_errors(user_pkg):
    shape = {"num_classes": 2, "input_shape": (1, 2, 2)}
    with pytest.raises(OptionError, match=re.escape("cannot import module 'no_such_pkg.models'")):
        model_args("no_such_pkg.models:net", **shape)
    with pytest.raises(OptionError, match=re.escape("has no 'missing'")):
        model_args(f"{user_pkg}:missing", **shape)
    with pytest.raises(OptionError, match=re.escape("package.module:callable")):
        model_args(f"{user_pkg}:", **shape)


def test_user_model_signature_defaults_and_any_rank(user_pkg):
    from maskkit.models import shape_defaults

    assert model_args(f"{user_pkg}:bare") == {}  # takes nothing, needs nothing
    assert model_args(f"{user_pkg}:Holder.make") == {}
    assert shape_defaults(f"{user_pkg}:full") == (None, None)
    args = model_args(f"{user_pkg}:anything", num_classes=2, input_shape=(7,))
    assert args == {"num_classes": 2, "input_shape": [7]}
    assert build_model(f"{user_pkg}:anything", args, seed=0).weight.shape == (2, 7)
    with pytest.raises(OptionError, match="needs num_classes and input_shape: give a dataset"):
        model_args(f"{user_pkg}:anything")
    # registry models keep their C,H,W inputs
    with pytest.raises(OptionError, match="3 positive integers"):
        model_args("lenet5", input_shape=(20,))
    assert shape_defaults("resnet20") == (10, [3, 32, 32])
