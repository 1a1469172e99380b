"""I-SCE (eqs. 2-4), SCE and label smoothing against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from robustlab.core.errors import ConfigError
from robustlab.isce import ISCELoss, LabelSmoothingLoss, SCELoss, inference_logits, isce_loss


def test_isce_default_hand_value() -> None:
    # f = (1, 0, 0), y = 0, s = 1, m = 0.1: -log(e^1.1 / (e^1.1 + e^0 + e^0)) = log(1 + 2 e^-1.1)
    loss = ISCELoss()(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(math.log(1 + 2 * math.exp(-1.1)), abs=1e-6)
    assert loss.item() == pytest.approx(0.51027077, abs=1e-6)


def test_isce_scale_and_margin_hand_values() -> None:
    # s = 2, m = 0.5, f = (0.5, 1, -1)
    logits = torch.tensor([[0.5, 1.0, -1.0], [0.5, 1.0, -1.0]])
    target = torch.tensor([1, 0])
    per = ISCELoss(s=2.0, m=0.5, reduction="none")(logits, target)
    # y = 1: true logit 2 * 1 + 0.5 = 2.5
    row0 = -2.5 + math.log(math.exp(0.5) + math.exp(2.5) + math.exp(-1.0))
    # y = 0: true logit 2 * 0.5 + 0.5 = 1.5
    row1 = -1.5 + math.log(math.exp(1.5) + math.exp(1.0) + math.exp(-1.0))
    assert per.tolist() == pytest.approx([row0, row1], abs=1e-6)
    assert isce_loss(logits, target, 2.0, 0.5, "sum").item() == pytest.approx(row0 + row1, abs=1e-6)
    assert isce_loss(logits, target, 2.0, 0.5).item() == pytest.approx((row0 + row1) / 2, abs=1e-6)


def test_s1_m0_equals_cross_entropy() -> None:
    # hand case: f = (2, 0), y = 1: CE = -0 + log(e^2 + 1)
    assert ISCELoss(1.0, 0.0)(
        torch.tensor([[2.0, 0.0]]), torch.tensor([1])
    ).item() == pytest.approx(math.log(math.exp(2.0) + 1.0), abs=1e-6)
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(16, 10, generator=g), torch.randint(0, 10, (16,), generator=g)
    ce = F.cross_entropy(logits, target)
    assert ISCELoss(1.0, 0.0)(logits, target).item() == pytest.approx(ce.item(), abs=1e-6)
    assert SCELoss()(logits, target).item() == pytest.approx(ce.item(), abs=1e-6)


def test_margin_shifts_only_the_true_class() -> None:
    logits = torch.tensor([[0.3, -0.2, 0.7, 0.1]])
    shifted = inference_logits(logits, 1.0, 0.1, torch.tensor([1]))
    assert shifted.tolist()[0] == pytest.approx([0.3, -0.1, 0.7, 0.1], abs=1e-7)
    scaled = inference_logits(logits, 1.5, 0.1, torch.tensor([2]))
    assert scaled.tolist()[0] == pytest.approx([0.3, -0.2, 1.5 * 0.7 + 0.1, 0.1], abs=1e-7)
    # more margin -> larger P_I(y) -> smaller loss
    y = torch.tensor([1])
    losses = [isce_loss(logits, y, 1.0, m).item() for m in (0.0, 0.05, 0.1)]
    assert losses[0] > losses[1] > losses[2]


def test_gradient_wrt_logits_by_hand() -> None:
    # dL/df_k = P_I(k) for k != y and s * (P_I(y) - 1) for k = y (s = 2, m = 0.5, f = (0.5, 1, -1), y = 1)
    logits = torch.tensor([[0.5, 1.0, -1.0]], requires_grad=True)
    ISCELoss(2.0, 0.5)(logits, torch.tensor([1])).backward()
    denom = math.exp(0.5) + math.exp(2.5) + math.exp(-1.0)
    expected = [math.exp(0.5) / denom, 2.0 * (math.exp(2.5) / denom - 1.0), math.exp(-1.0) / denom]
    assert logits.grad is not None
    assert logits.grad[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_prediction_unchanged_at_inference() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(64, 10, generator=g)
    for s, m in ((1.0, 0.0), (1.0, 0.1), (1.0, 1.0)):  # s = 1: always unchanged
        assert torch.equal(inference_logits(logits, s, m).argmax(1), logits.argmax(1))
    positive = logits.abs() + 0.01  # max logit > 0: unchanged for every s >= 1
    for s, m in ((1.5, 0.1), (2.0, 0.05)):
        assert torch.equal(inference_logits(positive, s, m).argmax(1), positive.argmax(1))


def test_paper_claim_fails_for_negative_max_logit_and_s_above_one() -> None:
    # (s - 1) * max f + m < 0: s f_0 + m = 2 * (-1) + 0.1 = -1.9 < f_1 = -1.05 -> decision flips
    logits = torch.tensor([[-1.0, -1.05, -3.0]])
    assert inference_logits(logits, 2.0, 0.1).argmax(1).item() == 1
    assert inference_logits(logits, 1.0, 0.1).argmax(1).item() == 0


def test_label_smoothing_hand_value() -> None:
    # p = (1/4, 1/4, 1/2), y = 2, eps = 0.1: 0.9 * ln 2 + 0.1 * (ln 4 + ln 4 + ln 2) / 3
    logits = torch.tensor([[0.0, 0.0, math.log(2.0)]])
    expected = 0.9 * math.log(2) + 0.1 * (5 * math.log(2)) / 3
    assert LabelSmoothingLoss(0.1)(logits, torch.tensor([2])).item() == pytest.approx(
        expected, abs=1e-6
    )
    g = torch.Generator().manual_seed(2)
    z, y = torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g)
    ref = F.cross_entropy(z, y, label_smoothing=0.2)
    assert LabelSmoothingLoss(0.2)(z, y).item() == pytest.approx(ref.item(), abs=1e-6)


@pytest.mark.parametrize(
    ("logits", "target", "match"),
    [
        (torch.zeros(3), torch.tensor([0, 1, 2]), "shape"),
        (torch.zeros(2, 3), torch.tensor([[0], [1]]), "integer tensor"),
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), "integer tensor"),
        (torch.zeros(2, 3), torch.tensor([0]), "batch size mismatch"),
        (torch.zeros(2, 3), torch.tensor([0, 3]), r"\[0, 3\)"),
        (torch.zeros(2, 3), torch.tensor([-1, 0]), r"\[0, 3\)"),
        (torch.tensor([[0.0, float("nan")]]), torch.tensor([0]), "NaN"),
        (torch.tensor([[0.0, float("inf")]]), torch.tensor([0]), "NaN or inf"),
        (torch.zeros(2, 1), torch.tensor([0, 0]), "K >= 2"),
    ],
)
def test_bad_inputs_raise(logits: torch.Tensor, target: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ISCELoss()(logits, target)


def test_bad_hyper_parameters_raise() -> None:
    with pytest.raises(ConfigError, match=r"s .*>= 1"):
        ISCELoss(s=0.5)
    with pytest.raises(ConfigError, match=r"m .*>= 0"):
        ISCELoss(m=-0.1)
    with pytest.raises(ConfigError, match="finite"):
        ISCELoss(m=float("nan"))
    with pytest.raises(ConfigError, match="reduction"):
        ISCELoss(reduction="batchmean")
    with pytest.raises(ValueError, match="< 1"):
        LabelSmoothingLoss(1.0)
