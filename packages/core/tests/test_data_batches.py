"""BatchIterator determinism, coverage and batched augmentation; split_holdout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from robustlab.core.data import Augment, BatchIterator, augment_batch, split_holdout


def toy(n: int = 50, c: int = 3, h: int = 8, w: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, c, h, w, generator=g)
    return x, torch.arange(n)


def batches(it: BatchIterator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(xb.clone(), yb.clone()) for xb, yb in it]


def same(a, b) -> bool:
    return len(a) == len(b) and all(
        torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b)
    )


AUG = Augment(crop_padding=2, hflip=True)


def test_epoch_is_a_function_of_seed_and_epoch() -> None:
    x, y = toy()
    it = BatchIterator(x, y, 16, seed=7, augment=AUG)
    epochs = [batches(it) for _ in range(3)]  # epochs 0, 1, 2 by auto-advance
    resumed = BatchIterator(x, y, 16, seed=7, augment=AUG)
    resumed.set_epoch(2)
    assert same(batches(resumed), epochs[2])  # exact resume without saved state
    resumed.set_epoch(0)
    assert same(batches(resumed), epochs[0])
    assert not same(epochs[0], epochs[1])
    other_seed = BatchIterator(x, y, 16, seed=8, augment=AUG)
    assert not same(batches(other_seed), epochs[0])


def test_every_example_once_per_epoch_and_len() -> None:
    x, y = toy(50)
    it = BatchIterator(x, y, 16)
    assert len(it) == 4
    for _ in range(2):
        ys = torch.cat([yb for _, yb in it])
        assert sorted(ys.tolist()) == list(range(50))
    dropped = BatchIterator(x, y, 16, drop_last=True)
    assert len(dropped) == 3 and sum(len(yb) for _, yb in dropped) == 48
    ordered = BatchIterator(x, y, 16, shuffle=False)
    assert torch.cat([yb for _, yb in ordered]).tolist() == list(range(50))
    assert torch.equal(torch.cat([xb for xb, _ in ordered]), x)  # no augment: data unchanged


def test_augmented_batches_keep_shape_range_and_pairing() -> None:
    x, y = toy(40)
    x_before = x.clone()
    it = BatchIterator(x, y, 40, augment=AUG, device="cpu")
    xb, yb = next(iter(it))
    assert xb.shape == (40, 3, 8, 6) and xb.dtype == x.dtype
    assert float(xb.min()) >= 0.0 and float(xb.max()) <= 1.0
    assert torch.equal(x, x_before)  # input untouched
    changed = [not torch.equal(xb[i], x[int(yb[i])]) for i in range(40)]
    assert sum(changed) >= 30  # most images shifted and/or flipped


def reference_augment(x: torch.Tensor, p: int, offsets: torch.Tensor, flips: torch.Tensor):
    """Per-image loop version of crop-with-padding + flip (the definition, slow)."""
    out = []
    h, w = x.shape[-2:]
    for i in range(x.shape[0]):
        img = F.pad(x[i], (p, p, p, p))
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        img = img[:, dy : dy + h, dx : dx + w]
        out.append(img.flip(-1) if flips[i] else img)
    return torch.stack(out)


def test_vectorised_crop_and_flip_match_the_per_image_definition() -> None:
    x, _ = toy(12, c=2, h=5, w=7)
    g = torch.Generator().manual_seed(3)
    offsets = torch.randint(0, 7, (12, 2), generator=g)
    flips = torch.rand(12, generator=g) < 0.5
    got = augment_batch(x, Augment(3, True), offsets=offsets, flips=flips)
    assert torch.equal(got, reference_augment(x, 3, offsets, flips))
    centre = augment_batch(x, Augment(3, False), offsets=torch.full((12, 2), 3))
    assert torch.equal(centre, x) and centre is not x


def test_augment_statistics() -> None:
    x = torch.ones(4000, 1, 4, 4)
    x[..., :, 0] = 0.0  # left column dark: a flip moves it to the right
    out = augment_batch(x, Augment(0, True), generator=torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, -1] == 0).float().mean()
    assert 0.45 < float(flipped) < 0.55
    crops = augment_batch(torch.ones(4000, 1, 4, 4), Augment(1, False), generator=torch.Generator())
    untouched = (crops.sum(dim=(1, 2, 3)) == 16).float().mean()
    assert abs(float(untouched) - 1 / 9) < 0.03  # only offset (1, 1) of 3x3 keeps all pixels


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2, "augment": "flip"}, "augment must be"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    x, y = toy(4)
    with pytest.raises(ValueError, match=match):
        BatchIterator(x, y, **kwargs)


def test_bad_shapes_and_augment_values() -> None:
    x, y = toy(4)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        BatchIterator(x, y[:3], 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        BatchIterator(x[0], y, 2)
    with pytest.raises(ValueError, match="crop_padding"):
        Augment(crop_padding=-1)
    with pytest.raises(ValueError, match="epoch"):
        BatchIterator(x, y, 2).set_epoch(-1)


def test_split_holdout_stratified_deterministic() -> None:
    y = torch.arange(1000) % 10
    x = torch.arange(1000, dtype=torch.float32).view(1000, 1, 1, 1)
    train, val = split_holdout(x, y, 0.1, seed=0, name="toy")
    assert (len(train), len(val)) == (900, 100)
    assert torch.bincount(val.y).tolist() == [10] * 10
    ids = torch.cat([train.x.flatten(), val.x.flatten()]).long().sort().values
    assert torch.equal(ids, torch.arange(1000))  # disjoint, complete
    assert torch.equal(train.y, y[train.x.flatten().long()])  # pairs stay aligned
    assert train.name == "toy[train]" and val.name == "toy[val]"
    again = split_holdout(x, y, 0.1, seed=0)[1]
    other = split_holdout(x, y, 0.1, seed=1)[1]
    assert torch.equal(again.x, val.x) and not torch.equal(other.x, val.x)
    plain = split_holdout(x, y, 0.25, seed=0, stratify=False)[1]
    assert len(plain) == 250


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 0.0001])
def test_split_holdout_bad_fraction(fraction: float) -> None:
    x, y = toy(20)
    with pytest.raises(ValueError, match="fraction"):
        split_holdout(x, y, fraction, seed=0)
