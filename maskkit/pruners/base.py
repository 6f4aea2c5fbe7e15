"""The base of every scoring method: a name, an options record and one ``score`` call.

A method turns a model (and, for SNIP and GraSP, a batch of scoring data) into one float32 score
tensor per prunable parameter; a higher score means keep. Subclasses implement ``_score`` only:
``score`` checks the inputs, marks the weights that the current mask already prunes with -inf and
refuses NaN, so that every method obeys the same contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from maskkit import _options
from maskkit._validate import check_seed
from maskkit.pruners import contract
from maskkit.pruners.progress import ScoreProgress, reporting

Data = tuple[Tensor, Tensor]


class MethodOptions:
    """Mixin for the frozen dataclass that holds one method's options.

    Each field's ``metadata`` carries its ``"help"`` (and ``"choices"``, for a field that takes
    one of a few words): the CLI builds its flags from them.
    """

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (tuples become lists), for provenance records."""
        return _options.to_dict(self)


class Method(ABC):
    """One pruning-at-initialization scoring method (see ``spec/methods/<name>.md``).

    A method declares what it needs: ``needs_data`` (a batch of scoring examples) and
    ``needs_input_shape`` (an ``input_shape`` option, which the stages fill in from the model
    when the caller gives none).
    """

    name: ClassVar[str]
    Options: ClassVar[type]
    needs_data: ClassVar[bool] = False
    needs_input_shape: ClassVar[bool] = False
    #: What ``progress(done, total)`` counts, for progress bars ("rounds"); "" if nothing.
    progress_unit: ClassVar[str] = ""

    def make_options(self, values: Any = None) -> Any:
        """Options from None (the defaults), an ``Options`` record, or a mapping of field values.

        String values (``KEY=VALUE`` from a command line) are converted by the field's type.
        Example: ``get_method("snip").make_options({"batch_size": 100})``.
        """
        if isinstance(values, self.Options):
            return values
        return _options.from_mapping(self.Options, values, what=self.name)

    def model_options(self) -> tuple[str, ...]:
        """The options the stages fill in from the model when the caller gives none."""
        return ("input_shape",) if self.needs_input_shape else ()

    def check_options(self, values: Mapping[str, Any]) -> None:
        """Refuse bad ``values`` before any work, even those the model will complete.

        With ``needs_input_shape`` and no ``input_shape`` given, a stand-in shape takes its
        place for the check: the real one comes from the model when scoring.
        """
        probe = dict(values)
        if self.needs_input_shape:
            probe.setdefault("input_shape", (1,))
        self.make_options(probe)

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
