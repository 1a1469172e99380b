"""PC loss, logit constraint and GCE against values computed by hand from the equations."""

from __future__ import annotations

import math

import pytest
import torch

from robustlab.pcloss.losses import (
    GCELoss,
    PCLoss,
    gce_loss,
    logit_constraint_loss,
    pc_loss,
    pc_true_logit_grad,
)


def logits_from_probs(*rows: list[float]) -> torch.Tensor:
    """Logits whose softmax is exactly the given probability rows (log p)."""
    return torch.tensor(rows, dtype=torch.float64).log()


# ----------------------------------------------------------------------------- PC term (eq. 6)
def test_pc_hand_values_mean_and_sum() -> None:
    # example 1: p = [0.5, 0.3, 0.2], y = 0, xi = 0.995
    #   j=1: 0.3 + 0.995 - 0.5 = 0.795 ; j=2: 0.2 + 0.995 - 0.5 = 0.695 ; sum = 1.490
    # example 2: p = [0.1, 0.1, 0.8], y = 2
    #   j=0: 0.1 + 0.995 - 0.8 = 0.295 ; j=1: 0.295 ; sum = 0.590
    z = logits_from_probs([0.5, 0.3, 0.2], [0.1, 0.1, 0.8])
    y = torch.tensor([0, 2])
    # "sum" (paper eq. 6 literally): (1.490 + 0.590) / 2 = 1.040
    assert pc_loss(z, y, xi=0.995, reduction="sum").item() == pytest.approx(1.040, abs=1e-9)
    # "mean" (released code, / (K-1) = 2): (0.745 + 0.295) / 2 = 0.520
    assert pc_loss(z, y, xi=0.995, reduction="mean").item() == pytest.approx(0.520, abs=1e-9)


def test_pc_partially_violated_margin() -> None:
    # p = [0.5, 0.3, 0.2], y = 0, xi = 0.3: j=1: 0.3+0.3-0.5 = 0.1 ; j=2: 0.2+0.3-0.5 = 0.0
    z = logits_from_probs([0.5, 0.3, 0.2])
    y = torch.tensor([0])
    assert pc_loss(z, y, xi=0.3, reduction="sum").item() == pytest.approx(0.1, abs=1e-9)
    assert pc_loss(z, y, xi=0.3, reduction="mean").item() == pytest.approx(0.05, abs=1e-9)


def test_pc_zero_when_no_margin_violated() -> None:
    # p = [0.9, 0.05, 0.05], y = 0, xi = 0.5: 0.05 + 0.5 - 0.9 = -0.35 -> 0 for both j
    z = logits_from_probs([0.9, 0.05, 0.05], [0.05, 0.05, 0.9])
    y = torch.tensor([0, 2])
    z.requires_grad_(True)
    loss = pc_loss(z, y, xi=0.5)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(z.grad) == 0


def test_pc_gradient_matches_eq7_by_hand() -> None:
    # eq. 7: d(p_j + xi - p_y)/dz_y = -p_y (1 - p_y + p_j); p = [0.5, 0.3, 0.2], y = 0:
    #   j=1: -0.5 * (1 - 0.5 + 0.3) = -0.40 ; j=2: -0.5 * (1 - 0.5 + 0.2) = -0.35 ; total -0.75
    z = logits_from_probs([0.5, 0.3, 0.2]).requires_grad_(True)
    y = torch.tensor([0])
    assert pc_true_logit_grad(z, y).item() == pytest.approx(-0.75, abs=1e-12)
    pc_loss(z, y, reduction="sum").backward()
    assert z.grad[0, 0].item() == pytest.approx(-0.75, abs=1e-12)


