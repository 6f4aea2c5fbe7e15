"""synflow: iterative synaptic-flow scores (Tanaka et al., 2020), data-free, in float64.

Each round scores the surviving weights with |w * dR/dw|, where R is the sum of the output of
the all-positive copy of the network (every parameter replaced by its absolute value, BatchNorm
in eval mode) on one all-ones input, then prunes the lowest survivors down to the round's
density (1 - sparsity) ** (e / rounds). The returned scores encode the final mask, see
``spec/methods/synflow.md``: prune_lowest(scores, n_to_prune(sparsity, N)) reproduces it exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from maskkit.errors import OptionError
from maskkit.masking import n_to_prune
from maskkit.masking.select import kth_smallest
from maskkit.pruners import _autograd
from maskkit.pruners.base import Data, Method, MethodOptions, model_device
from maskkit.pruners.progress import report

DEFAULT_ROUNDS = 100
MAX_ROUNDS = 1_000_000  # round numbers are stored exactly as float32 scores
# Survivors' float64 scores are scaled by a power of two (exact) when they would overflow float32.
_F32_SAFE_MAX = 2.0**120


@dataclass(frozen=True)
class SynflowOptions(MethodOptions):
    input_shape: tuple[int, ...] = field(
        metadata={"help": "shape of one input example without the batch axis, e.g. 3,32,32"}
    )
    sparsity: float = field(
        metadata={"help": "target fraction of prunable weights pruned after the last round"}
    )
    rounds: int = field(
        default=DEFAULT_ROUNDS,
        metadata={"help": "pruning rounds; density after round e is (1 - sparsity)^(e/rounds)"},
    )

    def __post_init__(self) -> None:
        shape = self.input_shape
        if isinstance(shape, int | str) or not hasattr(shape, "__iter__"):
            raise OptionError(f"synflow: input_shape must be a sequence of sizes, not {shape!r}")
        shape = tuple(shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise OptionError(
                f"synflow: input_shape must be one or more positive integers, not {shape!r}"
            )
        object.__setattr__(self, "input_shape", shape)
        s = self.sparsity
        if (
            isinstance(s, bool)
            or not isinstance(s, int | float)
            or not math.isfinite(s)
            or not 0 <= s < 1
        ):
            raise OptionError(f"synflow: sparsity must be a number in [0, 1), not {s!r}")
        object.__setattr__(self, "sparsity", float(s))
        r = self.rounds
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= MAX_ROUNDS:
            raise OptionError(f"synflow: rounds must be an integer in [1, {MAX_ROUNDS}], not {r!r}")


def round_targets(sparsity: float, rounds: int, n: int, already: int) -> list[int]:
    """Pruned counts after each round: exponential schedule, never decreasing, exact at the end.

    After round e the density is (1 - sparsity) ** (e / rounds); the last round's count is
    n_to_prune(sparsity, n) itself, so that it matches what the mask stage computes.
    """
    final = max(n_to_prune(sparsity, n), already)
    out = []
    prev = already
    for e in range(1, rounds + 1):
        if e == rounds:
            target = final
        else:
            target = min(final, n_to_prune(1.0 - (1.0 - sparsity) ** (e / rounds), n))
        prev = max(prev, target)
        out.append(prev)
    return out


class SynflowMethod(Method):
    name = "synflow"
    Options = SynflowOptions
    needs_data = False
    needs_input_shape = True
    progress_unit = "rounds"

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
        device = model_device(model)
        net, weights = _autograd.working_copy(model, prunable, None, dtype=torch.float64)
        net.eval()
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, p in params.items():
                p.abs_()
                if mask is not None and name in mask and name not in prunable:
                    p.masked_fill_(~mask[name].to(device), 0.0)
        # One flat buffer per quantity, tensors in canonical order (sorted names, C order): the
        # per-tensor views below share it, so ranking and bookkeeping are a few calls a round.
        flat = _Flat(prunable, weights, options.rounds, device)
        keep, last = flat.views(flat.keep), flat.views(flat.scores)
        pruned_in = flat.views(flat.rounds)
        with torch.no_grad():
            for n, w, k in zip(prunable, weights, keep, strict=True):
                if mask is not None:
                    k.copy_(mask[n])  # a copy: the caller's mask is never written
                w.masked_fill_(~k, 0.0)  # from here on only newly pruned weights are zeroed
        n_total = flat.keep.numel()
        n_pruned = n_total - int(flat.keep.sum())
        targets = round_targets(options.sparsity, options.rounds, n_total, n_pruned)
        ones = torch.ones((1, *options.input_shape), dtype=torch.float64, device=device)

        for e, target in enumerate(targets, start=1):
            report(e - 1, options.rounds)
            if target == n_pruned and e < options.rounds:
                continue  # the mask did not change, so this round's scores would not either
            # The gradients accumulate into the zeroed flat score buffer (0 + g == g, and -0.0
            # only differs in sign, which |w * g| drops), so no second weight-sized set of
            # gradients is ever held; then each becomes its score in place.
            flat.scores.zero_()
            for w, s in zip(weights, last, strict=True):
                w.grad = s
            flow = net(ones).sum()
            if flow.requires_grad:
                flow.backward()
            del flow
            with torch.no_grad():
                for w, s in zip(weights, last, strict=True):
                    if w.grad is not s:  # autograd chose to replace it rather than add in place
                        s.copy_(w.grad)
                    torch.mul(w, s, out=s).abs_()
            # One reduction; the survivor-only check runs only when something is NaN at all.
            if math.isnan(float(flat.scores.sum())):
                _check_no_nan(prunable, last, keep, e)
            if target > n_pruned:
                flat.prune(weights, target - n_pruned, e)
                n_pruned = target
        report(options.rounds, options.rounds)
        return _encode(prunable, last, keep, pruned_in, options.rounds)


def _check_no_nan(prunable: list[str], scores: list[Tensor], keep: list[Tensor], e: int) -> None:
    """RuntimeError naming the first tensor with a NaN score among its surviving weights."""
    for name, s, k in zip(prunable, scores, keep, strict=True):
        if bool(torch.isnan(s[k]).any()):
            raise RuntimeError(f"synflow: NaN score for {name!r} in round {e}")


class _Flat:
    """Scores (float64), keep flags and pruning rounds of all prunable weights, each one flat
    vector in canonical order, so that its flat index is prune_lowest's tie-breaking order."""

    def __init__(
        self, prunable: list[str], weights: list[Tensor], rounds: int, device: torch.device
    ) -> None:
        self.order = sorted(range(len(prunable)), key=lambda i: prunable[i])
        self.shapes = [w.shape for w in weights]
        sizes = [weights[i].numel() for i in self.order]
        self.offsets = np.cumsum([0, *sizes])
        n = int(self.offsets[-1])
        self.scores = torch.zeros(n, dtype=torch.float64, device=device)
        self.keep = torch.ones(n, dtype=torch.bool, device=device)
        # The round a weight was pruned in (0 = never), in the narrowest type that holds it.
        rdtype = torch.int16 if rounds < 2**15 else torch.int32
        self.rounds = torch.zeros(n, dtype=rdtype, device=device)

    def views(self, buffer: Tensor) -> list[Tensor]:
        """``buffer`` cut into one view per prunable tensor, in ``prunable``'s order."""
        out: list[Tensor] = [buffer] * len(self.shapes)
        for j, i in enumerate(self.order):
            out[i] = buffer[self.offsets[j] : self.offsets[j + 1]].view(self.shapes[i])
        return out

    def prune(self, weights: list[Tensor], count: int, e: int) -> None:
        """Prune the ``count`` lowest-scored survivors (ties: first in canonical order).

        Ranking only the survivors picks the same weights as ranking every score with the pruned
        ones at -inf (they would all be pruned first), in a fraction of the time at high
        sparsity. Newly pruned weights are zeroed in ``weights`` and marked with round ``e``.
        """
        keep, scores = self.keep.cpu().numpy(), self.scores.cpu().numpy()
        survivors = np.empty(int(np.count_nonzero(keep)), dtype=np.float64)
        at = 0
        for a, b in itertools.pairwise(self.offsets):
            # np.compress is several times faster than boolean indexing for scattered survivors;
            # tensor by tensor, its index of the survivors stays small.
            n = int(np.count_nonzero(keep[a:b]))
            np.compress(keep[a:b], scores[a:b], out=survivors[at : at + n])
            at += n
        kept = _keep_highest(survivors, count)
        del survivors
        at = 0
        with torch.no_grad():
            for j, i in enumerate(self.order):  # one tensor at a time: small index arrays
                a, b = self.offsets[j], self.offsets[j + 1]
                where = np.flatnonzero(keep[a:b])  # this tensor's survivors, in C order
                gone = where[~kept[at : at + where.size]]
                at += where.size
                if gone.size:
                    index = torch.from_numpy(gone).to(self.keep.device)
                    self.keep[a:b].index_fill_(0, index, False)
                    self.rounds[a:b].index_fill_(0, index, e)
                    weights[i].view(-1).index_fill_(0, index, 0.0)


