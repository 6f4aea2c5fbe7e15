"""The base of every scoring method: a name, an options record and one ``score`` call.

A method turns a model (and, for SNIP and GraSP, a batch of scoring data) into one float32 score
tensor per prunable parameter; a higher score means keep. Subclasses implement ``_score`` only:
``score`` checks the inputs, marks the weights that the current mask already prunes with -inf and
refuses NaN, so that every method obeys the same contract.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from maskkit._validate import check_seed
from maskkit.errors import OptionError
from maskkit.pruners import contract
from maskkit.pruners.progress import ScoreProgress, reporting

Data = tuple[Tensor, Tensor]


class MethodOptions:
    """Mixin for the frozen dataclass that holds one method's options."""

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (tuples become lists), for provenance records."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


class Method(ABC):
    """One pruning-at-initialization scoring method (see ``spec/methods/<name>.md``)."""

    name: ClassVar[str]
    Options: ClassVar[type]
    needs_data: ClassVar[bool] = False

    def make_options(self, values: Any = None) -> Any:
        """Options from None (the defaults), an ``Options`` record, or a mapping of field values.

        Example: ``get_method("snip").make_options({"batch_size": 100})``.
        """
        if isinstance(values, self.Options):
            return values
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise OptionError(
                f"{self.name}: options must be a {self.Options.__name__} or a mapping, "
                f"not {type(values).__name__}"
            )
        fields = dataclasses.fields(self.Options)
        known = [f.name for f in fields]
        unknown = sorted(str(k) for k in values if k not in known)
        if unknown:
            raise OptionError(
                f"{self.name}: unknown option(s) {', '.join(unknown)}; "
                f"known: {', '.join(known) or '(none)'}"
            )
        missing = [
            f.name
            for f in fields
            if f.name not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise OptionError(f"{self.name}: missing required option(s) {', '.join(missing)}")
        return self.Options(**values)

    def score(
        self,
        model: nn.Module,
        prunable: Sequence[str],
        *,
        options: Any = None,
        data: Data | None = None,
        mask: Mapping[str, Tensor] | None = None,
        seed: int = 0,
        progress: ScoreProgress | None = None,
    ) -> dict[str, Tensor]:
        """Score every prunable parameter of ``model`` (left unchanged); higher = keep.

        ``mask`` (bool, True = keep) makes its pruned weights count as zero while scoring and
        gives them the score -inf. Returns float32 CPU tensors keyed by ``prunable``, in order.
        ``progress(done, total)`` hears of long methods' progress (SynFlow's rounds).
        """
        options = self.make_options(options)
        names = contract.check_prunable(model, prunable)
        check_seed(seed)
        full_mask = contract.check_mask(model, names, mask)
        if self.needs_data:
            data = contract.check_data(self.name, data)
        with reporting(progress):
            raw = self._score(model, names, options=options, data=data, mask=full_mask, seed=seed)
        return contract.finish(self.name, model, names, raw, full_mask)

    @abstractmethod
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
        """Raw scores for ``prunable`` (any float dtype/device); ``score`` does the rest."""


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
