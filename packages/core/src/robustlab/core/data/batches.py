"""Mini-batches from in-memory tensors with deterministic, vectorised augmentation.

The order and the augmentation of epoch ``e`` are a pure function of ``(seed, e)``: a run resumed
at epoch ``e`` calls ``set_epoch(e)`` and sees exactly the batches the uninterrupted run saw.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from robustlab.core.data.types import ArrayData, Augment


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch)`` through numpy's SeedSequence.

    SeedSequence mixes both integers, so neighbouring (seed, epoch) pairs give unrelated streams.
    """
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(
        2, np.uint32
    )
    gen = torch.Generator()
    gen.manual_seed((int(state[0]) << 31) ^ int(state[1]))
    return gen


def augment_batch(
    x: torch.Tensor,
    augment: Augment,
    offsets: torch.Tensor | None = None,
    flips: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip of a whole batch, no per-image loop.

    The crop pads the batch once, x_pad = pad(x, p) of shape (B, C, H+2p, W+2p), and gathers
    rows ``dy_i + arange(H)`` then columns ``dx_i + arange(W)`` of image i, with offsets
    dy_i, dx_i uniform in [0, 2p] (torchvision ``RandomCrop(H, padding=p)`` per image).
    Flipped images are ``x.flip(-1)`` where the mask is set (probability 1/2 each).

    Args:
        x: images (B, C, H, W), any float dtype and device; not modified.
        augment: what to apply.
        offsets: optional int64 (B, 2) crop offsets (dy, dx) in [0, 2p]; drawn when None.
        flips: optional bool (B,) flip mask; drawn when None.
        generator: CPU generator used to draw missing offsets/flips.

    Returns:
        A new tensor with x's shape, dtype and device (values stay in x's range; padding is 0).
    """
    b, _, h, w = x.shape
    out = x
    p = augment.crop_padding
    if p > 0:
        if offsets is None:
            offsets = torch.randint(0, 2 * p + 1, (b, 2), generator=generator)
        offsets = offsets.to(x.device)
        padded = F.pad(x, (p, p, p, p))
        rows = (offsets[:, 0:1] + torch.arange(h, device=x.device)).view(b, 1, h, 1)
        out = padded.gather(2, rows.expand(b, x.shape[1], h, w + 2 * p))
        cols = (offsets[:, 1:2] + torch.arange(w, device=x.device)).view(b, 1, 1, w)
        out = out.gather(3, cols.expand(b, x.shape[1], h, w))
    if augment.hflip:
        if flips is None:
            flips = torch.rand(b, generator=generator) < 0.5
        out = torch.where(flips.to(x.device).view(b, 1, 1, 1), out.flip(-1), out)
    return out if out is not x else x.clone()


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous slice ``[lo, hi)`` of a global batch of ``n`` examples.

    The slices tile ``[0, n)`` in rank order and their sizes differ by at most one: the first
    ``n % world_size`` ranks take ``n // world_size + 1`` examples, the others ``n // world_size``
    (e.g. n=7, 2 ranks: [0, 4) and [4, 7)). A rank's slice is empty when ``n < world_size``.

    Raises:
        ValueError: ``world_size < 1``, ``rank`` outside ``[0, world_size)`` or ``n < 0``.
    """
    if world_size < 1 or not 0 <= rank < world_size or n < 0:
        raise ValueError(
            f"need n >= 0 and 0 <= rank < world_size, got {n=}, {rank=}, {world_size=}"
        )
    base, extra = divmod(int(n), int(world_size))
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


