"""random: i.i.d. scores per weight, seeded per (seed, parameter name).

The one method module not named after its method: ``random.py`` would shadow the standard
library's module for code run from this folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from maskkit._seeds import random_scores_seed
from maskkit.errors import OptionError
from maskkit.pruners.base import Data, Method, MethodOptions

DISTRIBUTIONS = ("uniform", "normal")


@dataclass(frozen=True)
class RandomOptions(MethodOptions):
    distribution: str = field(
        default="uniform",
        metadata={
            "help": "uniform: U[0, 1); normal: standard normal N(0, 1)",
            "choices": DISTRIBUTIONS,
        },
    )

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise OptionError(
                f"random: unknown distribution {self.distribution!r}; "
                f"known: {', '.join(DISTRIBUTIONS)}"
            )


def tensor_generator(seed: int, name: str) -> torch.Generator:
    """A CPU generator seeded from SHA-256 of ``"<seed>:<name>"`` (63 bits of the digest).

    Each tensor's draws depend only on the seed and its own name, so adding, removing or
    reordering other layers never changes them. The seed is an integer, so the first colon
    separates it from the name unambiguously.
    """
    gen = torch.Generator(device="cpu")
    gen.manual_seed(random_scores_seed(seed, name))
    return gen


class RandomMethod(Method):
    name = "random"
    Options = RandomOptions
    needs_data = False

    def _score(
        self,
        model: nn.Module,
        prunable: list[str],
        *,
        options: Any,
        data: Data | None,
        mask: dict[str, Tensor] | None,
        seed: int,
    ) -> dict[str, Tensor]:
        params = dict(model.named_parameters())
        draw = torch.rand if options.distribution == "uniform" else torch.randn
        return {
            name: draw(
                params[name].shape, generator=tensor_generator(seed, name), dtype=torch.float32
            )
            for name in prunable
        }
