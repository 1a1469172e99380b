"""Shared fixtures of the robustlab-pcloss tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def one_thread() -> Iterator[None]:
    """LeNet-5 on 200 images is too small to gain from intra-op threads; on a shared 2-core
    machine two OpenMP threads made this test 4x slower (131 s vs 34 s measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
