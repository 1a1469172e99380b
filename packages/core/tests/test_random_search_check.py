"""The random-search sanity check forwards only the rows still robust, with the same answer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robustlab.core.eval.checks import random_search_acc


def _reference(model: nn.Module, x: Tensor, y: Tensor, eps: float, draws: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    robust = model(x).argmax(1) == y
    for _ in range(draws):
        noise = torch.rand(x.shape, generator=gen) * 2 - 1
        robust &= model((x + eps * noise).clamp(0, 1)).argmax(1) == y
    return 100.0 * int(robust.sum()) / len(y)


def test_same_accuracy_fewer_rows() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x, y = torch.rand(200, 1, 4, 4), torch.randint(0, 3, (200,))
    rows: list[int] = []
    model.register_forward_pre_hook(lambda m, a: rows.append(len(a[0])))
    with torch.no_grad():
        ref = _reference(model, x, y, 0.5, 8, seed=3)
        rows.clear()
        got = random_search_acc(model, x, y, 0.5, "Linf", 8, torch.Generator().manual_seed(3))
    assert got == ref and 0 < got < 100
    assert sum(rows) < 200 * 9  # fooled rows were not forwarded again
