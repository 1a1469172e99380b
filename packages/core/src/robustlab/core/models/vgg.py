"""VGG-13 and VGG-16 with batch norm (Simonyan & Zisserman 2015), CIFAR/Tiny-ImageNet style.

Configuration layers conv3x3-BN-ReLU with max-pool 2 between blocks (VGG-13:
64,64,M,128,128,M,256,256,M,512,512,M,512,512,M; VGG-16 has three convs in the last three
blocks), then Dropout(0.5) -> Linear(F, 512) -> ReLU -> head Linear(512, K) as in PC-LC's VGG-13.
F = 512 for 32x32 inputs and 2048 for 64x64 (Tiny ImageNet), as in PC-LC. Pooling uses
``ceil_mode`` so that 28x28 inputs also work (identical to floor pooling for multiples of 32).
Init as torchvision's VGG: Kaiming-normal (fan-out) convs, BN (1, 0), Linear N(0, 0.01), bias 0.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import LinearHead
from robustlab.core.models.zoo import register_model

__all__ = ["VGG"]

CONFIGS: dict[str, list[int | str]] = {
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ],
}


class VGG(Classifier):
    """VGG with BN. Features: the 512-d hidden FC output (after dropout, linear and ReLU); with
    ``head_opts={"span": "fc"}`` the flattened last pooling output (``conv_dim``), the FC stack
    then runs in the multi-sample head (:meth:`take_fc_stack`).

    Args:
        config: "vgg13" or "vgg16". num_classes: K. in_channels: C.
        image_size: Input height = width (32 -> 512 flat features, 64 -> 2048).
        dropout: Drop probability before the hidden FC layer (0.5).
    """

    map_drop_stage: ClassVar[str] = "features_"
    fc_stack_name: ClassVar[str] = "classifier"

    reference_key_map: ClassVar[dict[str, str]] = {"features.": "features_."}

    def __init__(
        self,
        config: str = "vgg13",
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(feature_dim=512, num_classes=num_classes)
        layers: list[nn.Module] = []
        c, s = in_channels, image_size
        for v in CONFIGS[config]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                s = math.ceil(s / 2)
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU()]
                c = int(v)
        if image_size < 8:
            raise ValueError(f"image_size={image_size} is too small for {config}; use >= 8")
        self.features_ = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(512 * s * s, 512), nn.ReLU())
        self.head = LinearHead(512, num_classes)
        self.conv_dim = 512 * s * s
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features_(x).flatten(1))

    def take_fc_stack(self) -> tuple[nn.Module, int] | None:
        """The hidden FC layers for a multi-sample head. The stack's leading Dropout sits where the
        head's per-sample drop acts (on the last pooling output), so it becomes an Identity (the
        key names ``classifier.1.*`` -> ``head.body.1.*`` keep their index)."""
        taken = super().take_fc_stack()
        assert taken is not None
        stack, width = taken
        if isinstance(stack, nn.Sequential) and isinstance(stack[0], nn.Dropout):
            stack[0] = nn.Identity()
        return stack, width


@register_model("vgg13", input_size=(3, 32, 32))
def vgg13(
    num_classes: int = 10, in_channels: int = 3, image_size: int = 32, dropout: float = 0.5
) -> VGG:
    """VGG-13 with BN (PC-LC's colour-image model)."""
    return VGG("vgg13", num_classes, in_channels, image_size, dropout)


@register_model("vgg16", input_size=(3, 32, 32))
def vgg16(
    num_classes: int = 10, in_channels: int = 3, image_size: int = 32, dropout: float = 0.5
) -> VGG:
    """VGG-16 with BN (CTR's CIFAR model)."""
    return VGG("vgg16", num_classes, in_channels, image_size, dropout)
