"""ImageNet ResNets (He et al. 2016): ResNet-18 (basic blocks) and ResNet-50 (bottlenecks).

7x7 stride-2 conv C -> W (no bias) + BN + ReLU + 3x3 stride-2 max-pool; four stages with W, 2W,
4W, 8W planes (W = 64), stride 2 in the first block of stages 2-4; adaptive average pool; fc.
Bottlenecks expand by 4 and put the stride on the 3x3 conv (torchvision's "v1.5"). A block whose
stride or channel count changes gets a 1x1 conv + BN shortcut (``downsample``). Parameter names
match torchvision's (``conv1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``); OpenLTH
wraps the same network under ``model.``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _shortcut(f_in: int, f_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and f_in == f_out:
        return None
    return nn.Sequential(
        nn.Conv2d(f_in, f_out, 1, stride=stride, bias=False), nn.BatchNorm2d(f_out)
    )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, f_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(f_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(f_in, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, f_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(f_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = _shortcut(f_in, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


PLANS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    50: (Bottleneck, [3, 4, 6, 3]),
}


class ImageNetResNet(nn.Module):
    def __init__(
        self, num_classes: int, input_shape: Sequence[int], depth: int, width: int = 64
    ) -> None:
        super().__init__()
        block, counts = PLANS[depth]
        self.conv1 = nn.Conv2d(input_shape[0], width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        f_in = width
        for stage, count in enumerate(counts):
            planes = width * 2**stage
            blocks = []
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block(f_in, planes, stride))
                f_in = planes * block.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(f_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
