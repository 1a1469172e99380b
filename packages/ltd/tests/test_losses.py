"""LTD losses against values worked out by hand from eq. 4, 10/14, 26, 28 and 29.

Student logits z = [0, ln 2, ln 3] give p = softmax(z) = [1/6, 2/6, 3/6]; adversarial logits
z' = [ln 3, ln 2, 0] give p' = [3/6, 2/6, 1/6]; teacher logits t = [0, 0, 2 ln 4] at tau = 2 give
q = softmax(t / 2) = [1, 1, 4] / 6.
"""

from __future__ import annotations

import math

import pytest
import torch

from robustlab.core.errors import ConfigError
from robustlab.ltd import (
    LTDLoss,
    soft_cross_entropy,
    soft_label_cross_entropy,
    soft_labels,
    trades_kl,
)

LN2, LN3, LN4, LN6 = math.log(2), math.log(3), math.log(4), math.log(6)


def z_student() -> torch.Tensor:
    return torch.tensor([[0.0, LN2, LN3]])


def z_adv() -> torch.Tensor:
    return torch.tensor([[LN3, LN2, 0.0]])


def z_teacher() -> torch.Tensor:
    return torch.tensor([[0.0, 0.0, 2 * LN4]])


# soft CE of p against q: -(1/6 ln(1/6) + 1/6 ln(2/6) + 4/6 ln(3/6)) = ln6/6 + ln3/6 + 2 ln2/3
SOFT_CE = LN6 / 6 + LN3 / 6 + 2 * LN2 / 3  # 0.943827
# KL(p || p') = 1/6 ln(1/3) + 2/6 ln 1 + 3/6 ln 3 = ln3 / 3
KL = LN3 / 3  # 0.366204


def test_soft_labels_eq4_by_hand() -> None:
    q = soft_labels(z_teacher(), tau=2.0)
    assert torch.allclose(q, torch.tensor([[1 / 6, 1 / 6, 4 / 6]]), atol=1e-6)
    assert not q.requires_grad


def test_soft_label_term_by_hand() -> None:
    got = soft_label_cross_entropy(z_student(), z_teacher(), tau=2.0)
    assert got.item() == pytest.approx(0.943827, abs=1e-5)
    assert got.item() == pytest.approx(SOFT_CE, abs=1e-6)


def test_tau_one_with_one_hot_teacher_is_cross_entropy() -> None:
    # teacher logits [0, 100, 0] at tau = 1: q = one-hot(1) up to e^-100; CE = -ln p_1 = -ln(2/6) = ln 3
    got = soft_label_cross_entropy(z_student(), torch.tensor([[0.0, 100.0, 0.0]]), tau=1.0)
    assert got.item() == pytest.approx(LN3, abs=1e-6)
    ce = torch.nn.functional.cross_entropy(z_student(), torch.tensor([1]))
    assert got.item() == pytest.approx(ce.item(), abs=1e-6)


@pytest.mark.parametrize("tau", [1e6, math.inf])
def test_tau_to_infinity_gives_uniform_targets(tau: float) -> None:
    # q = [1/3]*3: CE = -(1/3)(ln(1/6) + ln(2/6) + ln(3/6)) = (ln 6 + ln 3 + ln 2)/3 = (2/3) ln 6
    got = soft_label_cross_entropy(z_student(), z_teacher(), tau=tau)
    assert got.item() == pytest.approx(2 * LN6 / 3, abs=1e-5)
    assert got.item() == pytest.approx(1.194506, abs=1e-5)


def test_trades_kl_eq26_by_hand() -> None:
    assert trades_kl(z_student(), z_adv()).item() == pytest.approx(KL, abs=1e-6)
    assert trades_kl(z_student(), z_student()).item() == pytest.approx(0.0, abs=1e-7)


def test_ltd_loss_eq28_by_hand() -> None:
    loss = LTDLoss(tau=2.0, lam=6.0)(z_student(), z_adv(), z_teacher())
    # 0.943827 + 6 * 0.366204 = 3.141052
    assert loss.item() == pytest.approx(3.141052, abs=1e-5)
    terms = LTDLoss(tau=2.0, lam=6.0).terms(z_student(), z_adv(), z_teacher())
    assert terms.soft_ce.item() == pytest.approx(SOFT_CE, abs=1e-6)
    assert terms.kl.item() == pytest.approx(KL, abs=1e-6)


