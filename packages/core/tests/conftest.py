"""Shared fixtures for the core tests.

``fmnist_lenet`` trains a LeNet-5 for one epoch on 10k Fashion-MNIST training images (Adam), once per
test session (weights cached in a session temp dir), and ``fmnist_batch`` is the first 500 test
images. Both are lazy: only tests that request them pay for them (a few seconds on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from robustlab.core.data import load
from robustlab.core.models import build

N_TRAIN = 10_000
N_TEST = 500


def _train_lenet(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build("lenet5", num_classes=10, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    model.train()
    for start in range(0, len(x), 100):
        idx = order[start : start + 100]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def fmnist_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """First 500 Fashion-MNIST test images: x (500, 1, 28, 28) in [0, 1], y (500,) int64."""
    data = load("fashion-mnist", "test", n=N_TEST)
    return data.x, data.y


@pytest.fixture(scope="session")
def fmnist_lenet(tmp_path_factory: pytest.TempPathFactory) -> nn.Module:
    """LeNet-5 trained 1 epoch on 10k Fashion-MNIST images (eval mode, params frozen by tests)."""
    path = Path(tmp_path_factory.getbasetemp()) / "lenet5_fmnist_1ep.pt"
    model = build("lenet5", num_classes=10, in_channels=1)
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    train = load("fashion-mnist", "train", n=N_TRAIN)
    model = _train_lenet(train.x, train.y)
    torch.save(model.state_dict(), path)
    for p in model.parameters():
        p.grad = None
    return model
