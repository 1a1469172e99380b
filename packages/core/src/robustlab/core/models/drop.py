"""Stochastic regularisation operators: Dropout, DropConnect, DropBlock and Disout.

Each operator is active only in training mode and is the identity (or its deterministic
expectation) in eval mode. They work on feature vectors (B, D) and, where it is meaningful,
on feature maps (B, C, H, W). These are the model-level baselines CTR compares against and the
drop operators its multi-sample heads use.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Disout",
    "DropBlock",
    "DropConnectLinear",
    "Dropout",
    "block_mask",
    "drop_connect_linear",
]


def _check_prob(name: str, p: float) -> float:
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p}")
    return float(p)


class Dropout(nn.Module):
    """Inverted dropout (Srivastava et al., JMLR 2014).

    Training: ``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` element-wise; eval: ``y = x``.

    Args:
        p: Drop probability in [0, 1).

    Shape:
        Any shape -> same shape.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_prob("p", p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def drop_connect_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    p: float,
    training: bool,
    per_example: bool = True,
) -> torch.Tensor:
    """Linear layer with DropConnect on its weights (Wan et al., ICML 2013).

    Training: ``y_b = (W ⊙ M_b / (1 - p)) x_b + bias`` with ``M_b ~ Bernoulli(1 - p)`` of W's shape,
    one mask per example (``per_example=True``, as in the paper) or one per batch. Eval: the plain
    layer ``y = W x + bias`` (the mean of the dropped layers; the paper's Gaussian moment-matching
    inference is not used).

    Args:
        x: Inputs (B, D).
        weight: (C, D). bias: (C,) or None.
        p: Probability of dropping each weight, in [0, 1).
        training: Apply the masks when True.
        per_example: One mask per example (memory B*C*D) instead of one per batch.

    Returns:
        (B, C) outputs.
    """
    p = _check_prob("p", p)
    if not training or p == 0.0:
        return F.linear(x, weight, bias)
    keep = 1.0 - p
    if per_example:
        mask = torch.empty((x.shape[0], *weight.shape), device=x.device, dtype=weight.dtype)
        mask.bernoulli_(keep)
        out = torch.einsum("bd,bcd->bc", x, weight.unsqueeze(0) * mask) / keep
    else:
        mask = torch.empty_like(weight).bernoulli_(keep)
        out = F.linear(x, weight * mask / keep)
    return out if bias is None else out + bias


class DropConnectLinear(nn.Linear):
    """``nn.Linear`` whose weights are dropped with DropConnect while training (Wan et al. 2013).

    Args:
        in_features: D. out_features: C.
        p: Weight drop probability in [0, 1).
        per_example: One mask per example (the paper) or one per batch (cheaper for wide layers).
        bias: Whether the layer has a bias (never dropped).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        per_example: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.p = _check_prob("p", p)
        self.per_example = per_example

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_connect_linear(
            x, self.weight, self.bias, self.p, self.training, self.per_example
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}, per_example={self.per_example}"


def block_mask(
    shape: torch.Size, drop_prob: float, block_size: int, device: torch.device
) -> torch.Tensor:
    """A {0,1} keep-mask with contiguous dropped blocks, as in DropBlock.

    Block centres are sampled with rate ``gamma = drop_prob / bs^d * N / (N - bs + 1)^d`` per spatial
    position (d = 1 for vectors, 2 for maps; Ghiasi et al. 2018, Eq. 1) so that about ``drop_prob``
    of the elements end up dropped; each centre is grown to a ``bs``-long (or ``bs x bs``) block
    with max pooling. Masks are independent per example and per channel.

    Args:
        shape: (B, D) or (B, C, H, W).
        drop_prob: Target fraction of dropped elements, in [0, 1).
        block_size: Block edge length >= 1 (clipped to the feature size).
        device: Where to create the mask.

    Returns:
        Float mask of ``shape``: 1 = keep, 0 = drop.
    """
    if len(shape) == 2:
        n = shape[1]
        bs = max(1, min(block_size, n))
        gamma = drop_prob / bs * n / (n - bs + 1)
        seeds = torch.rand(shape[0], 1, n, device=device) < gamma
        grown = F.max_pool1d(seeds.float(), bs, stride=1, padding=bs // 2)[..., :n]
        return (1.0 - grown).view(shape)
    if len(shape) == 4:
        h, w = shape[2], shape[3]
        bs = max(1, min(block_size, h, w))
        gamma = drop_prob / bs**2 * (h * w) / ((h - bs + 1) * (w - bs + 1))
        seeds = (torch.rand(shape, device=device) < gamma).float()
        grown = F.max_pool2d(seeds, bs, stride=1, padding=bs // 2)[..., :h, :w]
        return 1.0 - grown
    raise ValueError(f"expected a (B, D) or (B, C, H, W) tensor, got shape {tuple(shape)}")


class DropBlock(nn.Module):
    """DropBlock (Ghiasi, Lin & Le, NeurIPS 2018): drop contiguous regions instead of single units.

    Training: ``y = x * M * numel(M) / sum(M)`` with M from :func:`block_mask`; eval: ``y = x``.
    On (B, D) vectors the blocks are runs of ``block_size`` consecutive features.

    Args:
        drop_prob: Fraction of elements to drop, in [0, 1).
        block_size: Edge length of each dropped block (7 in the paper for ResNet-50 maps).

    Shape:
        (B, D) or (B, C, H, W) -> same shape.
    """

    def __init__(self, drop_prob: float = 0.1, block_size: int = 7) -> None:
        super().__init__()
        self.drop_prob = _check_prob("drop_prob", drop_prob)
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = int(block_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        mask = block_mask(x.shape, self.drop_prob, self.block_size, x.device).to(x.dtype)
        return x * mask * (mask.numel() / mask.sum().clamp_min(1.0))

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}, block_size={self.block_size}"


class Disout(nn.Module):
    """Feature-map distortion (Tang et al., "Beyond Dropout: Feature Map Distortion to Regularize
    Deep Neural Networks", AAAI 2020).

    Instead of zeroing the selected activations, Disout perturbs them with bounded noise:

        y = x + (1 - M) ⊙ alpha · σ_b · u,   u ~ U(-1, 1),

    where M is a :func:`block_mask` keep-mask with distortion rate ``dist_prob`` and ``block_size``,
    and σ_b is the (detached) standard deviation of example b's activations, so the noise scales
    with the feature magnitude and never exceeds ``alpha · σ_b`` in absolute value. Eval: ``y = x``.
    The noise has zero mean, so no rescaling is needed. (Our own formulation of the paper's
    idea; the authors' code derives the distortion from feature statistics in the same spirit.)

    Args:
        dist_prob: Fraction of elements distorted, in [0, 1).
        block_size: Block edge length of the distorted regions (1 = independent elements).
        alpha: Distortion strength (> 0), the bound on |noise| in units of σ_b.

    Shape:
        (B, D) or (B, C, H, W) -> same shape.
    """

    def __init__(self, dist_prob: float = 0.1, block_size: int = 1, alpha: float = 1.0) -> None:
        super().__init__()
        self.dist_prob = _check_prob("dist_prob", dist_prob)
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        if not alpha > 0 or not math.isfinite(alpha):
            raise ValueError(f"alpha must be a finite number > 0, got {alpha}")
        self.block_size = int(block_size)
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.dist_prob == 0.0:
            return x
        distort = 1.0 - block_mask(x.shape, self.dist_prob, self.block_size, x.device).to(x.dtype)
        sigma = x.detach().flatten(1).std(dim=1, unbiased=False).view(-1, *([1] * (x.dim() - 1)))
        noise = (torch.rand_like(x) * 2.0 - 1.0) * (self.alpha * sigma)
        return x + distort * noise

    def extra_repr(self) -> str:
        return f"dist_prob={self.dist_prob}, block_size={self.block_size}, alpha={self.alpha}"
