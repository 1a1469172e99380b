"""pcloss/transfer: black-box transfer from a substitute loaded from its finished run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustlab.core.attacks import ATTACKS
from robustlab.core.data import find, load
from robustlab.core.models import build
from robustlab.core.train import TrainConfig, train
from robustlab.pcloss import attacks  # noqa: F401 - registers pcloss/transfer


def test_transfer_loads_the_substitute_run_and_stays_in_the_ball(
    tmp_path: Path, one_thread: None
) -> None:
    if find("fashion-mnist", "train", None)[0] is None:
        pytest.skip("Fashion-MNIST is not on disk (robustlab data ensure fashion-mnist)")
    cfg = TrainConfig(
        dataset="fashion-mnist",
        model="cnn3",
        epochs=1,
        batch_size=128,
        optimizer="adam",
        lr=0.01,
        precision="fp32",
        n_train=256,
        n_test=64,
    )
    run = tmp_path / "substitute"
    train(cfg, run, device="cpu", progress=False)
    data = load("fashion-mnist", "test", n=32)
    target = build("lenet5", num_classes=10, in_channels=1).eval()
    kw = {
        "source_run": str(run),
        "attack": "pgd",
        "eps": 0.1,
        "alpha": 0.02,
        "steps": 3,
        "seed": 0,
    }
    attack = ATTACKS.build("pcloss/transfer", **kw)
    x = data.x.clone()
    x_adv = attack(target, x, data.y)
    assert torch.equal(x, data.x)  # input untouched
    assert (x_adv - x).abs().amax() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv != x).any()
    # a second attack with the same run reuses the loaded substitute (same output)
    again = ATTACKS.build("pcloss/transfer", **kw)(target, x, data.y)
    assert torch.equal(again, x_adv)


def test_transfer_needs_a_source_run() -> None:
    with pytest.raises(ValueError, match="source_run"):
        ATTACKS.build("pcloss/transfer", attack="pgd", eps=0.1)