class BatchIterator:
    """Iterate over (x, y) in mini-batches, shuffled and augmented per epoch.

    Args:
        x: images (N, C, H, W) float in [0, 1] (CPU or device).
        y: labels (N,) int64.
        batch_size: examples per batch (>= 1).
        shuffle: draw a new permutation each epoch (else the stored order).
        seed: base seed; epoch e uses :func:`epoch_generator` (seed, e) for order and augmentation.
        augment: batched augmentation (:class:`Augment`) or None.
        drop_last: drop the final incomplete batch.
        device: where batches go (None keeps x's device).
        rank / world_size: data-parallel sharding (``robustlab.core.train.distributed``): every
            rank draws the same order and augmentation and yields its :func:`shard_bounds` slice
            of each global batch of ``batch_size``, so the ranks together see exactly the
            single-process batches. A final batch with fewer examples than ranks (``0 < N %
            batch_size < world_size``) is dropped, since a rank would get no example.

    Each ``iter()`` runs one epoch: the one set by :meth:`set_epoch`, else the one after the
    previous iteration (0 first). ``len()`` is the number of (global) batches per epoch.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        augment: Augment | None = None,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if x.ndim != 4:
            raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {tuple(y.shape)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if augment is not None and not isinstance(augment, Augment):
            raise ValueError(f"augment must be an Augment or None, got {type(augment).__name__}")
        shard_bounds(batch_size, rank, world_size)  # validates rank / world_size
        if batch_size < world_size:
            raise ValueError(
                f"batch_size {batch_size} < {world_size} data-parallel ranks: every rank needs at "
                "least one example per batch; raise batch_size or use fewer processes"
            )
        self.rank, self.world_size = int(rank), int(world_size)
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.augment = augment if augment is not None and augment.active else None
        self.drop_last = drop_last
        self.device = torch.device(device) if device is not None else x.device
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (>= 0)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = int(self.x.shape[0])
        if self.drop_last or n % self.batch_size < self.world_size:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def global_batch_size(self, b: int) -> int:
        """Examples in global batch ``b`` (all ranks together), ``0 <= b < len(self)``."""
        return min(self.batch_size, int(self.x.shape[0]) - b * self.batch_size)

    def _plan(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Order, crop offsets and flip mask of every example for one epoch."""
        n = int(self.x.shape[0])
        gen = epoch_generator(self.seed, epoch)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        offsets = flips = None
        if self.augment is not None and self.augment.crop_padding > 0:
            offsets = torch.randint(0, 2 * self.augment.crop_padding + 1, (n, 2), generator=gen)
        if self.augment is not None and self.augment.hflip:
            flips = torch.rand(n, generator=gen) < 0.5
        return order, offsets, flips

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        order, offsets, flips = self._plan(epoch)
        non_blocking = self.device.type == "cuda"
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            if self.world_size > 1:
                lo, hi = shard_bounds(len(idx), self.rank, self.world_size)
                idx = idx[lo:hi]
            src_idx = idx.to(self.x.device)
            xb = self.x.index_select(0, src_idx).to(self.device, non_blocking=non_blocking)
            yb = self.y.index_select(0, src_idx).to(self.device, non_blocking=non_blocking)
            if self.augment is not None:
                xb = augment_batch(
                    xb,
                    self.augment,
                    offsets=None if offsets is None else offsets[idx],
                    flips=None if flips is None else flips[idx],
                )
            yield xb, yb


def split_holdout(
    x: torch.Tensor,
    y: torch.Tensor,
    fraction: float,
    seed: int,
    *,
    stratify: bool = True,
    name: str = "data",
) -> tuple[ArrayData, ArrayData]:
    """Split off a validation set of about ``fraction`` of the examples.

    With ``stratify`` each class contributes round(fraction * count_c) examples, chosen by a
    permutation seeded with ``seed``; both parts keep the original relative order.

    Returns:
        (train ArrayData, val ArrayData) named ``"<name>[train]"`` and ``"<name>[val]"``.

    Raises:
        ValueError: fraction outside (0, 1), shapes that disagree, or an empty part.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {tuple(y.shape)}")
    gen = epoch_generator(seed, 0)
    perm = torch.randperm(int(x.shape[0]), generator=gen)
    if stratify:
        y_perm = y[perm].cpu()
        chosen = [
            perm[y_perm == c][: round(fraction * int((y_perm == c).sum()))]
            for c in torch.unique(y_perm)
        ]
        val_idx = torch.cat(chosen) if chosen else perm[:0]
    else:
        val_idx = perm[: round(fraction * int(x.shape[0]))]
    mask = torch.zeros(int(x.shape[0]), dtype=torch.bool)
    mask[val_idx] = True
    if mask.all() or not mask.any():
        raise ValueError(
            f"fraction={fraction} of {x.shape[0]} examples leaves an empty train or val part; "
            "use a larger dataset or a fraction nearer 0.5"
        )
    mask = mask.to(x.device)
    return (
        ArrayData(x[~mask], y[~mask], f"{name}[train]"),
        ArrayData(x[mask], y[mask], f"{name}[val]"),
    )
