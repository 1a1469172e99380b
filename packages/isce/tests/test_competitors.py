"""Competitor losses and heads (center loss, L-GM, MMC, ArcFace) against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from robustlab.core.errors import ConfigError
from robustlab.core.models.heads import NormalizedLinearHead
from robustlab.isce import (
    ArcFaceLoss,
    CenterLoss,
    LGMHead,
    LGMLoss,
    MMCHead,
    MMCLoss,
    max_mahalanobis_centers,
)


def test_center_loss_value_update_and_gradients() -> None:
    loss_fn = CenterLoss(num_classes=2, feature_dim=2, lam=0.1, alpha=0.5)
    feats = torch.tensor([[1.0, 2.0], [3.0, 0.0]], requires_grad=True)
    logits = torch.zeros(2, 2, requires_grad=True)
    target = torch.tensor([0, 0])
    loss = loss_fn(logits, feats, target)
    # CE = ln 2 per example; centres start at 0: 0.5 * (1 + 4) = 2.5 and 0.5 * 9 = 4.5; mean 3.5
    assert loss.item() == pytest.approx(math.log(2) + 0.1 * 3.5, abs=1e-6)
    # eq. 4: class 0 has 2 examples summing to (4, 2): delta = (2 * 0 - (4, 2)) / 3; c0 = -0.5 delta
    assert loss_fn.centers[0].tolist() == pytest.approx([2 / 3, 1 / 3], abs=1e-6)
    assert loss_fn.centers[1].tolist() == [0.0, 0.0]  # no example of class 1: unchanged
    loss.backward()
    # d/df of lam * mean(0.5 ||f - c||^2) with the old centres (0) = lam * f / B
    assert feats.grad is not None
    assert feats.grad.flatten().tolist() == pytest.approx([0.05, 0.1, 0.15, 0.0], abs=1e-6)
    assert not loss_fn.centers.requires_grad
    assert list(loss_fn.parameters()) == []


def test_center_loss_no_update_in_eval_mode() -> None:
    loss_fn = CenterLoss(2, 2).eval()
    loss_fn(torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([1]))
    assert loss_fn.centers.abs().sum().item() == 0.0
    with pytest.raises(ValueError, match="D = 2"):
        loss_fn(torch.zeros(1, 2), torch.ones(1, 3), torch.tensor([1]))
    with pytest.raises(ConfigError, match="lam"):
        CenterLoss(2, 2, lam=-1.0)


def test_lgm_head_and_loss_hand_value() -> None:
    head = LGMHead(feature_dim=2, num_classes=2)
    with torch.no_grad():
        head.means.copy_(torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    feats = torch.tensor([[1.0, 0.0]])
    logits = head(feats)
    # d_0 = 0.5 * 1 = 0.5, d_1 = 0.5 * 1 = 0.5 -> logits (-0.5, -0.5)
    assert logits.tolist()[0] == pytest.approx([-0.5, -0.5], abs=1e-6)
    loss = LGMLoss(alpha=1.0, lam=0.1)(logits, torch.tensor([0]))
    # margin: z'_0 = (1 + 1) * (-0.5) = -1; CE = 1 + log(e^-1 + e^-0.5); likelihood 0.1 * 0.5
    expected = 1.0 + math.log(math.exp(-1.0) + math.exp(-0.5)) + 0.05
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    assert head.means.grad is not None and head.means.grad.abs().sum() > 0  # means are learned
    with pytest.raises(ConfigError, match="LGMHead"):
        LGMLoss()(torch.tensor([[1.0, -1.0]]), torch.tensor([0]))


def test_mm_centers_by_hand_and_properties() -> None:
    mu = max_mahalanobis_centers(3, 3, c_mm=10.0)
    # mu_1 = e_1; mu_2 = (-1/2, sqrt(3/4), 0); mu_3 = (-1/2, -sqrt(3/4), 0), times 10
    r = math.sqrt(0.75)
    assert mu.tolist() == [
        pytest.approx([10.0, 0.0, 0.0], abs=1e-5),
        pytest.approx([-5.0, 10 * r, 0.0], abs=1e-5),
        pytest.approx([-5.0, -10 * r, 0.0], abs=1e-5),
    ]
    mu10 = max_mahalanobis_centers(10, 16, c_mm=10.0)
    gram = mu10 @ mu10.t()
    assert torch.allclose(gram.diagonal(), torch.full((10,), 100.0), atol=1e-3)
    off = gram[~torch.eye(10, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, -100.0 / 9), atol=1e-3)
    with pytest.raises(ConfigError, match="dim >= num_classes"):
        max_mahalanobis_centers(10, 3)


def test_mmc_head_and_loss_hand_value() -> None:
    head = MMCHead(feature_dim=3, num_classes=3, c_mm=10.0)
    feats = torch.tensor([[10.0, 0.0, 0.0], [10.0, 0.0, 0.0]], requires_grad=True)
    logits = head(feats)
    per = MMCLoss(reduction="none")(logits, torch.tensor([0, 1]))
    # at centre 0: 0; to centre 1: 0.5 * ((10 + 5)^2 + (10 sqrt(3/4))^2) = 0.5 * (225 + 75) = 150
    assert per.tolist() == pytest.approx([0.0, 150.0], abs=1e-3)
    per.sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    assert list(head.parameters()) == []  # fixed centres: nothing to learn in the head
    assert logits.argmax(1).tolist() == [0, 0]


def test_arcface_hand_value_and_fallback() -> None:
    # scale 2, margin 0.5, cos(theta_y) = 0.6, other cos = 0: phi = 0.6 cos 0.5 - 0.8 sin 0.5
    phi = 0.6 * math.cos(0.5) - 0.8 * math.sin(0.5)
    loss = ArcFaceLoss(scale=2.0, margin=0.5)(torch.tensor([[1.2, 0.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(-2 * phi + math.log(math.exp(2 * phi) + 1.0), abs=1e-5)
    # theta_y + m > pi (cos = -0.95 < cos(pi - 0.5)): target cosine -0.95 - 0.5 sin 0.5
    fb = -0.95 - 0.5 * math.sin(0.5)
    loss = ArcFaceLoss(scale=2.0, margin=0.5)(torch.tensor([[-1.9, 0.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(-2 * fb + math.log(math.exp(2 * fb) + 1.0), abs=1e-5)
    with pytest.raises(ConfigError, match="NormalizedLinearHead"):
        ArcFaceLoss(scale=2.0)(torch.tensor([[5.0, 0.0]]), torch.tensor([0]))


def test_arcface_trains_core_normalized_head() -> None:
    head = NormalizedLinearHead(4, 3, scale=16.0)
    feats = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    ArcFaceLoss(scale=16.0)(head(feats), torch.tensor([0, 1, 2, 0, 1])).backward()
    assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all()


@pytest.mark.parametrize("cls", [MMCLoss, LGMLoss])
def test_reductions(cls: type) -> None:
    logits = -torch.tensor([[1.0, 2.0], [3.0, 0.5]])
    target = torch.tensor([0, 1])
    per = cls(reduction="none")(logits, target)
    assert per.shape == (2,)
    assert cls(reduction="sum")(logits, target).item() == pytest.approx(per.sum().item(), abs=1e-6)
    assert cls()(logits, target).item() == pytest.approx(per.mean().item(), abs=1e-6)