@pytest.mark.parametrize("xi", [0.995, 0.8, 0.3])
def test_pc_gradient_matches_eq7_autograd(xi: float) -> None:
    g = torch.Generator().manual_seed(0)
    B, K = 16, 10
    z = (3 * torch.randn(B, K, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, K, (B,), generator=g)
    # reduction="sum" is 1/B * sum_i sum_j; multiply by B to get the per-example gradient
    (pc_loss(z, y, xi=xi, reduction="sum") * B).backward()
    autograd_true = z.grad.gather(1, y[:, None]).squeeze(1)
    torch.testing.assert_close(autograd_true, pc_true_logit_grad(z, y, xi=xi))
    # reduction="mean" is the same gradient divided by K-1
    z.grad = None
    (pc_loss(z, y, xi=xi, reduction="mean") * B * (K - 1)).backward()
    torch.testing.assert_close(
        z.grad.gather(1, y[:, None]).squeeze(1), pc_true_logit_grad(z, y, xi)
    )


# ------------------------------------------------------------------ logit constraint (eq. 15-16)
def test_logit_constraint_hand_values() -> None:
    # example 1: z = [2, 1, 0], y = 0: gaps z_y - z_j = [1, 2]
    #   soft: w = softmax([1, 0]) = [e/(e+1), 1/(e+1)] = [0.7310586, 0.2689414]
    #         w . gaps = 0.7310586 * 1 + 0.2689414 * 2 = 1.2689414
    #   hard: most probable wrong class is j=1, gap = 1
    # example 2: z = [0, 3, 1], y = 0: true logit below both wrong logits -> gaps [0, 0] -> 0
    z = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    e = math.e
    soft_1 = e / (e + 1) * 1 + 1 / (e + 1) * 2
    assert soft_1 == pytest.approx(1.2689414, abs=1e-7)
    assert logit_constraint_loss(z, y, "soft").item() == pytest.approx(soft_1 / 2, abs=1e-12)
    assert logit_constraint_loss(z, y, "hard").item() == pytest.approx(1 / 2, abs=1e-12)
    assert logit_constraint_loss(z[:1], y[:1], "soft").item() == pytest.approx(soft_1, abs=1e-12)


def test_logit_constraint_zero_when_true_logit_not_above() -> None:
    # z = [0, 3, 1], y = 0 and z = [1, 5, 5], y = 0 (a tie): z_y - z_j <= 0 for every wrong j -> 0
    z = torch.tensor([[0.0, 3.0, 1.0], [1.0, 5.0, 5.0]], requires_grad=True)
    y = torch.tensor([0, 0])
    for constraint in ("soft", "hard"):
        assert logit_constraint_loss(z, y, constraint).item() == 0.0


def test_soft_weights_are_not_detached() -> None:
    # d/dz_2 of w_1*1 + w_2*2 with w = softmax([z_1, z_2]) at (1, 0): w_2 * (2 - L) = 0.2689*(0.7311)
    z = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    logit_constraint_loss(z, torch.tensor([0]), "soft").backward()
    w2 = 1 / (math.e + 1)
    soft = math.e / (math.e + 1) + 2 * w2
    # z_2 enters through the gap (-w_2) and through the weight (w_2 * (2 - soft))
    assert z.grad[0, 2].item() == pytest.approx(-w2 + w2 * (2 - soft), abs=1e-12)


# --------------------------------------------------------------------------- total (eq. 16)
def test_pcloss_total_hand_value() -> None:
    # z = [2, 1, 0], y = 0: p = softmax(z) = [0.6652410, 0.2447285, 0.0900306]
    #   PC mean = ((0.2447285 + 0.995 - 0.6652410) + (0.0900306 + 0.995 - 0.6652410)) / 2
    #           = (0.5744875 + 0.4197896) / 2 = 0.4971386
    #   LC soft = 1.2689414 (see above); total = 0.4971386 + 0.05 * 1.2689414 = 0.5605857
    z = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0])
    assert PCLoss()(z, y).item() == pytest.approx(0.5605857, abs=1e-6)
    pc, lc = PCLoss().terms(z, y)
    assert pc.item() == pytest.approx(0.4971386, abs=1e-6)
    assert lc.item() == pytest.approx(1.2689414, abs=1e-6)
    # hard constraint: 0.4971386 + 0.05 * 1 ; literal sum: 0.9942771 + 0.05 * 1.2689414
    assert PCLoss(constraint="hard")(z, y).item() == pytest.approx(0.5471386, abs=1e-6)
    assert PCLoss(reduction="sum")(z, y).item() == pytest.approx(1.0577242, abs=1e-6)


def test_lam_zero_leaves_pc_term_alone() -> None:
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(8, 10, generator=g).requires_grad_(True)
    z2 = z1.detach().clone().requires_grad_(True)
    y = torch.randint(0, 10, (8,), generator=g)
    a, b = PCLoss(lam=0.0)(z1, y), pc_loss(z2, y)
    assert torch.equal(a, b)
    a.backward()
    b.backward()
    assert torch.equal(z1.grad, z2.grad)
    assert not torch.equal(PCLoss(lam=0.05)(z1, y), b)


