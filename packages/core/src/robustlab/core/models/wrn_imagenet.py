"""Wide ResNet-50-2 for ImageNet-size inputs (Zagoruyko & Komodakis 2016; the torchvision layout),
the LTD paper's ImageNet model.

conv7x7/2 64 -> BN -> ReLU -> max-pool 3/2 -> bottleneck stages [3,4,6,3] whose inner 3x3 width is
twice ResNet-50's (128/256/512/1024; outputs 256/512/1024/2048; stride on the 3x3 conv) ->
global average pool -> head Linear(2048, K). 68,883,240 parameters for 1000 classes. Layer
names follow torchvision (``fc.*`` -> ``head.*``), so torchvision-format checkpoints load.
Init: Kaiming-normal (fan-out) convs, BN (1, 0), PyTorch default for the head.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["WideBottleneckResNet"]


class WideBottleneck(nn.Module):
    """1x1 (width) - 3x3 stride (width) - 1x1 (4 * planes), BN after each, + downsample, ReLU."""

    def __init__(self, in_planes: int, planes: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class WideBottleneckResNet(Classifier):
    """ImageNet-stem bottleneck ResNet with widened 3x3 convolutions. Features: 2048-d.

    Args:
        layers: Blocks per stage ((3, 4, 6, 3) for 50 layers).
        width_factor: Inner-width multiplier (2 for WRN-50-2).
        num_classes: K. in_channels: C.
    """

    map_drop_stage: ClassVar[str] = "layer4"

    reference_key_map: ClassVar[dict[str, str]] = {"fc.": "head."}

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (3, 4, 6, 3),
        width_factor: int = 2,
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__(feature_dim=2048, num_classes=num_classes)
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes, stages = 64, []
        for planes, n, stride in zip((64, 128, 256, 512), layers, (1, 2, 2, 2)):
            blocks = []
            for i in range(n):
                s = stride if i == 0 else 1
                blocks.append(WideBottleneck(in_planes, planes, planes * width_factor, s))
                in_planes = planes * 4
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.head = LinearHead(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


@register_model("wrn-50-2", input_size=(3, 224, 224), heavy=True)
def wrn_50_2(num_classes: int = 1000, in_channels: int = 3) -> WideBottleneckResNet:
    """Wide ResNet-50-2 (ImageNet layout; LTD's ImageNet model)."""
    return WideBottleneckResNet((3, 4, 6, 3), 2, num_classes, in_channels)
