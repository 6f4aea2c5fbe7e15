"""magnitude: the absolute value of each weight."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from maskkit.pruners.base import Data, Method, MethodOptions


@dataclass(frozen=True)
class MagnitudeOptions(MethodOptions):
    """magnitude has no options."""


class MagnitudeMethod(Method):
    name = "magnitude"
    Options = MagnitudeOptions
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
        return {name: params[name].detach().abs() for name in prunable}
