"""PreActResNet-18 (He et al. 2016b) as in Fast-AT (locuslab/fast_adversarial) and AT-AWP.

conv3x3 64 -> pre-activation blocks [2,2,2,2] (BN-ReLU -> conv3x3(stride) -> BN-ReLU -> conv3x3,
64/128/256/512 channels, strides 1/2/2/2; the 1x1-conv projection shortcut takes the
*pre-activated* input) -> final BN-ReLU -> global average pool (= avgpool 4 on 32x32) -> head.
11,172,170 parameters on CIFAR-10. Layer names follow the reference (``linear.*`` -> ``head.*``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["PreActResNet"]


class PreActBlock(nn.Module):
    """Pre-activation basic block with a projection shortcut on the activated input."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(Classifier):
    """PreActResNet with a final BN-ReLU. Features: the 512-d pooled output.

    Args:
        num_blocks: Blocks per stage ((2, 2, 2, 2) for PreActResNet-18). num_classes: K.
        in_channels: C.
    """

    map_drop_stage: ClassVar[str] = "layer4"

    reference_key_map: ClassVar[dict[str, str]] = {"linear.": "head."}

    def __init__(
        self,
        num_blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__(feature_dim=512, num_classes=num_classes)
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        in_planes, stages = 64, []
        for planes, n, stride in zip((64, 128, 256, 512), num_blocks, (1, 2, 2, 2)):
            blocks = []
            for i in range(n):
                blocks.append(PreActBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn = nn.BatchNorm2d(512)
        self.head = LinearHead(512, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        out = F.relu(self.bn(out))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


@register_model("preactresnet18", input_size=(3, 32, 32))
def preactresnet18(num_classes: int = 10, in_channels: int = 3) -> PreActResNet:
    """PreActResNet-18 (Fast-AT / AT-AWP)."""
    return PreActResNet((2, 2, 2, 2), num_classes, in_channels)
