"""Classifier heads of I-SCE and its competitors: (B, D) penultimate features -> (B, K) logits.

Every head has ``feature_dim`` (D) and ``num_classes`` (K), so ``Classifier.set_head`` accepts it,
and an optional low-dimensional embedding layer (``embed_dim``, 3 for the paper's Fig. 9) with
:meth:`embed` returning the embedded points.

* :class:`ISCEHead`: linear head with the L2 normalisation of sec. 3.2 ("features" / "logits" / "none").
* :class:`LGMHead`: Gaussian-mixture head of L-GM (Wan et al. 2018): ``z_k = -||e - mu_k||^2 / 2``.
* :class:`MMCHead`: fixed Max-Mahalanobis centres (Pang et al. 2020): ``z_k = -||e - mu*_k||^2 / 2``.

ArcFace uses core's :class:`robustlab.core.models.heads.NormalizedLinearHead` (cosine logits).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError

__all__ = ["NORMALIZE_MODES", "ISCEHead", "LGMHead", "MMCHead", "max_mahalanobis_centers"]

NORMALIZE_MODES = ("features", "logits", "none")


class _EmbeddingMixin(nn.Module):
    """Optional linear embedding ``e = E f`` (dim ``embed_dim``) in front of the head's layer."""

    embedding: nn.Module

    def _init_embedding(self, feature_dim: int, embed_dim: int | None) -> int:
        if feature_dim < 1:
            raise ConfigError(f"feature_dim must be >= 1, got {feature_dim}")
        self._feature_dim = int(feature_dim)
        if embed_dim is None:
            self.embedding = nn.Identity()
            return int(feature_dim)
        if not isinstance(embed_dim, int) or embed_dim < 1:
            raise ConfigError(
                f"embed_dim must be None or an int >= 1 (3 for Fig. 9), got {embed_dim!r}"
            )
        self.embedding = nn.Linear(feature_dim, embed_dim)
        return embed_dim

    @property
    def feature_dim(self) -> int:
        return self._feature_dim

    def embed(self, feat: Tensor) -> Tensor:
        """(B, D) features -> (B, E) embedded points (E = embed_dim, or D without an embedding)."""
        return self.embedding(feat)


