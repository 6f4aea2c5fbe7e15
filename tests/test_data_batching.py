"""Batches (order, resume, distributed split, augmentation) and class-balanced subsets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from maskkit.data import Split, batches, batches_per_epoch, class_balanced, derive_seed
from maskkit.data.batching import crop_flip
from maskkit.errors import DataError, OptionError


def indexed_split(n: int, shape: tuple[int, ...] = (1, 2, 2)) -> Split:
    """x[i] is filled with i, y[i] = i: a batch says exactly which examples it holds."""
    x = (
        torch.arange(n, dtype=torch.float32)
        .view(n, *[1] * len(shape))
        .expand(n, *shape)
        .contiguous()
    )
    return Split(x, torch.arange(n))


def image_split(n: int = 40, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, 3, 8, 8, generator=g), torch.arange(n) % 4)


def collect(it) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in it]


@pytest.mark.parametrize(
    ("n", "b", "drop", "want"),
    [(10, 4, False, 3), (10, 4, True, 2), (8, 4, False, 2), (0, 4, False, 0), (3, 5, True, 0)],
)
def test_batches_per_epoch(n, b, drop, want):
    assert batches_per_epoch(n, b, drop_last=drop) == want
    assert len(list(batches(indexed_split(n), b, drop_last=drop))) == want


def test_every_example_once_per_epoch():
    split = indexed_split(103)
    out = collect(batches(split, 10, seed=5, epoch=2))
    assert [len(y) for _, y in out] == [10] * 10 + [3]
    seen = torch.cat([y for _, y in out])
    assert sorted(seen.tolist()) == list(range(103))
    for x, y in out:  # inputs travel with their labels
        assert torch.equal(x[:, 0, 0, 0], y.float())


def test_order_is_randperm_of_derive_seed():
    gen = torch.Generator().manual_seed(derive_seed(7, 3))
    want = torch.randperm(50, generator=gen)
    got = torch.cat([y for _, y in batches(indexed_split(50), 8, seed=7, epoch=3)])
    assert torch.equal(got, want)


def test_deterministic_and_varies_with_seed_and_epoch():
    split = indexed_split(64)
    first = torch.cat([y for _, y in batches(split, 16, seed=1, epoch=0)])
    again = torch.cat([y for _, y in batches(split, 16, seed=1, epoch=0)])
    assert torch.equal(first, again)
    assert not torch.equal(first, torch.cat([y for _, y in batches(split, 16, seed=1, epoch=1)]))
    assert not torch.equal(first, torch.cat([y for _, y in batches(split, 16, seed=2, epoch=0)]))
    in_order = torch.cat([y for _, y in batches(split, 16, shuffle=False)])
    assert torch.equal(in_order, torch.arange(64))


def test_drop_last_drops_the_partial_batch():
    out = collect(batches(indexed_split(25), 10, drop_last=True))
    assert [len(y) for _, y in out] == [10, 10]


@pytest.mark.parametrize("augment", [False, True])
def test_start_batch_resumes_identically(augment):
    split = image_split(45)
    full = collect(batches(split, 8, seed=3, epoch=4, augment=augment))
    for start in (0, 1, 4, 6):
        resumed = collect(batches(split, 8, seed=3, epoch=4, augment=augment, start_batch=start))
        assert len(resumed) == len(full) - start
        for (xa, ya), (xb, yb) in zip(full[start:], resumed, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert collect(batches(split, 8, start_batch=6)) == []  # resuming at the end of the epoch


def test_distributed_ranks_partition_each_batch():
    split, world = indexed_split(48), 4
    single = collect(batches(split, 12, seed=9, epoch=1))
    per_rank = [
        collect(batches(split, 12, seed=9, epoch=1, rank=r, world_size=world)) for r in range(world)
    ]
    assert {len(p) for p in per_rank} == {len(single)} == {4}
    for b, (_, y_global) in enumerate(single):
        parts = [per_rank[r][b][1] for r in range(world)]
        assert all(len(p) == 3 for p in parts)
        assert sorted(torch.cat(parts).tolist()) == sorted(
            y_global.tolist()
        )  # no overlap, nothing lost
        for r in range(world):
            assert torch.equal(parts[r], y_global[r::world])
    everything = torch.cat([y for p in per_rank for _, y in p])
    assert sorted(everything.tolist()) == list(range(48))


def test_distributed_last_batch_is_padded_so_no_rank_is_empty():
    split, world = indexed_split(50), 4
    order = torch.cat([y for _, y in batches(split, 12, seed=0)])
    per_rank = [collect(batches(split, 12, seed=0, rank=r, world_size=world)) for r in range(world)]
    assert {len(p) for p in per_rank} == {5}
    last = [p[-1][1] for p in per_rank]
    assert [len(t) for t in last] == [1, 1, 1, 1]
    # 2 real examples (48, 49 of the order) padded with the epoch's first 2
    assert sorted(torch.cat(last).tolist()) == sorted(order[48:].tolist() + order[:2].tolist())
    seen = torch.cat([y for p in per_rank for _, y in p])
    assert set(seen.tolist()) == set(range(50)) and len(seen) == 52


def test_distributed_augmentation_matches_a_single_process():
    split, world = image_split(32), 2
    single = collect(batches(split, 8, seed=4, epoch=2, augment=True))
    ranks = [
        collect(batches(split, 8, seed=4, epoch=2, augment=True, rank=r, world_size=world))
        for r in range(world)
    ]
    for b, (x, y) in enumerate(single):
        for r in range(world):
            assert torch.equal(ranks[r][b][0], x[r::world]) and torch.equal(
                ranks[r][b][1], y[r::world]
            )


def test_augmentation_changes_images_keeps_shapes_and_labels():
    split = image_split(40)
    plain = collect(batches(split, 16, seed=2, epoch=0))
    aug = collect(batches(split, 16, seed=2, epoch=0, augment=True))
    again = collect(batches(split, 16, seed=2, epoch=0, augment=True))
    other_epoch = collect(batches(split, 16, seed=2, epoch=1, augment=True))
    for (xp, yp), (xa, ya), (xb, yb) in zip(plain, aug, again, strict=True):
        assert xa.shape == xp.shape and torch.equal(ya, yp)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    changed = sum(
        int(not torch.equal(xp[i], xa[i]))
        for (xp, _), (xa, _) in zip(plain, aug, strict=True)
        for i in range(len(xp))
    )
    assert changed > 30  # the identity (offset 4, 4, no flip) has probability 1/162
    assert not torch.equal(torch.cat([x for x, _ in aug]), torch.cat([x for x, _ in other_epoch]))


def reference_crop_flip(
    x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int
) -> torch.Tensor:
    """One image at a time: pad, slice, flip."""
    out = []
    h, w = x.shape[-2:]
    for img, (dy, dx), flip in zip(x, offsets.tolist(), flips.tolist(), strict=True):
        crop = F.pad(img, (pad, pad, pad, pad))[:, dy : dy + h, dx : dx + w]
        out.append(torch.flip(crop, dims=[-1]) if flip else crop)
    return torch.stack(out)


def test_crop_flip_matches_a_per_image_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, 6, 7, generator=g)
    offsets = torch.randint(0, 9, (50, 2), generator=g)
    flips = torch.randint(0, 2, (50,), generator=g).bool()
    assert torch.equal(crop_flip(x, offsets, flips), reference_crop_flip(x, offsets, flips, 4))
    # offset (4, 4) without flip is the identity; full offsets shift in zeros
    ident = crop_flip(x[:1], torch.tensor([[4, 4]]), torch.tensor([False]))
    assert torch.equal(ident, x[:1])
    shifted = crop_flip(x[:1], torch.tensor([[0, 8]]), torch.tensor([False]))
    assert torch.equal(shifted[0, :, 4:, :3], x[0, :, :2, 4:])
    assert (shifted[0, :, :4] == 0).all() and (shifted[0, :, :, 3:] == 0).all()


@pytest.mark.parametrize(
    ("kw", "err", "match"),
    [
        ({"batch_size": 0}, OptionError, "batch size must be at least 1"),
        ({"batch_size": 10, "world_size": 4}, OptionError, "not a multiple of the world size 4"),
        ({"rank": 2, "world_size": 2}, OptionError, r"rank 2 is not in 0\.\.1"),
        ({"start_batch": 5}, OptionError, r"start batch 5 is not in 0\.\.4"),
        ({"start_batch": -1}, OptionError, "start batch -1"),
    ],
)
def test_bad_batch_arguments_fail_at_the_call(kw, err, match):
    kw.setdefault("batch_size", 4)
    with pytest.raises(err, match=match):
        batches(indexed_split(16), **kw)  # no next(): checked eagerly


def test_augmentation_needs_images():
    with pytest.raises(DataError, match="augmentation needs image inputs"):
        batches(Split(torch.zeros(4, 5), torch.zeros(4, dtype=torch.int64)), 2, augment=True)


# ---- class-balanced subsets --------------------------------------------------------------------


def labelled_split(counts: list[int], seed: int = 0) -> Split:
    y = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]
    return Split(torch.arange(len(y), dtype=torch.float32)[:, None], y)  # x = original index


def test_class_balanced_counts_order_and_membership():
    split = labelled_split([30, 12, 50, 7])
    sub = class_balanced(split, 5, seed=0)
    assert len(sub) == 20
    assert sub.y.tolist() == [0, 1, 2, 3] * 5  # interleaved
    source = sub.x[:, 0].long()
    assert len(set(source.tolist())) == 20  # no example twice
    assert torch.equal(split.y[source], sub.y)  # each really is of its class
    assert torch.equal(split.x[source], sub.x)


def test_class_balanced_is_seeded_and_uniform_ish():
    split = labelled_split([40, 40])
    a, b, c = (class_balanced(split, 10, seed=s).x[:, 0] for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # every example of class 0 gets picked under some seed (not just the first ten)
    picked = set()
    for s in range(40):
        sub = class_balanced(split, 10, seed=s)
        picked |= set(sub.x[sub.y == 0, 0].long().tolist())
    assert picked == set((split.y == 0).nonzero().flatten().tolist())


def test_class_balanced_takes_all_when_exactly_enough():
    split = labelled_split([3, 3, 3])
    sub = class_balanced(split, 3)
    assert sorted(sub.x[:, 0].long().tolist()) == list(range(9))


def test_class_balanced_too_few_examples():
    split = labelled_split([30, 12, 50, 7])
    with pytest.raises(DataError, match="cifar10 has only 7 examples of class 3, need 10"):
        class_balanced(split, 10, name="cifar10")
    with pytest.raises(DataError, match="has only 0 examples of class 4, need 1"):
        class_balanced(split, 1, num_classes=5)
    with pytest.raises(DataError, match=r"labels 0\.\.3, outside 0\.\.2"):
        class_balanced(split, 1, num_classes=3)
    with pytest.raises(OptionError, match="at least 1"):
        class_balanced(split, 0)
