"""LeNet models for MNIST-sized inputs.

``LeNet300`` is OpenLTH's ``mnist_lenet_300_100``: flatten, 784-300-100-10 fully connected with
ReLU (in-features = C*H*W of ``input_shape``). Parameter names match OpenLTH
(``fc_layers.0``, ``fc_layers.1``, ``fc``) so its masks map one to one.

``LeNet5`` is the classic LeNet-5 layout with ReLU and max-pooling (the common modern variant):

    conv1  5x5, C -> 6, padding 2, bias   + ReLU + 2x2 max-pool
    conv2  5x5, 6 -> 16, no padding, bias + ReLU + 2x2 max-pool
    fc1    16*h*w -> 120 + ReLU,  fc2 120 -> 84 + ReLU,  fc 84 -> classes

The padding of 2 plays the role of LeCun's padding of 28x28 digits to 32x32. h = (H // 2 - 4) // 2,
so 1x28x28 gives 16*5*5 = 400 features and 3x32x32 gives 16*6*6 = 576. H and W must be >= 12.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LeNet300(nn.Module):
    def __init__(
        self, num_classes: int, input_shape: Sequence[int], hidden: Sequence[int] = (300, 100)
    ) -> None:
        super().__init__()
        sizes = [math.prod(input_shape), *hidden]
        self.fc_layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.fc = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.fc_layers:
            x = F.relu(layer(x))
        return self.fc(x)


def _lenet5_side(n: int) -> int:
    return (n // 2 - 4) // 2


class LeNet5(nn.Module):
    def __init__(self, num_classes: int, input_shape: Sequence[int]) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.conv1 = nn.Conv2d(channels, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * _lenet5_side(height) * _lenet5_side(width), 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc(F.relu(self.fc2(x)))
