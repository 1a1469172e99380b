"""A BatchNorm LeNet-5 for the Fashion-MNIST analogs of Tables 4-6.

Table 5 (BN update order) needs a network with BatchNorm; core's small grey-scale models
(LeNet-5, CNN3, MNISTNet) have none. ``ltd/lenet5-bn`` is core's LeNet-5 layout with a BN layer
after every convolution and hidden FC layer (those layers then have no bias):

conv 6@5x5 pad 2 -> BN -> ReLU -> max-pool 2 -> conv 16@5x5 -> BN -> ReLU -> max-pool 2 ->
FC 400-120 -> BN -> ReLU -> FC 120-84 -> BN -> ReLU -> head 84-K.
61,932 parameters for 1x28x28 inputs and 10 classes (+ 452 BN running-statistic values).

Registered in ``robustlab.core.models.MODELS`` when this module is imported.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models import Classifier, register_model
from robustlab.core.models.base import conv_out
from robustlab.core.models.heads import LinearHead

__all__ = ["LeNet5BN"]


class LeNet5BN(Classifier):
    """LeNet-5 with BatchNorm; features are the 84-d output of the second hidden FC layer.

    Args:
        num_classes: K. in_channels: C.
        image_size: Input height = width (28 -> 16x5x5 = 400 flat features; >= 12).
        bn_momentum: BatchNorm momentum m of eq. 19 (PyTorch convention: weight of the new batch).
    """

    map_drop_stage: ClassVar[str] = "conv2"

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__(feature_dim=84, num_classes=num_classes)
        s = conv_out(conv_out(image_size, 5, 1, 2) // 2, 5) // 2
        if s < 1:
            raise ValueError(f"image_size={image_size} is too small for LeNet-5; use >= 12")
        if not 0.0 < bn_momentum <= 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1], got {bn_momentum}")
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(6, momentum=bn_momentum)
        self.conv2 = nn.Conv2d(6, 16, 5, bias=False)
        self.bn2 = nn.BatchNorm2d(16, momentum=bn_momentum)
        self.fc1 = nn.Linear(16 * s * s, 120, bias=False)
        self.bn3 = nn.BatchNorm1d(120, momentum=bn_momentum)
        self.fc2 = nn.Linear(120, 84, bias=False)
        self.bn4 = nn.BatchNorm1d(84, momentum=bn_momentum)
        self.head = LinearHead(84, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.fc1(x.flatten(1))))
        return F.relu(self.bn4(self.fc2(x)))


@register_model("ltd/lenet5-bn", input_size=(1, 28, 28))
def lenet5_bn(
    num_classes: int = 10, in_channels: int = 1, image_size: int = 28, bn_momentum: float = 0.1
) -> LeNet5BN:
    """LeNet-5 with BatchNorm (LTD's Fashion-MNIST student and teacher)."""
    return LeNet5BN(num_classes, in_channels, image_size, bn_momentum)
