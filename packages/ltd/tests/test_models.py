"""The BatchNorm LeNet-5 used by the Fashion-MNIST analogs."""

from __future__ import annotations

import pytest
import torch

from robustlab.core import models
from robustlab.core.errors import ConfigError
from robustlab.ltd.models import LeNet5BN


def test_registered_and_shapes() -> None:
    net = models.build("ltd/lenet5-bn", num_classes=10, in_channels=1)
    assert isinstance(net, LeNet5BN)
    assert sum(p.numel() for p in net.parameters()) == 61932
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert net.features(torch.rand(3, 1, 28, 28)).shape == (3, 84)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 4 and all(m.momentum == 0.1 for m in bns)


def test_options_checked() -> None:
    net = models.build("ltd/lenet5-bn", num_classes=10, in_channels=1, bn_momentum=0.5)
    assert net.bn1.momentum == 0.5
    with pytest.raises(ConfigError, match="unknown option"):
        models.build("ltd/lenet5-bn", num_classes=10, in_channels=1, width=2)
    with pytest.raises(ValueError, match="bn_momentum"):
        LeNet5BN(bn_momentum=0.0)