class ISCEHead(_EmbeddingMixin):
    """Head for I-SCE models: the L2 normalisation of sec. 3.2 around an unnormalised linear layer.

    The paper normalises "f(x) by L2" so that f_y >> f_j cannot cancel m, and says it normalises
    the features, not the weights (unlike ArcFace). The spec offers three readings:

    * ``"features"`` (default): ``z = W (e / ||e||_2) + b``; |z_k| <= ||w_k|| + |b_k|.
    * ``"logits"``: ``z = u / ||u||_2`` with ``u = W e + b``; every z_k in [-1, 1], ||z||_2 = 1.
    * ``"none"``: ``z = W e + b`` (no normalisation; for ablations).

    Args:
        feature_dim: D of the backbone features.
        num_classes: K.
        normalize: "features" | "logits" | "none".
        embed_dim: None, or E for a linear embedding layer ``e = E f`` before the output layer
            (Fig. 9 uses E = 3). Without it e = f.
        bias: Whether the output layer has a bias.

    Shapes: forward (B, D) -> (B, K).
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        normalize: str = "features",
        embed_dim: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if normalize not in NORMALIZE_MODES:
            raise ConfigError(
                f"normalize must be one of {NORMALIZE_MODES} (sec. 3.2 readings), got {normalize!r}"
            )
        width = self._init_embedding(feature_dim, embed_dim)
        self.normalize = normalize
        self.fc = nn.Linear(width, num_classes, bias=bias)

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def forward(self, feat: Tensor) -> Tensor:
        """(B, D) -> (B, K) logits, normalised as chosen (eps 1e-12 on the norms)."""
        e = self.embed(feat)
        if self.normalize == "features":
            return self.fc(F.normalize(e, dim=1, eps=1e-12))
        u = self.fc(e)
        if self.normalize == "logits":
            return F.normalize(u, dim=1, eps=1e-12)
        return u

    def extra_repr(self) -> str:
        return f"normalize={self.normalize!r}"


def _half_sq_dist(e: Tensor, centers: Tensor) -> Tensor:
    """``||e_b - c_k||^2 / 2`` for e (B, E) and centres (K, E) -> (B, K) (exact differences)."""
    return 0.5 * (e[:, None, :] - centers[None, :, :]).pow(2).sum(dim=2)


class LGMHead(_EmbeddingMixin):
    """Large-margin Gaussian Mixture head (Wan, Zhong, Li & Chen, CVPR 2018), identity covariances.

    With equal priors and identity covariances the posterior of eq. (2) of Wan et al. is a softmax
    of ``z_k = -d_k`` with ``d_k = ||e - mu_k||^2 / 2``. The means mu (K, E) are learned.
    Use with :class:`robustlab.isce.competitors.LGMLoss`, which adds the margin and the likelihood
    term on these logits.

    Args:
        feature_dim: D. num_classes: K. embed_dim: optional embedding width E (None: E = D).

    Shapes: forward (B, D) -> (B, K) logits, all <= 0.
    """

    def __init__(self, feature_dim: int, num_classes: int, embed_dim: int | None = None) -> None:
        super().__init__()
        width = self._init_embedding(feature_dim, embed_dim)
        self.means = nn.Parameter(torch.randn(num_classes, width))

    @property
    def num_classes(self) -> int:
        return self.means.shape[0]

    def forward(self, feat: Tensor) -> Tensor:
        """(B, D) -> (B, K): ``-||e - mu_k||^2 / 2``."""
        return -_half_sq_dist(self.embed(feat), self.means)


def max_mahalanobis_centers(num_classes: int, dim: int, c_mm: float = 10.0) -> Tensor:
    """Max-Mahalanobis centres (Pang, Du & Zhu, ICML 2018, Algorithm 1), scaled to norm ``c_mm``.

    Builds unit vectors mu_1..mu_K in R^dim with ``<mu_i, mu_j> = -1/(K-1)`` for i != j (a regular
    simplex): mu_1 = e_1; for i >= 2, ``mu_i[j] = -(1/(K-1) + <mu_i, mu_j>) / mu_j[j]`` for j < i and
    ``mu_i[i] = sqrt(1 - ||mu_i||^2)``; all other coordinates 0. Then multiplies by ``c_mm``.

    Args:
        num_classes: K >= 2. dim: E >= K. c_mm: centre norm C_MM > 0 (Pang et al. 2020 use 10).

    Returns:
        (K, dim) float32 centres with norm c_mm and pairwise inner product -c_mm^2 / (K - 1).
    """
    if num_classes < 2:
        raise ConfigError(f"num_classes must be >= 2 for MM centres, got {num_classes}")
    if dim < num_classes:
        raise ConfigError(
            f"MM centres need dim >= num_classes (got dim {dim} < K {num_classes}); use a "
            "backbone with more features or set embed_dim >= K"
        )
    if not (math.isfinite(c_mm) and c_mm > 0):
        raise ConfigError(f"c_mm must be a finite number > 0, got {c_mm}")
    k = num_classes
    mu = torch.zeros(k, dim, dtype=torch.float64)
    mu[0, 0] = 1.0
    for i in range(1, k):
        for j in range(i):
            mu[i, j] = -(1.0 / (k - 1) + float(mu[i] @ mu[j])) / float(mu[j, j])
        mu[i, i] = math.sqrt(max(0.0, 1.0 - float(mu[i] @ mu[i])))
    return (c_mm * mu).float()


class MMCHead(_EmbeddingMixin):
    """Max-Mahalanobis centre head (Pang, Xu, Dong, Du, Chen & Zhu, ICLR 2020).

    Fixed (non-trainable) centres mu* from :func:`max_mahalanobis_centers`; logits
    ``z_k = -||e - mu*_k||^2 / 2`` (prediction = nearest centre). Use with
    :class:`robustlab.isce.competitors.MMCLoss`.

    Args:
        feature_dim: D. num_classes: K.
        c_mm: Centre norm (default 10, Pang et al. 2020).
        embed_dim: Optional embedding width E (None: E = D); E must be >= K.

    Shapes: forward (B, D) -> (B, K) logits, all <= 0.
    """

    centers: Tensor

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        c_mm: float = 10.0,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        width = self._init_embedding(feature_dim, embed_dim)
        self.c_mm = float(c_mm)
        self.register_buffer("centers", max_mahalanobis_centers(num_classes, width, c_mm))

    @property
    def num_classes(self) -> int:
        return self.centers.shape[0]

    def forward(self, feat: Tensor) -> Tensor:
        """(B, D) -> (B, K): ``-||e - mu*_k||^2 / 2``."""
        return -_half_sq_dist(self.embed(feat), self.centers)

    def extra_repr(self) -> str:
        return f"c_mm={self.c_mm}"
