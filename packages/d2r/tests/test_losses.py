"""D2RLoss (eq. 2) against values computed by hand on small tensors.

Logits are written as ``log(p)`` (up to a constant) so that softmax(logits) is a round probability
vector and every expected value below is plain arithmetic on numbers.
Row A: z_g(x) = [0, 0]       -> p_g = [0.5, 0.5]
       z_t(x') = [ln 3, 0]   -> p_adv = [0.75, 0.25]
       z_t(x) = [0, ln 4]    -> p_t = [0.2, 0.8]
       y = 0
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.d2r import D2RLoss

LN2, LN3, LN4 = math.log(2.0), math.log(3.0), math.log(4.0)

# Hand values for row A (K = 2 classes).
CE_A = -math.log(0.5)  # CE of p_g on class 0
MSE_A = ((0.0 - LN3) ** 2 + (0.0 - 0.0) ** 2) / 2  # element-wise mean over K = 2
KL_ADV_A = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)  # KL(p_g || p_adv), per example
KL_TG_A = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)  # KL(p_t || p_g) = 0.192745
KL_GT_A = 0.5 * math.log(0.5 / 0.2) + 0.5 * math.log(0.5 / 0.8)  # KL(p_g || p_t) = 0.223144


def row_a(requires_grad: bool = False) -> tuple[torch.Tensor, ...]:
    z_g = torch.tensor([[0.0, 0.0]], dtype=torch.float64, requires_grad=requires_grad)
    z_adv = torch.tensor([[LN3, 0.0]], dtype=torch.float64, requires_grad=requires_grad)
    z_t = torch.tensor([[0.0, LN4]], dtype=torch.float64, requires_grad=requires_grad)
    return z_g, z_adv, z_t, torch.tensor([0])


def test_hand_values_are_what_the_docstring_says() -> None:
    assert abs(KL_TG_A - 0.192745) < 1e-6
    assert abs(KL_GT_A - 0.223144) < 1e-6
    assert abs(KL_ADV_A - 0.143841) < 1e-6


def test_each_term_elementwise_mean() -> None:
    terms = D2RLoss().terms(*row_a())
    b, k = 1, 2
    assert float(terms.ce) == pytest.approx(CE_A, abs=1e-9)
    assert float(terms.mse) == pytest.approx(MSE_A, abs=1e-9)
    assert float(terms.kl_adv) == pytest.approx(KL_ADV_A / (b * k), abs=1e-9)
    assert float(terms.kl_clean_gap) == pytest.approx(abs(KL_TG_A - KL_GT_A) / (b * k), abs=1e-9)


def test_each_term_batchmean() -> None:
    terms = D2RLoss(kl_reduction="batchmean").terms(*row_a())
    assert float(terms.ce) == pytest.approx(CE_A, abs=1e-9)
    assert float(terms.mse) == pytest.approx(MSE_A, abs=1e-9)  # MSE is always element-wise
    assert float(terms.kl_adv) == pytest.approx(KL_ADV_A, abs=1e-9)
    assert float(terms.kl_clean_gap) == pytest.approx(abs(KL_TG_A - KL_GT_A), abs=1e-9)


def test_total_with_paper_weights() -> None:
    # 1 * 0.693147 + 0.603474 + 30 * 0.143841 / 2 + 20 * 0.030399 / 2 = 3.758225
    expected = 1.0 * CE_A + MSE_A + 30.0 * KL_ADV_A / 2 + 20.0 * abs(KL_TG_A - KL_GT_A) / 2
    assert expected == pytest.approx(3.758225, abs=1e-6)
    assert float(D2RLoss()(*row_a())) == pytest.approx(expected, abs=1e-9)
    lam01 = 0.1 * CE_A + MSE_A + 30.0 * KL_ADV_A + 20.0 * abs(KL_TG_A - KL_GT_A)
    loss = D2RLoss(lam=0.1, kl_reduction="batchmean")(*row_a())
    assert float(loss) == pytest.approx(lam01, abs=1e-9)


def test_adversarial_kl_direction_is_guide_first() -> None:
    # KL(p_adv || p_g) = 0.75 ln 1.5 + 0.25 ln 0.5 = 0.130812 differs from KL(p_g || p_adv).
    reverse = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    got = float(D2RLoss(kl_reduction="batchmean").terms(*row_a()).kl_adv)
    assert got == pytest.approx(KL_ADV_A, abs=1e-9)
    assert abs(got - reverse) > 0.01


def test_alpha_beta_zero_is_guide_ce_plus_mse() -> None:
    loss = D2RLoss(alpha=0.0, beta=0.0, lam=1.0)
    assert float(loss(*row_a())) == pytest.approx(LN2 + LN3**2 / 2, abs=1e-9)
    g = torch.Generator().manual_seed(0)
    z_g, z_adv, z_t = (torch.randn(5, 7, generator=g) for _ in range(3))
    y = torch.tensor([0, 6, 3, 3, 1])
    ref = F.cross_entropy(z_g, y) + F.mse_loss(z_g, z_adv)
    assert torch.allclose(loss(z_g, z_adv, z_t, y), ref, atol=1e-6)


def test_batch_of_two_reductions_and_abs_after_reduction() -> None:
    # Row B mirrors row A's clean pair: z_g(x) = [0, ln 4], z_t(x) = [0, 0], so its clean gap has the
    # opposite sign (+0.030399 vs -0.030399); the gap is |mean| (official code), hence 0.
    z_g = torch.tensor([[0.0, 0.0], [0.0, LN4]], dtype=torch.float64)
    z_adv = torch.tensor([[LN3, 0.0], [0.0, 0.0]], dtype=torch.float64)
    z_t = torch.tensor([[0.0, LN4], [0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    ce = (-math.log(0.5) - math.log(0.8)) / 2
    mse = (LN3**2 + 0.0 + 0.0 + LN4**2) / 4
    kl_adv_b = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)  # KL(p_g=[.2,.8] || [.5,.5])
    for reduction, denom in (("elementwise_mean", 4), ("batchmean", 2)):
        terms = D2RLoss(kl_reduction=reduction).terms(z_g, z_adv, z_t, y)
        assert float(terms.ce) == pytest.approx(ce, abs=1e-9)
        assert float(terms.mse) == pytest.approx(mse, abs=1e-9)
        assert float(terms.kl_adv) == pytest.approx((KL_ADV_A + kl_adv_b) / denom, abs=1e-9)
        assert float(terms.kl_clean_gap) == pytest.approx(0.0, abs=1e-12)
        expected = ce + mse + 30.0 * (KL_ADV_A + kl_adv_b) / denom
        assert float(terms.total) == pytest.approx(expected, abs=1e-9)


def test_batchmean_kl_terms_are_k_times_elementwise() -> None:
    g = torch.Generator().manual_seed(1)
    z = [torch.randn(3, 5, generator=g) for _ in range(3)]
    y = torch.tensor([4, 0, 2])
    em = D2RLoss().terms(*z, y)
    bm = D2RLoss(kl_reduction="batchmean").terms(*z, y)
    assert torch.allclose(bm.kl_adv, 5 * em.kl_adv, rtol=1e-5)
    assert torch.allclose(bm.kl_clean_gap, 5 * em.kl_clean_gap, rtol=1e-5)
    assert torch.equal(bm.ce, em.ce) and torch.equal(bm.mse, em.mse)


def test_registered_as_core_objective_and_lbgat0_special_case() -> None:
    from robustlab.core.losses import OBJECTIVES
    from robustlab.core.train import METHODS

    built = OBJECTIVES.build("d2r/d2r", alpha=1.0, beta=2.0, lam=0.5, kl_reduction="batchmean")
    assert isinstance(built, D2RLoss)
    assert (built.alpha, built.beta, built.lam, built.kl_reduction) == (1.0, 2.0, 0.5, "batchmean")
    # Eq. 2 with alpha = beta = 0, lam = 1 is LBGAT0's loss (core lbgat, beta = 0), as the hook
    # core's LBGAT calls: objective(guide_clean, target_adv, target_clean, y, **ctx).
    g = torch.Generator().manual_seed(2)
    z_g, z_adv, z_t = (torch.randn(4, 10, generator=g) for _ in range(3))
    y = torch.tensor([1, 9, 0, 4])
    lbgat0 = METHODS.build("lbgat").lbgat_objective(z_g, z_adv, z_t, y)
    d2r00 = D2RLoss(alpha=0.0, beta=0.0)(z_g, z_adv, z_t, y, x_adv=None, index=None)
    assert torch.equal(d2r00, lbgat0)


def test_gradient_of_adversarial_kl_by_hand() -> None:
    # d/dz_q sum_k P_k (log P_k - log Q_k) = Q - P = [0.75 - 0.5, 0.25 - 0.5]; / (B K) = / 2.
    z_g, z_adv, z_t, y = row_a(requires_grad=True)
    kl_adv = D2RLoss().terms(z_g, z_adv, z_t, y).kl_adv
    (grad,) = torch.autograd.grad(kl_adv, z_adv)
    assert grad[0].tolist() == pytest.approx([0.125, -0.125], abs=1e-9)


def test_which_term_reaches_which_logits() -> None:
    z_g, z_adv, z_t, y = row_a(requires_grad=True)
    terms = D2RLoss().terms(z_g, z_adv, z_t, y)
    reach = {
        "ce": (True, False, False),
        "mse": (True, True, False),
        "kl_adv": (True, True, False),
        "kl_clean_gap": (True, False, True),
        "total": (True, True, True),
    }
    for name, expected in reach.items():
        grads = torch.autograd.grad(
            getattr(terms, name), (z_g, z_adv, z_t), retain_graph=True, allow_unused=True
        )
        got = tuple(gr is not None and bool(gr.abs().sum() > 0) for gr in grads)
        assert got == expected, name


def test_beta_zero_sends_no_gradient_to_target_clean_logits() -> None:
    z_g, z_adv, z_t, y = row_a(requires_grad=True)
    loss = D2RLoss(beta=0.0)(z_g, z_adv, z_t, y)
    (grad,) = torch.autograd.grad(loss, z_t, allow_unused=True)
    assert grad is None or float(grad.abs().sum()) == 0.0


def test_gradients_reach_both_models() -> None:
    torch.manual_seed(0)
    guide, target = nn.Linear(6, 4), nn.Linear(6, 4)
    x = torch.rand(8, 6)
    x_adv = (x + 0.03 * torch.randn_like(x)).clamp(0, 1)
    y = torch.randint(0, 4, (8,))
    D2RLoss()(guide(x), target(x_adv), target(x), y).backward()
    for model in (guide, target):
        for p in model.parameters():
            assert p.grad is not None and float(p.grad.abs().sum()) > 0


def test_low_precision_logits_are_computed_in_fp32() -> None:
    z_g, z_adv, z_t, y = (t.to(torch.bfloat16) if t.is_floating_point() else t for t in row_a())
    out = D2RLoss()(z_g, z_adv, z_t, y)
    assert out.dtype == torch.float32
    assert float(out) == pytest.approx(3.758225, abs=2e-2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"beta": -0.5}, "beta"),
        ({"lam": -0.1}, "lam"),
        ({"alpha": float("nan")}, "alpha"),
        ({"kl_reduction": "sum"}, "kl_reduction"),
    ],
)
def test_bad_configuration(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        D2RLoss(**kwargs)


def test_bad_inputs() -> None:
    loss = D2RLoss()
    z = torch.zeros(2, 3)
    y = torch.tensor([0, 2])
    with pytest.raises(ValueError, match="same shape"):
        loss(z, torch.zeros(2, 4), z, y)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        loss(torch.zeros(3), z, z, y)
    with pytest.raises(ValueError, match="NaN or inf"):
        loss(z, torch.tensor([[0.0, float("nan"), 0.0], [0.0, 0.0, 0.0]]), z, y)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        loss(z, z, z, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"labels must lie"):
        loss(z, z, z, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="integer labels"):
        loss(z, z, z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="3 labels"):
        loss(z, z, z, torch.tensor([0, 1, 2]))
