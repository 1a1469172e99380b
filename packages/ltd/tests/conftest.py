"""Shared fixtures of the robustlab-ltd tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from robustlab.core.train import train


@pytest.fixture(scope="session")
def teacher_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch natural LeNet-5 run on 96 digits-28 images (the students' teacher)."""
    run = tmp_path_factory.mktemp("teacher") / "run"
    config = {"dataset": "digits-28", "model": "lenet5", "n_train": 96, "n_test": 32}
    config.update(batch_size=32, epochs=1, precision="fp32", lr=0.05, seed=1)
    train(config, run, device="cpu", progress=False)
    return run


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