def _keep_highest(values: np.ndarray, count: int, chunk: int = 1 << 20) -> np.ndarray:
    """Flags (True = keep) pruning the ``count`` lowest of the NaN-free ``values``, ties first
    in index order: ``prune_lowest`` on one vector, without the copy of the values it makes."""
    threshold = kth_smallest(values, count)
    keep = np.greater_equal(values, threshold)
    remaining = count - (values.size - int(np.count_nonzero(keep)))
    for start in range(0, values.size, chunk):  # the first ties are pruned too, up to count
        if remaining <= 0:
            break
        ties = np.flatnonzero(values[start : start + chunk] == threshold)[:remaining]
        keep[start + ties] = False
        remaining -= ties.size
    return keep


def _encode(
    prunable: list[str],
    last: list[Tensor],
    keep: list[Tensor],
    pruned_in: list[Tensor],
    rounds: int,
) -> dict[str, Tensor]:
    """Survivors: last-round score (>= 0); pruned in round e: e - rounds - 1 (< 0); else -inf.

    Survivors' scores are scaled by one power of two if their maximum would overflow float32.
    """
    top = max((float(s[k].max()) for s, k in zip(last, keep, strict=True) if k.any()), default=0.0)
    scale = 1.0
    if math.isfinite(top) and top > _F32_SAFE_MAX:
        scale = 2.0 ** (math.frexp(_F32_SAFE_MAX)[1] - math.frexp(top)[1])
    out = {}
    for name, s, k, r in zip(prunable, last, keep, pruned_in, strict=True):
        # One layer at a time: the scores are the largest thing held at the end.
        if scale != 1.0:
            s.mul_(scale)
        during = r.to(torch.float64).sub_(rounds + 1).masked_fill_(r == 0, -math.inf)
        out[name] = torch.where(k, s, during, out=during)  # its own memory, not the flat buffer's
    return out
