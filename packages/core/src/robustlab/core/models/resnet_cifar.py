"""CIFAR ResNet-20/32/56 (He et al. 2016, Sec. 4.2) with option-A shortcuts, as in PC-LC and I-SCE.

Stem conv3x3 16 -> BN -> ReLU; three stages of n basic blocks (conv-BN-ReLU-conv-BN, add,
ReLU) with 16/32/64 channels and strides 1/2/2 (n = 3, 5, 9 for depth 20, 32, 56); global
average pool -> head Linear(64, K). Option-A shortcut: parameter-free, subsample [::2, ::2] and
zero-pad the new channels. Kaiming-normal init of every conv and linear weight.
ResNet-32: 464,154 parameters; ResNet-56: 853,018 (10 classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["CifarResNet"]


class BasicBlockA(nn.Module):
    """Post-activation basic block with the parameter-free option-A shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.subsample = stride != 1 or in_planes != planes
        self.pad = (planes - in_planes) // 2

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if not self.subsample:
            return x
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(Classifier):
    """ResNet-(6n+2) for 32x32 inputs. Features: the 64-d globally pooled output.

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110). num_classes: K. in_channels: C.
    """

    map_drop_stage: ClassVar[str] = "layer3"

    reference_key_map: ClassVar[dict[str, str]] = {"linear.": "head."}

    def __init__(self, depth: int = 56, num_classes: int = 10, in_channels: int = 3) -> None:
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 56, ...), got {depth}")
        super().__init__(feature_dim=64, num_classes=num_classes)
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlockA(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.head = LinearHead(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


def _resnet(depth: int) -> Callable[..., CifarResNet]:
    def factory(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
        return CifarResNet(depth, num_classes, in_channels)

    factory.__doc__ = f"CIFAR ResNet-{depth} with option-A shortcuts."
    return factory


for _depth in (20, 32, 56):
    register_model(f"resnet{_depth}", input_size=(3, 32, 32))(_resnet(_depth))
