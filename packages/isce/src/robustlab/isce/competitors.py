"""Competitor losses of the I-SCE paper (sec. 4): center loss, L-GM, ArcFace and MMC.

Each works with any core model: the margin/centre losses pair with a head (``heads.LGMHead``,
``heads.MMCHead``, core's ``NormalizedLinearHead`` for ArcFace) that the model gets through
``Classifier.set_head``; center loss needs the penultimate features ``model.features(x)`` too.
SCE and label smoothing are in :mod:`robustlab.isce.losses`. Every loss returns a scalar with
``reduction="mean"`` (over the batch, default) or ``"sum"``, or (B,) with ``"none"``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.losses import cross_entropy
from robustlab.isce._checks import (
    check_features,
    check_logits_target,
    check_reduction,
    check_scalar,
    reduce,
)

__all__ = ["ArcFaceLoss", "CenterLoss", "LGMLoss", "MMCLoss"]


def _check_distance_logits(logits: Tensor, who: str, head: str) -> None:
    if float(logits.detach().max()) > 1e-6:
        raise ConfigError(
            f"{who} expects the logits of {head} (minus half squared distances, all <= 0), got a "
            f"positive logit {float(logits.detach().max()):.4g}; install the head with model.set_head({head}(...))"
        )


class CenterLoss(nn.Module):
    """Softmax + center loss (Wen, Zhang, Li & Qiao, ECCV 2016, eqs. 2, 4, 5).

    ``L = CE(z, y) + lam * L_C`` with ``L_C = ||f - c_y||_2^2 / 2`` per example (eq. 2), both
    reduced the same way over the batch, so their ratio is Wen's (who sum both). The centres
    c (K, D) are a buffer, not a parameter: the loss gradient reaches the features only, and in
    training mode (with grad enabled) every call then updates the centres by eq. 4,
    ``c_j <- c_j - alpha * sum_i [y_i = j] (c_j - f_i) / (1 + sum_i [y_i = j])`` from the detached
    features (after the loss is computed with the old centres). Centres start at 0.

    Args:
        num_classes: K. feature_dim: D.
        lam: Weight lambda >= 0 of the center term (default 0.003, Wen et al.'s face setting).
        alpha: Centre learning rate in [0, 1] (default 0.5, Wen et al.).
        reduction: "mean" | "sum" | "none".

    Call: ``loss(logits (B, K), features (B, D), target (B,))``.
    """

    centers: Tensor

    def __init__(
        self,
        num_classes: int,
        feature_dim: int,
        lam: float = 0.003,
        alpha: float = 0.5,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if num_classes < 2 or feature_dim < 1:
            raise ConfigError(
                f"need num_classes >= 2 and feature_dim >= 1, got {num_classes}, {feature_dim}"
            )
        self.lam = check_scalar("lam (center-loss weight)", lam, low=0.0)
        self.alpha = check_scalar("alpha (centre learning rate)", alpha, low=0.0)
        if self.alpha > 1.0:
            raise ConfigError(f"alpha (centre learning rate) must be <= 1, got {alpha}")
        self.reduction = check_reduction(reduction)
        self.register_buffer("centers", torch.zeros(num_classes, feature_dim))

    def center_term(self, features: Tensor, target: Tensor) -> Tensor:
        """Per-example ``||f - c_y||^2 / 2`` (B,) against the current centres (no update)."""
        diff = features - self.centers.to(features.dtype)[target]
        return 0.5 * diff.pow(2).sum(dim=1)

    @torch.no_grad()
    def update_centers(self, features: Tensor, target: Tensor) -> None:
        """Eq. 4 of Wen et al. on detached features (B, D) and labels (B,)."""
        k = self.centers.shape[0]
        feats = features.detach().to(self.centers.dtype)
        onehot = F.one_hot(target, k).to(feats.dtype)  # (B, K)
        counts = onehot.sum(dim=0)  # (K,)
        sums = onehot.t() @ feats  # (K, D)
        delta = (counts[:, None] * self.centers - sums) / (1.0 + counts[:, None])
        self.centers.sub_(self.alpha * delta)

    def forward(self, logits: Tensor, features: Tensor, target: Tensor) -> Tensor:
        """CE + lam * center term; updates the centres afterwards in training mode."""
        check_logits_target(logits, target)
        check_features(features, self.centers.shape[1])
        if features.shape[0] != logits.shape[0]:
            raise ValueError(
                f"batch size mismatch: {logits.shape[0]} logits rows, {features.shape[0]} feature rows"
            )
        if logits.shape[1] != self.centers.shape[0]:
            raise ValueError(
                f"logits have K = {logits.shape[1]}, centres K = {self.centers.shape[0]}"
            )
        per_example = cross_entropy(logits, target, reduction="none")
        per_example = per_example + self.lam * self.center_term(features, target)
        if self.training and torch.is_grad_enabled():
            self.update_centers(features, target)
        return reduce(per_example, self.reduction)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, alpha={self.alpha}, reduction={self.reduction!r}"


class LGMLoss(nn.Module):
    """Large-margin Gaussian mixture loss (Wan et al., CVPR 2018, eqs. 7-9), identity covariances.

    On the logits ``z_k = -d_k`` of :class:`robustlab.isce.heads.LGMHead` (``d_k = ||e - mu_k||^2/2``):
    ``L = CE(z', y) + lam * d_y`` where the margin multiplies the true-class distance,
    ``z'_y = (1 + alpha) z_y`` (other logits unchanged), and ``d_y = -z_y`` is the likelihood
    regulariser (the negative log-likelihood up to a constant).

    Args:
        alpha: Margin >= 0 (default 0.1). lam: Likelihood weight >= 0 (default 0.1).
        reduction: "mean" | "sum" | "none".
    """

    def __init__(self, alpha: float = 0.1, lam: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        self.alpha = check_scalar("alpha (L-GM margin)", alpha, low=0.0)
        self.lam = check_scalar("lam (L-GM likelihood weight)", lam, low=0.0)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """LGMHead logits (B, K) <= 0 and labels (B,) -> scalar (or (B,)), >= 0."""
        check_logits_target(logits, target)
        _check_distance_logits(logits, "LGMLoss", "LGMHead")
        onehot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        margin_logits = logits + self.alpha * onehot * logits
        z_y = logits.gather(1, target[:, None]).squeeze(1)
        per_example = cross_entropy(margin_logits, target, reduction="none") - self.lam * z_y
        return reduce(per_example, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, lam={self.lam}, reduction={self.reduction!r}"


class MMCLoss(nn.Module):
    """Max-Mahalanobis center loss (Pang et al., ICLR 2020, eq. 4): ``||e - mu*_y||^2 / 2``.

    On the logits ``z_k = -||e - mu*_k||^2 / 2`` of :class:`robustlab.isce.heads.MMCHead` this is
    ``-z_y``; the other classes enter only through the fixed centres.

    Args:
        reduction: "mean" | "sum" | "none".
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """MMCHead logits (B, K) <= 0 and labels (B,) -> scalar (or (B,)), >= 0."""
        check_logits_target(logits, target)
        _check_distance_logits(logits, "MMCLoss", "MMCHead")
        return reduce(-logits.gather(1, target[:, None]).squeeze(1), self.reduction)


class ArcFaceLoss(nn.Module):
    """Additive angular margin loss (Deng, Guo, Xue & Zafeiriou, CVPR 2019, eq. 3).

    On cosine logits ``z_k = s cos(theta_k)`` of core's ``NormalizedLinearHead(scale=s)``:
    ``z'_y = s cos(theta_y + m)``, others unchanged, then CE. As the authors' code, when
    ``theta_y + m > pi`` (cos(theta_y) <= cos(pi - m)) the target logit is
    ``s (cos(theta_y) - m sin(m))`` instead, keeping it decreasing in theta_y. Cosines are clamped to
    [-1 + 1e-7, 1 - 1e-7] so the angle's gradient stays finite.

    Args:
        scale: s > 0, must equal the head's scale (default 16.0, core's head default; Deng et
            al. use 64 for faces).
        margin: m in [0, pi/2) radians (default 0.5, Deng et al.).
        reduction: "mean" | "sum" | "none".
    """

    def __init__(self, scale: float = 16.0, margin: float = 0.5, reduction: str = "mean") -> None:
        super().__init__()
        self.scale = check_scalar("scale (ArcFace s)", scale, low=0.0, strict=True)
        self.margin = check_scalar("margin (ArcFace m, radians)", margin, low=0.0)
        if self.margin >= math.pi / 2:
            raise ConfigError(f"margin must be < pi/2 radians, got {margin}")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cosine logits (B, K) in [-s, s] and labels (B,) -> scalar (or (B,)), >= 0."""
        check_logits_target(logits, target)
        if float(logits.detach().abs().max()) > self.scale * (1 + 1e-4):
            raise ConfigError(
                f"ArcFaceLoss(scale={self.scale}) got a logit of magnitude "
                f"{float(logits.detach().abs().max()):.4g} > scale; use NormalizedLinearHead(scale={self.scale})"
            )
        cos = (logits / self.scale).clamp(-1 + 1e-7, 1 - 1e-7)
        cos_y = cos.gather(1, target[:, None]).squeeze(1)
        sin_y = (1.0 - cos_y.pow(2)).sqrt()
        m = self.margin
        phi = cos_y * math.cos(m) - sin_y * math.sin(m)
        phi = torch.where(cos_y > math.cos(math.pi - m), phi, cos_y - m * math.sin(m))
        onehot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        margin_logits = self.scale * (cos + onehot * (phi - cos_y)[:, None])
        return reduce(cross_entropy(margin_logits, target, reduction="none"), self.reduction)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, margin={self.margin}, reduction={self.reduction!r}"
