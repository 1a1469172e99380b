"""Fig. 2's rank study and the probability-gap statistics, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from robustlab.core.repro import ANALYSES
from robustlab.pcloss.analyses import adv_rank, landing_ranks, prob_gap


class FixedLogits(nn.Module):
    """Logits = x flattened (x is (N, 1, 1, K)): the analyses see exactly the given logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_registered() -> None:
    assert "pcloss/adv-rank" in ANALYSES.names() and "pcloss/prob-gap" in ANALYSES.names()


def test_landing_ranks_by_hand() -> None:
    clean = torch.tensor([[5.0, 3.0, 4.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    # row 0: order 0 > 2 > 1 > 3, lands in class 1 -> rank 3; row 1: lands in 3 -> rank 1
    assert landing_ranks(clean, torch.tensor([1, 3])).tolist() == [3, 1]
    assert landing_ranks(clean, torch.tensor([2, 0])).tolist() == [2, 4]


def test_prob_gap_by_hand() -> None:
    # example 1: logits [2, 1, 0], y = 0: p = softmax -> p0 - p1; logit gap 2 - 1 = 1
    # example 2: logits [0, 3, 1], y = 0: p0 - p1 < 0; logit gap 0 - 3 = -3
    z = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    y = torch.tensor([0, 0])
    e = [math.exp(v) for v in (2, 1, 0)]
    g1 = (e[0] - e[1]) / sum(e)
    f = [math.exp(v) for v in (0, 3, 1)]
    g2 = (f[0] - f[1]) / sum(f)
    out = prob_gap(FixedLogits(), z.view(2, 1, 1, 3), y)
    assert out["gap/prob"] == pytest.approx((g1 + g2) / 2, abs=1e-6)
    assert out["gap/logit"] == pytest.approx((1 - 3) / 2, abs=1e-6)


def test_adv_rank_on_a_linear_model() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).eval()
    x = torch.rand(64, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)  # every example correctly classified
    out = adv_rank(model, x, y, eps_grid=(0.05, 0.2, 0.5, 1.0), batch_size=32)
    for attack in ("FGSM", "MIM"):
        shares = [out[f"rank/{attack}/{r}"] for r in ("2nd", "3rd", "4th", "5th+")]
        n = out[f"rank/{attack}/n"]
        assert 0 < n <= 64
        assert sum(shares) == pytest.approx(100.0)
        # each share is a whole number of newly fooled examples
        assert all(abs(s * n / 100 - round(s * n / 100)) < 1e-6 for s in shares)


def test_adv_rank_counts_each_example_once_and_only_correct_ones() -> None:
    # 3 classes, logits = x; y = 0 for all. Example 0 clean-wrong (never counted).
    x = torch.tensor([[0.1, 0.9, 0.0], [0.9, 0.5, 0.1], [0.9, 0.1, 0.5]]).view(3, 1, 1, 3)
    y = torch.tensor([0, 0, 0])
    out = adv_rank(FixedLogits(), x, y, eps_grid=(0.1, 0.3, 0.6), attacks=("FGSM",))
    # FGSM on CE with logits = x moves every coordinate by eps: true logit down, others up.
    # Example 1 (gap 0.4 to class 1, rank 2): fooled at eps 0.3 (0.6 < 0.8), lands in class 1.
    # Example 2 (gap 0.4 to class 2, rank 2): fooled at eps 0.3, lands in class 2 (rank 2).
    assert out["rank/FGSM/n"] == 2
    assert out["rank/FGSM/2nd"] == 100.0


def test_adv_rank_rejects_bad_settings() -> None:
    x, y = torch.zeros(2, 1, 1, 3), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="increasing"):
        adv_rank(FixedLogits(), x, y, eps_grid=(0.2, 0.1))
    with pytest.raises(ValueError, match="attacks"):
        adv_rank(FixedLogits(), x, y, attacks=("PGD",))
