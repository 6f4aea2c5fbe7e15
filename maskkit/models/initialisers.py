"""Seeded initialisation shared by the built-in architectures.

OpenLTH's scheme, drawn from one ``torch.Generator`` in ``model.modules()`` order so the same seed
gives bitwise the same weights in any process:

- conv and linear weights: kaiming normal, fan_in, ReLU gain (std = sqrt(2 / fan_in));
- conv and linear biases: PyTorch's own default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is
  what OpenLTH leaves them at (it only re-initialises weights);
- BatchNorm: gamma ~ U(0, 1), beta = 0, running mean 0, running variance 1.

Models are built on the meta device and materialised uninitialised, so this function must write
every parameter and buffer; it checks that it did.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd


def initialise(model: nn.Module, generator: torch.Generator) -> None:
    """Initialise ``model`` in place from ``generator`` (see the module docstring)."""
    done: set[int] = set()
    for module in model.modules():
        if isinstance(module, (_ConvNd, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=generator)
            done.add(id(module.weight))
            if module.bias is not None:
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
                done.add(id(module.bias))
        elif isinstance(module, _BatchNorm):
            if module.affine:
                nn.init.uniform_(module.weight, 0.0, 1.0, generator=generator)
                nn.init.zeros_(module.bias)
            module.reset_running_stats()
            done.update(id(t) for t in (*module.parameters(False), *module.buffers(False)))
    missed = [
        n for n, t in (*model.named_parameters(), *model.named_buffers()) if id(t) not in done
    ]
    if missed:
        raise RuntimeError(f"initialise() does not know how to initialise {missed}")
