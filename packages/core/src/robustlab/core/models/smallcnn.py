"""MNISTNet: the TRADES SmallCNN (Zhang et al. 2019), CTR's "7-layer network with 4 convolutional
layers and 3 fully connected layers" for MNIST/Fashion-MNIST.

conv32@3 -> ReLU -> conv32@3 -> ReLU -> max-pool 2 -> conv64@3 -> ReLU -> conv64@3 -> ReLU ->
max-pool 2 -> FC 1024-200 -> ReLU -> Dropout(0.5) -> FC 200-200 -> ReLU -> head 200-K (zero-init).
312,202 parameters for 1x28x28 inputs and 10 classes. Layer names follow the reference, so its
checkpoints load (``classifier.fc3.*`` -> ``head.*``). ``fc_stack_name = "classifier"``: with
``head_opts={"span": "fc"}`` the FC1-FC2 stack moves into a multi-sample head (CTR's MDL).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

import torch
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["SmallCNN"]


class SmallCNN(Classifier):
    """TRADES SmallCNN. Conv weights Kaiming-normal, biases 0; the output layer starts at zero.

    Args:
        num_classes: K. in_channels: C.
        image_size: Input height = width (28 -> 64x4x4 = 1024 flat features).
        dropout: Drop probability of the dropout layer between FC1 and FC2 (0.5 in TRADES).
    """

    map_drop_stage: ClassVar[str] = "feature_extractor"
    fc_stack_name: ClassVar[str] = "classifier"

    reference_key_map: ClassVar[dict[str, str]] = {"classifier.fc3.": "head."}

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(feature_dim=200, num_classes=num_classes)
        s = ((image_size - 4) // 2 - 4) // 2
        if s < 1:
            raise ValueError(f"image_size={image_size} is too small for MNISTNet; use >= 16")
        self.feature_extractor = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 32, 3),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(32, 32, 3),
                relu2=nn.ReLU(),
                maxpool1=nn.MaxPool2d(2, 2),
                conv3=nn.Conv2d(32, 64, 3),
                relu3=nn.ReLU(),
                conv4=nn.Conv2d(64, 64, 3),
                relu4=nn.ReLU(),
                maxpool2=nn.MaxPool2d(2, 2),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(64 * s * s, 200),
                relu1=nn.ReLU(),
                drop=nn.Dropout(dropout),
                fc2=nn.Linear(200, 200),
                relu2=nn.ReLU(),
            )
        )
        self.head = LinearHead(200, num_classes)
        self.conv_dim = 64 * s * s
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_extractor(x).flatten(1))


@register_model("mnistnet", input_size=(1, 28, 28))
def mnistnet(
    num_classes: int = 10, in_channels: int = 1, image_size: int = 28, dropout: float = 0.5
) -> SmallCNN:
    """MNISTNet = TRADES SmallCNN (CTR's MNIST/Fashion-MNIST model)."""
    return SmallCNN(num_classes, in_channels, image_size, dropout)
