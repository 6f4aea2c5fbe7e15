"""Class-balanced subsets: the scoring data of SNIP and GraSP (N examples of every class)."""

from __future__ import annotations

import torch

from maskkit.data.seeding import generator
from maskkit.data.types import Split
from maskkit.errors import DataError, OptionError


def class_balanced(
    split: Split,
    per_class: int,
    *,
    seed: int = 0,
    num_classes: int | None = None,
    name: str = "the dataset",
) -> Split:
    """``per_class`` examples of every class, chosen at random from ``split`` by ``seed``.

    Order: interleaved, so example ``i`` has class ``i % num_classes`` (class 0, 1, ..., K-1,
    then the second example of each class, ...): any run of K consecutive examples, and so any
    batch of a multiple of K taken in order, is itself balanced. Each class's examples are a
    uniformly random subset of that class, in random order. ``num_classes`` defaults to the
    largest label + 1; ``name`` only goes into error messages.

    Example:
        >>> s = Split(torch.zeros(6, 1), torch.tensor([0, 1, 0, 1, 0, 1]))
        >>> class_balanced(s, 2).y.tolist()
        [0, 1, 0, 1]
    """
    if per_class < 1:
        raise OptionError(f"examples per class must be at least 1, got {per_class}")
    y = split.y.cpu()
    if len(y) == 0:
        raise DataError(
            f"{name} has no examples; class-balanced sampling needs {per_class} per class"
        )
    low, high = int(y.min()), int(y.max())
    classes = high + 1 if num_classes is None else int(num_classes)
    if low < 0 or high >= classes:
        raise DataError(f"{name} has labels {low}..{high}, outside 0..{classes - 1}")
    counts = torch.bincount(y, minlength=classes)
    short = int(torch.argmin(counts))
    if int(counts[short]) < per_class:
        raise DataError(
            f"{name} has only {int(counts[short])} examples of class {short}, need {per_class} "
            "for class-balanced sampling"
        )
    # A random order, then a stable sort by class: each class's run is in random order, so
    # its first per_class entries are a uniform random choice.
    shuffled = torch.randperm(len(y), generator=generator("maskkit.class_balanced", seed))
    grouped = shuffled[torch.sort(y[shuffled], stable=True).indices]
    starts = torch.cumsum(counts, 0) - counts
    picks = grouped[(starts[:, None] + torch.arange(per_class)).T.reshape(-1)]
    picks = picks.to(split.x.device)
    return Split(split.x[picks], split.y[picks.to(split.y.device)])
