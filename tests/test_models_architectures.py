"""Architecture checks: prunable counts against hand formulas, forward shapes, init statistics."""

from __future__ import annotations

import math

import pytest
import torch

from maskkit.models import build_model, model_args, prunable_names


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Many tiny convolutions: thread hand-offs cost more than they save, badly so on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build(name: str, seed: int = 0, **kw):
    return build_model(name, model_args(name, **kw), seed=seed)


def _count(model: torch.nn.Module) -> int:
    state = model.state_dict()
    return sum(state[name].numel() for name in prunable_names(model))


def _cifar_resnet_formula(depth: int, classes: int = 10, channels: int = 3) -> int:
    n = (depth - 2) // 6
    total = channels * 16 * 9 + 2 * n * 16 * 16 * 9
    for f_in, f_out in ((16, 32), (32, 64)):
        total += f_in * f_out * 9 + f_out * f_out * 9 + f_in * f_out  # first block + shortcut
        total += (2 * n - 2) * f_out * f_out * 9
    return total + 64 * classes


def _imagenet_resnet_formula(counts, bottleneck: bool, classes: int = 1000) -> int:
    total, c_in = 3 * 64 * 7 * 7, 64
    for stage, n in enumerate(counts):
        p = 64 * 2**stage
        c_out = 4 * p if bottleneck else p
        for i in range(n):
            if bottleneck:
                total += c_in * p + p * p * 9 + p * c_out
            else:
                total += c_in * p * 9 + p * p * 9
            if i == 0 and (stage > 0 or c_in != c_out):  # 1x1 downsampling shortcut
                total += c_in * c_out
            c_in = c_out
    return total + c_in * classes


def _vgg_formula(plan: list, classes: int = 10) -> int:
    total, c_in = 0, 3
    for c in plan:
        if c != "M":
            total, c_in = total + c_in * c * 9, c
    return total + 512 * classes


def test_reference_counts():
    assert _count(_build("lenet300")) == 266_200 == 784 * 300 + 300 * 100 + 100 * 10
    assert _count(_build("resnet20")) == 270_896 == _cifar_resnet_formula(20)
    assert _count(_build("vgg16")) == 14_715_584


@pytest.mark.parametrize("depth", [32, 44, 56, 110])
def test_cifar_resnet_counts(depth):
    assert _count(_build(f"resnet{depth}")) == _cifar_resnet_formula(depth)


def test_cifar_resnet_adapts_channels_and_classes():
    model = _build("resnet20", num_classes=100, input_shape=(1, 32, 32))
    assert _count(model) == _cifar_resnet_formula(20, classes=100, channels=1)


