"""CIFAR ResNets (He et al. 2016, section 4.2), as OpenLTH's ``cifar_resnet_D[_W]``.

3x3 conv C -> W (no bias) + BN + ReLU; three stages of N = (depth - 2) / 6 basic blocks with
W, 2W, 4W filters (W = 16 by default), stride 2 in the first block of stages 2 and 3, whose
shortcut is a 1x1 stride-2 conv + BN (identity elsewhere); global average pool; fc 4W -> classes.
Parameter names match OpenLTH (``conv``, ``bn``, ``blocks.i.conv1``, ``blocks.i.shortcut.0``,
``fc``). Any input size works; the pool averages whatever spatial size is left.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, f_in: int, f_out: int, downsample: bool) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        self.shortcut = nn.Sequential()
        if downsample or f_in != f_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(f_in, f_out, 1, stride=stride, bias=False), nn.BatchNorm2d(f_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(
        self, num_classes: int, input_shape: Sequence[int], depth: int, width: int = 16
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6N+2, got {depth}")
        per_stage = (depth - 2) // 6
        self.conv = nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, f_in = [], width
        for stage, f_out in enumerate((width, 2 * width, 4 * width)):
            for index in range(per_stage):
                blocks.append(Block(f_in, f_out, downsample=stage > 0 and index == 0))
                f_in = f_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))
