"""Small plain CNNs: PC-LC's 3-layer substitute CNN (``cnn3``) and an eight-layer CIFAR CNN.

``cnn3`` (PC-LC, MNIST): conv16@5 -> ReLU -> conv32@5 -> ReLU -> max-pool 2 -> conv64@5 -> ReLU ->
max-pool 2 -> FC 576-100 -> ReLU -> head 100-K (valid convolutions; 576 = 64x3x3 for 28x28).

``cifar-cnn8``: the I-SCE paper evaluates "an eight-layer neural network for CIFAR10" (Sec. 4.3)
without defining it, and no code was released. We use the small CIFAR-10 network of Carlini &
Wagner (S&P 2017), the usual "shallow CIFAR CNN" of that literature: conv64@3 -> ReLU -> conv64@3
-> ReLU -> max-pool 2 -> conv128@3 -> ReLU -> conv128@3 -> ReLU -> max-pool 2 -> FC 3200-256 ->
ReLU -> Dropout(0.5) -> FC 256-256 -> ReLU -> head 256-K (valid convolutions). That is four
convolutional, two pooling and two hidden fully connected layers before the output layer; the
paper's exact layer count convention is unknown, so treat this as a documented substitute.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["CIFARCNN8", "CNN3"]


class CNN3(Classifier):
    """PC-LC's three-convolution MNIST CNN. Features: the 100-d hidden FC output.

    Args:
        num_classes: K. in_channels: C. image_size: input height = width (28 -> 576 flat).
    """

    map_drop_stage: ClassVar[str] = "conv3"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__(feature_dim=100, num_classes=num_classes)
        s = ((image_size - 8) // 2 - 4) // 2
        if s < 1:
            raise ValueError(f"image_size={image_size} is too small for cnn3; use >= 18")
        self.conv1 = nn.Conv2d(in_channels, 16, 5)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.conv3 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(64 * s * s, 100)
        self.head = LinearHead(100, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))


class CIFARCNN8(Classifier):
    """The Carlini-Wagner CIFAR CNN used as the eight-layer CIFAR network (module docstring).

    Args:
        num_classes: K. in_channels: C.
        image_size: Input height = width (32 -> 128x5x5 = 3200 flat features).
        dropout: Drop probability between the two hidden FC layers.
    """

    map_drop_stage: ClassVar[str] = "conv4"

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(feature_dim=256, num_classes=num_classes)
        s = ((image_size - 4) // 2 - 4) // 2
        if s < 1:
            raise ValueError(f"image_size={image_size} is too small for cifar-cnn8; use >= 16")
        self.conv1 = nn.Conv2d(in_channels, 64, 3)
        self.conv2 = nn.Conv2d(64, 64, 3)
        self.conv3 = nn.Conv2d(64, 128, 3)
        self.conv4 = nn.Conv2d(128, 128, 3)
        self.fc1 = nn.Linear(128 * s * s, 256)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(256, 256)
        self.head = LinearHead(256, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.max_pool2d(F.relu(self.conv4(F.relu(self.conv3(x)))), 2)
        x = self.drop(F.relu(self.fc1(x.flatten(1))))
        return F.relu(self.fc2(x))


@register_model("cnn3", input_size=(1, 28, 28))
def cnn3(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> CNN3:
    """PC-LC's 3-layer CNN (MNIST substitute/black-box model)."""
    return CNN3(num_classes, in_channels, image_size)


@register_model("cifar-cnn8", input_size=(3, 32, 32))
def cifar_cnn8(
    num_classes: int = 10, in_channels: int = 3, image_size: int = 32, dropout: float = 0.5
) -> CIFARCNN8:
    """The shallow CIFAR-10 network of I-SCE Sec. 4.3 (Carlini-Wagner architecture)."""
    return CIFARCNN8(num_classes, in_channels, image_size, dropout)
