"""The scoring methods by name (one registration line per method), and scoring by name.

Targets are imported on first use: listing the names imports no method module (nor torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from maskkit._registry import Registry

if TYPE_CHECKING:
    from torch import Tensor, nn

    from maskkit.pruners.base import Data, Method
    from maskkit.pruners.progress import ScoreProgress

METHODS: Registry[type[Method]] = Registry(
    "pruning method",
    {
        "random": "maskkit.pruners.random_scores:RandomMethod",
        "magnitude": "maskkit.pruners.magnitude:MagnitudeMethod",
        "snip": "maskkit.pruners.snip:SnipMethod",
        "grasp": "maskkit.pruners.grasp:GraspMethod",
        "grasp-abs": "maskkit.pruners.grasp:GraspAbsMethod",
        "synflow": "maskkit.pruners.synflow:SynflowMethod",
    },
)
"""Method name -> its ``Method`` subclass. ``METHODS.register(name, "pkg.mod:Class")`` adds one."""

_INSTANCES: dict[type, Method] = {}


def known_methods() -> list[str]:
    """The registered method names, in registration order."""
    return METHODS.names()


def get_method(name: str) -> Method:
    """The method called ``name``; OptionError listing the known names otherwise.

    Example: ``get_method("snip").needs_data`` is True.
    """
    cls = METHODS.get(name)
    if cls not in _INSTANCES:
        _INSTANCES[cls] = cls()
    return _INSTANCES[cls]


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