def test_reductions_over_a_batch_of_two() -> None:
    # second example: student, adversarial and teacher logits all zero -> q = p = p' uniform:
    # soft CE = ln 3, KL = 0
    s = torch.cat([z_student(), torch.zeros(1, 3)])
    a = torch.cat([z_adv(), torch.zeros(1, 3)])
    t = torch.cat([z_teacher(), torch.zeros(1, 3)])
    none = LTDLoss(tau=2.0, lam=6.0, reduction="none")(s, a, t)
    assert none.shape == (2,)
    assert none[0].item() == pytest.approx(SOFT_CE + 6 * KL, abs=1e-5)
    assert none[1].item() == pytest.approx(LN3, abs=1e-6)
    mean = LTDLoss(tau=2.0, lam=6.0)(s, a, t)
    assert mean.item() == pytest.approx((SOFT_CE + 6 * KL + LN3) / 2, abs=1e-5)
    total = LTDLoss(tau=2.0, lam=6.0, reduction="sum")(s, a, t)
    assert total.item() == pytest.approx(SOFT_CE + 6 * KL + LN3, abs=1e-5)
    # the KL's batch mean divides the class-summed KL by B (batchmean), not by B*C
    assert trades_kl(s, a).item() == pytest.approx(KL / 2, abs=1e-6)


def test_gradients_flow_to_student_only_and_match_eq29() -> None:
    s = z_student().requires_grad_(True)
    a = z_adv().requires_grad_(True)
    t = z_teacher().requires_grad_(True)
    LTDLoss(tau=2.0, lam=6.0)(s, a, t).backward()
    assert t.grad is None  # the teacher is detached
    # eq. 29: d/dz' = lam * (p' - p) = 6 * ([3,2,1] - [1,2,3]) / 6 = [2, 0, -2]
    assert torch.allclose(a.grad, torch.tensor([[2.0, 0.0, -2.0]]), atol=1e-5)
    # soft CE part: p - q = [1/6 - 1/6, 2/6 - 1/6, 3/6 - 4/6] = [0, 1/6, -1/6]; the KL part w.r.t.
    # the clean logits is nonzero (clean side not detached, TRADES)
    s_ce = z_student().requires_grad_(True)
    soft_label_cross_entropy(s_ce, z_teacher(), tau=2.0).backward()
    assert torch.allclose(s_ce.grad, torch.tensor([[0.0, 1 / 6, -1 / 6]]), atol=1e-6)
    assert s.grad is not None
    assert not torch.allclose(s.grad, s_ce.grad, atol=1e-3)


def test_lam_zero_is_the_natural_only_student() -> None:
    loss = LTDLoss(tau=2.0, lam=0.0)
    assert loss(z_student(), None, z_teacher()).item() == pytest.approx(SOFT_CE, abs=1e-6)
    with pytest.raises(ValueError, match="student_adv_logits is None"):
        LTDLoss(lam=6.0)(z_student(), None, z_teacher())


def test_soft_cross_entropy_takes_cached_probabilities() -> None:
    q = torch.tensor([[1 / 6, 1 / 6, 4 / 6]])
    assert soft_cross_entropy(z_student(), q).item() == pytest.approx(SOFT_CE, abs=1e-6)
    with pytest.raises(ValueError, match=">= 0"):
        soft_cross_entropy(z_student(), torch.tensor([[-0.5, 0.5, 1.0]]))
    with pytest.raises(ValueError, match="sum to 1"):
        soft_cross_entropy(z_student(), torch.tensor([[0.5, 0.5, 0.5]]))


def test_half_precision_logits_are_upcast() -> None:
    got = LTDLoss(tau=2.0)(z_student().bfloat16(), z_adv().bfloat16(), z_teacher().bfloat16())
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(SOFT_CE + 6 * KL, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau": 0.0}, "tau"),
        ({"tau": -1.0}, "tau"),
        ({"tau": math.nan}, "tau"),
        ({"lam": -1.0}, "lam"),
        ({"lam": math.inf}, "lam"),
        ({"reduction": "batchmean"}, "reduction"),
    ],
)
def test_bad_hyperparameters_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LTDLoss(**kwargs)


def test_bad_inputs_raise_clear_errors() -> None:
    loss = LTDLoss()
    with pytest.raises(ValueError, match=r"shape \(B, C\)"):
        loss(torch.zeros(3), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="NaN"):
        loss(torch.tensor([[0.0, math.nan]]), torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="NaN"):
        loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[math.inf, 0.0]]))
    with pytest.raises(ValueError, match="floating point"):
        loss(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2), torch.zeros(1, 2))
