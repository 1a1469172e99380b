"""LeNet-5 (LeCun et al. 1998), as used by PC-LC for MNIST/KMNIST/Fashion-MNIST and I-SCE for MNIST.

conv 6@5x5 pad 2 -> ReLU -> max-pool 2 -> conv 16@5x5 -> ReLU -> max-pool 2 ->
FC 400-120 -> ReLU -> FC 120-84 -> ReLU -> head 84-K. No BN, no dropout.
61,706 parameters for 1x28x28 inputs and 10 classes.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.base import Classifier, conv_out
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["LeNet5"]


class LeNet5(Classifier):
    """LeNet-5 with ReLU and max pooling; features are the 84-d output of the second FC layer.

    Args:
        num_classes: K. in_channels: C.
        image_size: Input height = width (28 for MNIST-like data -> 16x5x5 = 400 flat features).
    """

    map_drop_stage: ClassVar[str] = "conv2"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__(feature_dim=84, num_classes=num_classes)
        s = conv_out(conv_out(image_size, 5, 1, 2) // 2, 5) // 2
        if s < 1:
            raise ValueError(f"image_size={image_size} is too small for LeNet-5; use >= 12")
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.head = LinearHead(84, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.relu(self.fc2(x))


@register_model("lenet5", input_size=(1, 28, 28))
def lenet5(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> LeNet5:
    """LeNet-5 (PC-LC's grey-scale model)."""
    return LeNet5(num_classes, in_channels, image_size)