@pytest.mark.parametrize("K", [2, 10, 200])
@pytest.mark.parametrize("constraint", ["soft", "hard"])
def test_shapes_any_number_of_classes(K: int, constraint: str) -> None:
    g = torch.Generator().manual_seed(K)
    z = torch.randn(5, K, generator=g).requires_grad_(True)
    y = torch.randint(0, K, (5,), generator=g)
    for loss_fn in (PCLoss(constraint=constraint), PCLoss(reduction="sum"), GCELoss()):
        loss = loss_fn(z, y)
        assert loss.shape == () and torch.isfinite(loss)
        (grad,) = torch.autograd.grad(loss, z)
        assert grad.shape == (5, K) and torch.isfinite(grad).all()


def test_low_precision_logits_are_computed_in_fp32() -> None:
    z = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.bfloat16)
    out = PCLoss()(z, torch.tensor([0]))
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(0.5605857, abs=1e-6)


def test_empty_batch_gives_zero() -> None:
    z = torch.zeros(0, 4)
    y = torch.zeros(0, dtype=torch.long)
    assert PCLoss()(z, y).item() == 0.0
    assert GCELoss()(z, y).item() == 0.0


# ------------------------------------------------------------------------------------ GCE
def test_gce_hand_value() -> None:
    # p = [0.5, 0.3, 0.2], y = 0: q = [0.3, 0.2] / 0.5 = [0.6, 0.4]
    #   sum q log q = 0.6 ln 0.6 + 0.4 ln 0.4 = -0.3064954 - 0.3665163 = -0.6730117
    #   guide p_y^0.2 = 0.5^0.2 = 0.8705506 ; normaliser ln K = ln 3 = 1.0986123
    #   GCE = 0.8705506 * -0.6730117 / 1.0986123 = -0.5858907 / 1.0986123 = -0.5333007
    z = logits_from_probs([0.5, 0.3, 0.2])
    expected = 0.5**0.2 * (0.6 * math.log(0.6) + 0.4 * math.log(0.4)) / math.log(3)
    assert expected == pytest.approx(-0.5333007, abs=1e-6)
    assert gce_loss(z, torch.tensor([0]), alpha=0.2).item() == pytest.approx(expected, abs=1e-12)
    # alpha = 0: plain (normalised) complement entropy
    assert gce_loss(z, torch.tensor([0]), alpha=0.0).item() == pytest.approx(
        -0.6730117 / math.log(3), abs=1e-6
    )


def test_gce_minimum_is_flat_wrong_classes() -> None:
    # flat wrong classes maximise complement entropy: q = 1/(K-1) -> sum q log q = -log(K-1)
    z = logits_from_probs([0.7, 0.1, 0.1, 0.1])
    assert gce_loss(z, torch.tensor([0]), alpha=0.0).item() == pytest.approx(
        -math.log(3) / math.log(4), abs=1e-12
    )


# ------------------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"xi": 0.0}, "xi"),
        ({"xi": -0.5}, "xi"),
        ({"xi": float("nan")}, "xi"),
        ({"lam": -0.01}, "lam"),
        ({"reduction": "none"}, "reduction"),
        ({"constraint": "max"}, "constraint"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PCLoss(**kwargs)


def test_bad_function_arguments() -> None:
    z = torch.zeros(2, 3)
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="xi"):
        pc_loss(z, y, xi=0)
    with pytest.raises(ValueError, match="alpha"):
        GCELoss(alpha=-1)
    with pytest.raises(ValueError, match="alpha"):
        gce_loss(z, y, alpha=float("inf"))


@pytest.mark.parametrize(
    ("z", "y", "match"),
    [
        (torch.zeros(2, 3), torch.tensor([0, 3]), r"target values must lie in \[0, 2\]"),
        (torch.zeros(2, 3), torch.tensor([-1, 0]), r"target values must lie in \[0, 2\]"),
        (torch.zeros(3), torch.tensor([0, 1, 2]), "logits must be a 2-D"),
        (torch.zeros(2, 3, 1), torch.tensor([0, 1]), "logits must be a 2-D"),
        (torch.zeros(2, 1), torch.tensor([0, 0]), "at least 2 classes"),
        (torch.zeros(2, 3), torch.tensor([[0], [1]]), "target must be a 1-D"),
        (torch.zeros(2, 3), torch.tensor([0, 1, 2]), "target must be a 1-D"),
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), "integer class indices"),
        (torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]), "floating point"),
    ],
)
def test_bad_tensors(z: torch.Tensor, y: torch.Tensor, match: str) -> None:
    for fn in (PCLoss(), GCELoss(), lambda a, b: logit_constraint_loss(a, b, "hard")):
        with pytest.raises(ValueError, match=match):
            fn(z, y)
