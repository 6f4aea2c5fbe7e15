"""synflow: iterative synaptic-flow scores (Tanaka et al., 2020), data-free, in float64.

Each round scores the surviving weights with |w * dR/dw|, where R is the sum of the output of
the all-positive copy of the network (every parameter replaced by its absolute value, BatchNorm
in eval mode) on one all-ones input, then prunes the lowest survivors down to the round's
density (1 - sparsity) ** (e / rounds). The returned scores encode the final mask, see
``spec/methods/synflow.md``: prune_lowest(scores, n_to_prune(sparsity, N)) reproduces it exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from maskkit.errors import OptionError
from maskkit.masking import n_to_prune, prune_lowest
from maskkit.pruners import _util
from maskkit.pruners.base import Data, Method, MethodOptions, model_device

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
        net, weights = _util.working_copy(model, prunable, None, dtype=torch.float64)
        net.eval()
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, p in params.items():
                p.abs_()
                if mask is not None and name in mask and name not in prunable:
                    p.masked_fill_(~mask[name].to(device), 0.0)
        # |w| once; each round only multiplies it by the current mask.
        base = [w.detach().clone() for w in weights]
        keep = [
            torch.ones_like(w, dtype=torch.bool) if mask is None else mask[n].to(device)
            for n, w in zip(prunable, weights, strict=True)
        ]
        pruned_in = [torch.zeros_like(w, dtype=torch.int32) for w in weights]  # 0 = never
        n_total = sum(w.numel() for w in weights)
        n_pruned = sum(int((~k).sum()) for k in keep)
        targets = round_targets(options.sparsity, options.rounds, n_total, n_pruned)
        ones = torch.ones((1, *options.input_shape), dtype=torch.float64, device=device)

        last: list[Tensor] = []
        for e, target in enumerate(targets, start=1):
            if target == n_pruned and e < options.rounds:
                continue  # the mask did not change, so this round's scores would not either
            with torch.no_grad():
                for w, b, k in zip(weights, base, keep, strict=True):
                    w.copy_(b).masked_fill_(~k, 0.0)
            flow = net(ones).sum()
            grads = _util.grads(flow, weights)
            last = [(w.detach() * g).abs() for w, g in zip(weights, grads, strict=True)]
            for name, s, k in zip(prunable, last, keep, strict=True):
                if bool(torch.isnan(s[k]).any()):
                    raise RuntimeError(f"synflow: NaN score for {name!r} in round {e}")
            if target > n_pruned:
                ranked = {
                    n: s.masked_fill(~k, -math.inf).cpu().numpy()
                    for n, s, k in zip(prunable, last, keep, strict=True)
                }
                new_keep = prune_lowest(ranked, target)
                for i, n in enumerate(prunable):
                    k_new = torch.from_numpy(new_keep[n]).to(device)
                    pruned_in[i].masked_fill_(keep[i] & ~k_new, e)
                    keep[i] = k_new
                n_pruned = target
        return _encode(prunable, last, keep, pruned_in, options.rounds)


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
        during = (r - rounds - 1).to(torch.float64)
        out[name] = torch.where(
            k, s * scale, torch.where(r > 0, during, torch.full_like(s, -math.inf))
        )
    return out
