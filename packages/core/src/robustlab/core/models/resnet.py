"""ResNet-18/50 for CIFAR-size inputs (He et al. 2016) and LBGAT's ResNet18_cifar variant.

* ``resnet18`` (TRADES/AWP): conv3x3 64 stem (no max-pool), post-activation basic blocks
  [2,2,2,2] with 64/128/256/512 channels and strides 1/2/2/2, projection shortcuts (1x1 conv +
  BN) where shape changes, global average pool (= avgpool 4 on 32x32) -> head 512-K.
  11,173,962 parameters for 10 classes.
* ``resnet18-lbgat`` (LBGAT/D2R teacher): the same blocks with strides **1/1/2/2** (feature maps
  32-32-32-16-8 and avgpool 8 on 32x32 inputs): same parameter count, about 4x the FLOPs of
  stage 2.
* ``resnet50`` (CTR): bottleneck blocks [3,4,6,3] (expansion 4), same CIFAR stem -> head 2048-K.

Layer names follow those implementations (``linear.*`` -> ``head.*`` when loading theirs).
PyTorch's default initialisation, as in the references.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["ResNet"]


def _projection(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride, bias=False), nn.BatchNorm2d(out_planes)
    )


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU. Output channels = planes."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _projection(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce - 3x3 (stride) - 1x1 expand (x4), each with BN, + shortcut, ReLU."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.shortcut = _projection(in_planes, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


class ResNet(Classifier):
    """CIFAR-stem ResNet. Features: the globally pooled 512*expansion-d output of stage 4.

    Args:
        block: BasicBlock or Bottleneck. num_blocks: blocks per stage (4 stages).
        strides: Stage strides ((1, 2, 2, 2) standard, (1, 1, 2, 2) for LBGAT's variant).
        num_classes: K. in_channels: C.
    """

    map_drop_stage: ClassVar[str] = "layer4"

    reference_key_map: ClassVar[dict[str, str]] = {"linear.": "head."}

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        num_blocks: Sequence[int],
        strides: Sequence[int] = (1, 2, 2, 2),
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__(feature_dim=512 * block.expansion, num_classes=num_classes)
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes, stages = 64, []
        for planes, n, stride in zip((64, 128, 256, 512), num_blocks, strides):
            blocks = []
            for i in range(n):
                blocks.append(block(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.head = LinearHead(self.feature_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


@register_model("resnet18", input_size=(3, 32, 32))
def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-18 (strides 1/2/2/2)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), (1, 2, 2, 2), num_classes, in_channels)


@register_model("resnet18-lbgat", input_size=(3, 32, 32))
def resnet18_lbgat(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """LBGAT/D2R's ResNet18_cifar (strides 1/1/2/2, 8x8 final maps on 32x32)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), (1, 1, 2, 2), num_classes, in_channels)


@register_model("resnet50", input_size=(3, 32, 32))
def resnet50(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-50 (bottleneck [3,4,6,3], CIFAR stem)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), (1, 2, 2, 2), num_classes, in_channels)