@pytest.mark.parametrize(
    ("name", "plan"),
    [
        ("vgg11", [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]),
        ("vgg13", [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]),
        ("vgg19", [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + [512] * 4 + ["M"] + [512] * 4),
    ],
)
def test_vgg_counts(name, plan):
    assert _count(_build(name)) == _vgg_formula(plan)


def test_imagenet_resnet_counts():
    assert _imagenet_resnet_formula([3, 4, 6, 3], bottleneck=True) == 25_502_912
    assert _count(_build("resnet50")) == 25_502_912
    assert _count(_build("resnet18")) == _imagenet_resnet_formula([2, 2, 2, 2], bottleneck=False)


def test_lenet5_layers():
    # conv1 6x1x5x5, conv2 16x6x5x5, fc1 16*5*5 -> 120 (28x28) or 16*6*6 -> 120 (32x32), 84, 10.
    head = 120 * 84 + 84 * 10
    assert _count(_build("lenet5")) == 6 * 25 + 16 * 6 * 25 + 400 * 120 + head
    rgb = _build("lenet5", input_shape=(3, 32, 32))
    assert _count(rgb) == 6 * 3 * 25 + 16 * 6 * 25 + 576 * 120 + head


def test_lenet300_adapts_in_features():
    model = _build("lenet300", input_shape=(3, 32, 32), num_classes=100)
    assert model.state_dict()["fc_layers.0.weight"].shape == (300, 3072)
    assert _count(model) == 3072 * 300 + 300 * 100 + 100 * 100


@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [
        ("lenet300", (1, 28, 28), 10),
        ("lenet5", (1, 28, 28), 10),
        ("lenet5", (3, 32, 32), 7),
        ("resnet20", (3, 32, 32), 10),
        ("resnet32", (1, 16, 16), 5),
        ("resnet44", (3, 8, 8), 10),
        ("resnet56", (3, 8, 8), 10),
        ("resnet110", (3, 8, 8), 10),
        ("vgg11", (3, 32, 32), 10),
        ("vgg13", (3, 16, 16), 10),
        ("vgg16", (1, 16, 16), 100),
        ("vgg19", (3, 16, 16), 10),
        ("resnet18", (3, 64, 64), 200),
        ("resnet50", (3, 64, 64), 10),
    ],
)
def test_forward_shape(name, shape, classes):
    model = _build(name, input_shape=shape, num_classes=classes)
    with torch.no_grad():
        out = model.eval()(torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()


def test_cifar_resnet_downsamples_at_stages_two_and_three():
    model = _build("resnet20")
    names = prunable_names(model)
    assert [n for n in names if "shortcut" in n] == [
        "blocks.3.shortcut.0.weight",
        "blocks.6.shortcut.0.weight",
    ]
    sizes = []
    for block in model.blocks:
        block.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    assert sizes == [(16, 32, 32)] * 3 + [(32, 16, 16)] * 3 + [(64, 8, 8)] * 3


def test_resnet50_strides_on_the_3x3_conv():
    model = _build("resnet50", input_shape=(3, 64, 64))
    assert model.layer2[0].conv1.stride == (1, 1)
    assert model.layer2[0].conv2.stride == (2, 2)
    assert model.layer2[0].downsample[0].stride == (2, 2)


def test_kaiming_normal_std():
    state = _build("lenet300", seed=3).state_dict()
    w = state["fc_layers.0.weight"].double()  # 235,200 draws, fan_in 784
    expected = math.sqrt(2 / 784)
    assert abs(w.std().item() / expected - 1) < 0.01
    assert abs(w.mean().item()) < 0.01 * expected
    conv = _build("resnet20", seed=3).state_dict()["blocks.8.conv2.weight"].double()
    assert abs(conv.std().item() / math.sqrt(2 / (64 * 9)) - 1) < 0.02  # 36,864 draws


def test_batchnorm_and_bias_init():
    model = _build("vgg11", seed=1)
    gammas = torch.cat([m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert gammas.numel() == 64 + 128 + 256 * 2 + 512 * 4
    assert (gammas >= 0).all() and (gammas < 1).all()
    assert abs(gammas.mean().item() - 0.5) < 0.03  # U(0,1) mean, sd of mean ~0.007
    assert abs((gammas < 0.25).double().mean().item() - 0.25) < 0.04
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert (m.bias == 0).all() and (m.running_mean == 0).all()
            assert (m.running_var == 1).all() and m.num_batches_tracked == 0
    bias = model.layers[0].conv.bias  # fan_in 27: U(-1/sqrt(27), 1/sqrt(27))
    assert bias.abs().max() <= 1 / math.sqrt(27) and bias.abs().min() > 0


def test_prunable_names_are_conv_and_linear_weights_in_state_dict_order():
    model = _build("resnet18", input_shape=(3, 32, 32))
    names = prunable_names(model)
    keys = list(model.state_dict())
    assert names == [k for k in keys if k in set(names)]
    assert all(k.endswith(".weight") and model.state_dict()[k].dim() in (2, 4) for k in names)
    expected = 1 + 2 * 8 + 3 + 1  # stem, two convs per block, three downsamples, fc
    assert len(names) == expected and names[0] == "conv1.weight" and names[-1] == "fc.weight"
    assert not any("bn" in n or "downsample.1" in n for n in names)
