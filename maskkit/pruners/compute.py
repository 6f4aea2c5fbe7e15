"""One call from a method name to scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from maskkit.pruners.base import Data
from maskkit.pruners.progress import ScoreProgress
from maskkit.pruners.registry import get_method


def compute_scores(
    model: nn.Module,
    method: str,
    prunable: Sequence[str],
    *,
    options: Any = None,
    data: Data | None = None,
    mask: Mapping[str, Tensor] | None = None,
    seed: int = 0,
    progress: ScoreProgress | None = None,
) -> dict[str, Tensor]:
    """Scores (float32, higher = keep, -inf where ``mask`` prunes) for each prunable parameter.

    ``options`` is None (the method's defaults), its Options record, or a mapping of option
    values. The model is left unchanged; ``progress(done, total)`` hears of long methods'
    progress (SynFlow's rounds).

    Example::

        scores = compute_scores(model, "synflow", prunable_names(model),
                                options={"input_shape": (3, 32, 32), "sparsity": 0.9})
    """
    m = get_method(method)
    return m.score(
        model,
        prunable,
        options=m.make_options(options),
        data=data,
        mask=mask,
        seed=seed,
        progress=progress,
    )
