"""Table 4 / Fig. 6 counts and the attack-accuracy analysis, on a model with known outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlab.core.repro import ANALYSES
from robustlab.ctr import analyses


class Lookup(nn.Module):
    """Returns the stored logits of example i for an input whose pixels all equal i."""

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", probs.log())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x.flatten(1)[:, 0].round().long()]


def _data() -> tuple[Lookup, torch.Tensor, torch.Tensor]:
    # C = 4 -> theoretical CT 1/(C-1) = 1/3
    probs = torch.tensor(
        [
            [0.70, 0.20, 0.05, 0.05],  # y = 0: wrong [0.20, 0.05, 0.05] -> 3 below 1/3
            [0.40, 0.50, 0.05, 0.05],  # y = 1: wrong [0.40, 0.05, 0.05] -> 2 below 1/3
            [0.30, 0.30, 0.30, 0.10],  # y = 3: wrong [0.30, 0.30, 0.30] -> 3 below 1/3
        ]
    )
    x = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1)
    return Lookup(probs), x, torch.tensor([0, 1, 3])


def test_table4_count_by_hand() -> None:
    model, x, y = _data()
    out = analyses.wrong_class_below_threshold(model, x, y)
    assert out["count/below_threshold"] == 8.0
    assert out["count/wrong_total"] == 9.0
    assert out["pct/below_threshold"] == pytest.approx(800 / 9)


def test_fig6_curve_by_hand() -> None:
    model, x, y = _data()
    out = analyses.empirical_ct_curve(model, x, y, thresholds=[0.35, 0.25, 0.1, 0.01])
    # wrong-class values: 0.20 0.05 0.05 | 0.40 0.05 0.05 | 0.30 0.30 0.30
    assert out == {
        analyses.ct_key(0.35): 8.0,
        analyses.ct_key(0.25): 5.0,
        analyses.ct_key(0.1): 4.0,
        analyses.ct_key(0.01): 0.0,
    }
    with pytest.raises(ValueError, match="thresholds"):
        analyses.empirical_ct_curve(model, x, y, thresholds=[0.0])


def test_attack_accuracy_reports_accuracy_and_asr() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    x, y = torch.rand(20, 1, 4, 4), torch.randint(0, 10, (20,))
    attacks = [{"label": "FGSM eps=8/255", "attack": "fgsm", "kwargs": {"eps": "8/255"}}]
    model.train()
    out = analyses.attack_accuracy(model, x, y, attacks=attacks, n=10, asr=True, prefix="t7/")
    assert model.training  # mode restored
    clean = (model(x[:10]).argmax(1) == y[:10]).float().mean().item() * 100
    assert out["t7/clean_acc"] == pytest.approx(clean)
    acc = out["t7/acc/FGSM eps=8/255"]
    assert acc <= clean and out["t7/asr/FGSM eps=8/255"] == pytest.approx(100 - acc)
    with pytest.raises(ValueError, match="attacks"):
        analyses.attack_accuracy(model, x, y, attacks=[])


def test_analyses_are_registered() -> None:
    for name in (
        "ctr/wrong-class-below-threshold",
        "ctr/empirical-ct-curve",
        "ctr/attack-accuracy",
    ):
        assert name in ANALYSES.names()
