"""Random resize-and-pad input defence (Xie, Wang, Zhang, Ren & Yuille, ICLR 2018), the "Random"
competitor of the I-SCE paper (sec. 4, Table 3).

Xie et al. resize a 299x299 image to a random rnd x rnd with rnd in [299, 331), then zero-pad it
at a random position to 331x331 and classify that. Here, for an input of size H x W:

1. every example draws its own rnd in [H, S) with ``S = max_size`` (default round(H * 331 / 299),
   31 for 28x28 and 35 for 32x32) and is resized to rnd x rnd ("nearest" as Xie et al., or
   "bilinear");
2. it is zero-padded to S x S with a random top/left offset in [0, S - rnd];
3. with ``resize_back=True`` (default) the S x S canvas is resized back to H x W (bilinear) so any
   fixed-input core model can classify it; ``resize_back=False`` feeds S x S to a model built for it.

The transform is differentiable almost everywhere in x (white-box attacks see it; EOT averages over
its randomness). It is a test-time defence: in training mode it passes inputs through unchanged
unless ``train=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError

__all__ = ["RandomResizePad", "random_resize_pad"]

MODES = ("nearest", "bilinear")


def random_resize_pad(
    x: Tensor,
    max_size: int,
    *,
    mode: str = "nearest",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Xie et al.'s transform: x (B, C, H, W) -> (B, C, S, S), S = max_size > max(H, W).

    Each example gets its own size rnd in [max(H, W), S) and offsets (top, left) in [0, S - rnd].
    """
    if x.dim() != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    b, c, h, w = x.shape
    low = max(h, w)
    if max_size <= low:
        raise ConfigError(f"max_size must exceed the input size {low}, got {max_size}")
    dev = x.device
    gen_dev = generator.device if generator is not None else dev
    sizes = torch.randint(low, max_size, (b,), generator=generator, device=gen_dev).to(dev)
    room = (max_size - sizes).to(torch.float32)
    u = torch.rand((2, b), generator=generator, device=gen_dev).to(dev)
    tops = (u[0] * (room + 1)).floor().long().clamp(max=max_size - 1)
    lefts = (u[1] * (room + 1)).floor().long().clamp(max=max_size - 1)
    canvas = x.new_zeros(b, max_size, max_size, c)  # channels last for the scatter below
    kw = {"align_corners": False} if mode == "bilinear" else {}
    for r in torch.unique(sizes).tolist():
        idx = (sizes == r).nonzero(as_tuple=True)[0]
        resized = F.interpolate(x[idx], size=(r, r), mode=mode, **kw).permute(0, 2, 3, 1)
        ar = torch.arange(r, device=dev)
        rows = (tops[idx][:, None] + ar)[:, :, None]  # (n, r, 1)
        cols = (lefts[idx][:, None] + ar)[:, None, :]  # (n, 1, r)
        canvas = canvas.index_put((idx[:, None, None], rows, cols), resized)
    return canvas.permute(0, 3, 1, 2)


class RandomResizePad(nn.Module):
    """A classifier behind Xie et al.'s random resize-and-pad layers (see the module docstring).

    Args:
        model: Classifier taking (B, C, H, W) in [0, 1] (or (B, C, S, S) if ``resize_back=False``).
        max_size: S; None -> round(H * 331 / 299) of the first input (at least H + 1).
        mode: "nearest" (default, Xie et al.) or "bilinear" resizing to rnd x rnd.
        resize_back: Resize the padded S x S canvas back to H x W (default True).
        train: Also randomise in training mode (default False: a test-time defence).

    Shapes: forward x (B, C, H, W) in [0, 1] -> logits (B, K).
    """

    def __init__(
        self,
        model: nn.Module,
        max_size: int | None = None,
        *,
        mode: str = "nearest",
        resize_back: bool = True,
        train: bool = False,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 2):
            raise ConfigError(f"max_size must be None or an int >= 2, got {max_size!r}")
        self.model = model
        self.max_size = max_size
        self.mode = mode
        self.resize_back = bool(resize_back)
        self.randomise_in_training = bool(train)

    @property
    def num_classes(self) -> int:
        return int(getattr(self.model, "num_classes"))  # noqa: B009 - attribute of a wrapped module

    def target_size(self, h: int, w: int) -> int:
        """S for an H x W input: ``max_size`` or round(max(H, W) * 331 / 299), at least +1."""
        if self.max_size is not None:
            return self.max_size
        side = max(h, w)
        return max(side + 1, round(side * 331 / 299))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> (B, K) logits of the wrapped model on the randomised input."""
        if self.training and not self.randomise_in_training:
            return self.model(x)
        h, w = x.shape[-2:]
        z = random_resize_pad(x, self.target_size(h, w), mode=self.mode)
        if self.resize_back:
            z = F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False)
        return self.model(z)

    def extra_repr(self) -> str:
        return f"max_size={self.max_size}, mode={self.mode!r}, resize_back={self.resize_back}"
