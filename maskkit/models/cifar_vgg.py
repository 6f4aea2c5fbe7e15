"""CIFAR VGGs, as OpenLTH's ``cifar_vgg_D`` (D = 11, 13, 16, 19).

Each number in the plan is a 3x3 conv (padding 1, with bias) + BN + ReLU; ``M`` is a 2x2 max-pool.
Then average pooling to 1x1 and fc 512 -> classes, no dropout. OpenLTH pools with a fixed 2x2
window, which is the same operation for 32x32 inputs (2x2 maps are left after four max-pools);
pooling to 1x1 also lets other sizes work. H and W must be >= 16. Parameter names match OpenLTH
(``layers.i.conv``, ``layers.i.bn``, ``fc``; max-pools take indices too).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

PLANS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", *[256] * 3, "M", *[512] * 3, "M", *[512] * 3],
    19: [64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4],
}


class ConvModule(nn.Module):
    def __init__(self, f_in: int, f_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(f_in, f_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(f_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class CifarVGG(nn.Module):
    def __init__(self, num_classes: int, input_shape: Sequence[int], depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        filters = input_shape[0]
        for spec in PLANS[depth]:
            if spec == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers.append(ConvModule(filters, int(spec)))
                filters = int(spec)
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.layers(x), 1).flatten(1))
