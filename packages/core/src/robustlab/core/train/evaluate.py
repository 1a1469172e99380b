"""Accuracy of a model on in-memory data, clean or under an attack (used for validation/test)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    device: torch.device,
    batch_size: int = 512,
    attack: Any | None = None,
    channels_last: bool = False,
) -> float:
    """Percentage of examples classified correctly, in eval mode and fp32.

    Args:
        model: Classifier; its train/eval mode is restored afterwards.
        x: (N, C, H, W) in [0, 1] (any device). y: (N,) int64.
        device: Where the batches run.
        batch_size: Examples per forward pass.
        attack: Optional ``robustlab.core.attacks`` attack; then the robust accuracy is returned.
        channels_last: Send the batches in channels_last layout.

    Returns:
        Accuracy in percent, in [0, 100] (0.0 for empty data).
    """
    if len(y) == 0:
        return 0.0
    was = model.training
    model.eval()
    correct = 0
    try:
        for i in range(0, len(y), batch_size):
            xb = x[i : i + batch_size].to(device)
            yb = y[i : i + batch_size].to(device)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            if attack is not None:
                xb = attack(model, xb, yb)
            with torch.no_grad():
                correct += int((model(xb).argmax(1) == yb).sum())
    finally:
        model.train(was)
    return 100.0 * correct / len(y)
