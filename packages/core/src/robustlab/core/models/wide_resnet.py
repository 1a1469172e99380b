"""Pre-activation WideResNet for CIFAR (Zagoruyko & Komodakis 2016) as used by TRADES, AWP,
LBGAT, LTD and D2R: WRN-34-10, WRN-34-20, WRN-28-10.

conv3x3 16 -> 3 stages of n = (depth - 4) / 6 pre-activation blocks (widths 16k, 32k, 64k,
strides 1/2/2) -> BN-ReLU -> global average pool -> head. Block: BN-ReLU -> conv3x3(stride) ->
BN-ReLU -> [dropout] -> conv3x3, plus a 1x1 conv shortcut on the *activated* input when the
width changes. Conv init N(0, sqrt(2 / (k^2 out_channels))), BN (1, 0), linear bias 0.
WRN-34-10 has 46,160,474 parameters for 10 classes. Layer names follow the TRADES code, so its
checkpoints load (``fc.*`` -> ``head.*``); ``sub_block1=True`` adds TRADES' unused extra stage.
The average pool is global (the reference's ``avg_pool2d(8)`` on 32x32 inputs is the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["WideResNet"]


class PreActBlock(nn.Module):
    """One pre-activation basic block (see module docstring). (B, Cin, H, W) -> (B, Cout, H/s, W/s)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.dropout = float(dropout)
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = (
            None
            if self.equal_in_out
            else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(act)))
        if self.dropout > 0:
            out = F.dropout(out, self.dropout, self.training)
        out = self.conv2(out)
        shortcut = x if self.convShortcut is None else self.convShortcut(act)
        return shortcut + out


class NetworkBlock(nn.Module):
    """A stage of ``n`` blocks; the first one changes width and stride."""

    def __init__(
        self, n: int, in_planes: int, out_planes: int, stride: int, dropout: float
    ) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            *[
                PreActBlock(
                    in_planes if i == 0 else out_planes,
                    out_planes,
                    stride if i == 0 else 1,
                    dropout,
                )
                for i in range(n)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(Classifier):
    """WRN-depth-k. Features: the 64k-d pooled output of the final BN-ReLU.

    Args:
        depth: 6n + 4 (28, 34, ...). widen_factor: k.
        num_classes: K. in_channels: C.
        dropout: Dropout inside each block (0 in TRADES/AWP).
        sub_block1: Add TRADES' unused duplicate of the first stage (never run in forward) so that
            TRADES/LBGAT/D2R checkpoints, which contain ``sub_block1.*`` keys, load strictly.
    """

    map_drop_stage: ClassVar[str] = "block3"

    reference_key_map: ClassVar[dict[str, str]] = {"fc.": "head."}

    def __init__(
        self,
        depth: int = 34,
        widen_factor: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.0,
        sub_block1: bool = False,
    ) -> None:
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(
                f"WideResNet depth must be 6n + 4 with n >= 1 (e.g. 28, 34), got {depth}"
            )
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        super().__init__(feature_dim=widths[3], num_classes=num_classes)
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, widths[0], widths[1], 1, dropout)
        if sub_block1:
            self.sub_block1 = NetworkBlock(n, widths[0], widths[1], 1, dropout)
        self.block2 = NetworkBlock(n, widths[1], widths[2], 2, dropout)
        self.block3 = NetworkBlock(n, widths[2], widths[3], 2, dropout)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.head = LinearHead(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn1(out))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


def _wrn(depth: int, k: int) -> Callable[..., WideResNet]:
    def factory(
        num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0, sub_block1: bool = False
    ) -> WideResNet:
        return WideResNet(depth, k, num_classes, in_channels, dropout, sub_block1)

    factory.__doc__ = f"WRN-{depth}-{k} (TRADES pre-activation WideResNet)."
    return factory


register_model("wrn-34-10", heavy=True)(_wrn(34, 10))
register_model("wrn-34-20", heavy=True)(_wrn(34, 20))
register_model("wrn-28-10", heavy=True)(_wrn(28, 10))
