"""CTR losses (Yang et al., "Improving the Robustness and Generalization of Deep Neural Network
with Confidence Threshold Reduction", arXiv:2206.00913).

* :class:`MDLoss` -- mask-guided divergence loss for natural training (eq. 3-6; the Pearson
  variant MDL-PCC, eq. 27-28).
* :func:`std_loss` -- standard deviation of the wrong-class probabilities (eq. 14).
* :func:`sce_loss` -- STD-weighted cross-entropy, ``exp(gamma * STD) * CE`` (eq. 15).
* :func:`skl_loss` -- STD-weighted TRADES KL, ``exp(gamma * STD(f(x'))) * KL(p(x) || p(x'))``
  (eq. 16).

Decisions on the paper's ambiguities (also listed in the package README):

* STD is the *sample* standard deviation over the C-1 wrong-class probabilities (divisor C-2),
  as in the derivative of eq. 26a. It needs C >= 3.
* The SKL factor uses the *adversarial* output f(x'): Proposition 4.3 differentiates it with
  respect to the adversarial input; a factor on the clean output would be a per-example constant
  for the attack and would not change a sign-gradient step at all.
* KL is TRADES' ``KL(p(x) || p(x'))``, summed over classes, batch mean ("batchmean").
* The STD factor is *not* detached: eq. 22a/24a differentiate through it.
* gamma = 0 is computed as core's CE / KL (``robustlab.core.losses``) exactly: exp(0 * STD) = 1,
  so the CTR methods with gamma = 0 are bit-identical to the core baselines.
* The MDL mask (eq. 5) is a selection, computed without gradient; its percentile uses linear
  interpolation between order statistics (``torch.quantile``'s default).
* The K probability vectors come from one shared backbone forward (one BatchNorm statistics
  pass) and K dropout samples of the head, as produced by
  ``MultiSampleDropoutHead.forward_samples``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlab.core.losses import OBJECTIVES, Objective, cross_entropy, kl_div

__all__ = [
    "DIVERSITIES",
    "SCE",
    "SKL",
    "MDLTerms",
    "MDLoss",
    "SCEAttackLoss",
    "SKLAttackLoss",
    "check_gamma",
    "mdl_mask",
    "pairwise_diversity",
    "sce_loss",
    "skl_loss",
    "std_attack_loss",
    "std_loss",
    "wrong_class_probs",
]

DIVERSITIES = ("cosine", "pearson")
Reduction = str  # "mean" | "none"


def check_gamma(gamma: float) -> float:
    """Validate the STD weight gamma (eq. 15-16): a finite float >= 0.

    Raises:
        ValueError: naming gamma, its allowed range and the fix.
    """
    g = float(gamma)
    if not (g >= 0.0 and g < float("inf")):
        raise ValueError(
            f"gamma must be a finite number >= 0 (gamma = 0 gives plain CE / KL), got {gamma!r}"
        )
    return g


def _reduce(per_example: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _check_logits(logits: Tensor, y: Tensor, name: str = "logits") -> None:
    if logits.dim() < 2:
        raise ValueError(f"{name} must have shape (..., B, C), got {tuple(logits.shape)}")
    if logits.shape[-1] < 3:
        raise ValueError(
            f"{name} has C={logits.shape[-1]} classes; the wrong-class standard deviation and "
            f"diversity need C >= 3"
        )
    if y.dim() != 1 or y.shape[0] != logits.shape[-2]:
        raise ValueError(
            f"y must have shape (B,) with B={logits.shape[-2]} matching {name}, "
            f"got {tuple(y.shape)}"
        )


def wrong_class_probs(probs: Tensor, y: Tensor) -> Tensor:
    """Remove the true-class entry: ``P \\ y`` of eq. 3 and 14.

    Args:
        probs: Probabilities (..., B, C) (any leading dims, e.g. K sub-networks).
        y: True labels (B,), int64 in [0, C).

    Returns:
        (..., B, C-1): the wrong-class probabilities, in their original class order.
    """
    B, C = probs.shape[-2], probs.shape[-1]
    keep = torch.ones(B, C, dtype=torch.bool, device=probs.device)
    keep[torch.arange(B, device=probs.device), y] = False
    return probs[..., keep].reshape(*probs.shape[:-2], B, C - 1)


def _safe_sqrt(v: Tensor) -> Tensor:
    """sqrt with value 0 and gradient 0 (not NaN) where v == 0."""
    pos = v > 0
    return torch.where(
        pos, torch.sqrt(torch.where(pos, v, torch.ones_like(v))), torch.zeros_like(v)
    )


def std_loss(logits: Tensor, y: Tensor) -> Tensor:
    """STD loss, eq. 14: ``S(f(x) \\ y)``, the sample standard deviation of the wrong-class
    probabilities, per example.

    ``S(w) = sqrt( sum_c (w_c - mean(w))^2 / (C - 2) )`` over the C-1 wrong-class probabilities
    ``w`` of ``softmax(logits)`` (divisor C-2, as in the derivative eq. 26a). At S = 0 the value
    and the gradient are 0.

    Args:
        logits: (B, C) logits (computed in float32), C >= 3.
        y: (B,) int64 labels.

    Returns:
        (B,) values in [0, 1/sqrt(C-1)].
    """
    _check_logits(logits, y)
    wrong = wrong_class_probs(F.softmax(logits.float(), dim=-1), y)
    C = logits.shape[-1]
    var = ((wrong - wrong.mean(dim=-1, keepdim=True)) ** 2).sum(dim=-1) / (C - 2)
    return _safe_sqrt(var)


def sce_loss(logits: Tensor, y: Tensor, gamma: float, reduction: Reduction = "mean") -> Tensor:
    """SCE loss, eq. 15: ``exp(gamma * STD(f(x))) * CE(f(x), y)``.

    Args:
        logits: (B, C) logits, C >= 3.
        y: (B,) labels.
        gamma: STD weight >= 0; gamma = 0 is exactly the cross-entropy.
        reduction: "mean" (batch mean, scalar) or "none" ((B,)).

    Returns:
        Scalar or (B,) tensor, >= CE.
    """
    g = check_gamma(gamma)
    if g == 0.0:
        _check_logits(logits, y)
        _reduce(logits.new_zeros(0), reduction)  # validates the reduction
        return cross_entropy(logits, y, reduction)
    ce = cross_entropy(logits, y, "none")
    return _reduce(torch.exp(g * std_loss(logits, y)) * ce, reduction)


def skl_loss(
    logits_adv: Tensor,
    logits_clean: Tensor,
    y: Tensor,
    gamma: float,
    reduction: Reduction = "mean",
) -> Tensor:
    """SKL loss, eq. 16: ``exp(gamma * STD(f(x'))) * KL(p(x) || p(x'))``.

    The STD factor is computed on the adversarial output ``logits_adv`` (see the module notes);
    KL is summed over classes; "mean" is TRADES' batchmean.

    Args:
        logits_adv: (B, C) logits of the adversarial input x'.
        logits_clean: (B, C) logits of the clean input x (detach them for an attack objective).
        y: (B,) labels (selects the wrong classes for STD).
        gamma: STD weight >= 0; gamma = 0 is exactly TRADES' KL.
        reduction: "mean" or "none".

    Returns:
        Scalar or (B,) tensor, >= 0.
    """
    g = check_gamma(gamma)
    if logits_adv.shape != logits_clean.shape:
        raise ValueError(
            f"logits_adv {tuple(logits_adv.shape)} and logits_clean "
            f"{tuple(logits_clean.shape)} must have the same shape (B, C)"
        )
    if g == 0.0:
        _check_logits(logits_adv, y, "logits_adv")
        _reduce(logits_adv.new_zeros(0), reduction)  # validates the reduction
        return kl_div(logits_clean, logits_adv, "batchmean" if reduction == "mean" else "none")
    kl = kl_div(logits_clean, logits_adv, "none")
    return _reduce(torch.exp(g * std_loss(logits_adv, y)) * kl, reduction)


# ---------------------------------------------------------------------------------------------
# Attack losses: loss(logits_adv (B, C), y (B,), *, logits_clean, **ctx) -> (B,), maximised.
# ---------------------------------------------------------------------------------------------


def std_attack_loss(
    logits_adv: Tensor, y: Tensor, *, logits_clean: Tensor | None = None, **ctx: object
) -> Tensor:
    """Per-example STD loss (eq. 14) as an attack objective (S-FGSM/S-PGD/S-APGD, section 4.3)."""
    return std_loss(logits_adv, y)


class SCEAttackLoss:
    """Per-example SCE (eq. 15) as an attack objective; ``gamma`` 5 in the paper's Table 7."""

    def __init__(self, gamma: float = 5.0) -> None:
        self.gamma = check_gamma(gamma)

    def __call__(
        self, logits_adv: Tensor, y: Tensor, *, logits_clean: Tensor | None = None, **ctx: object
    ) -> Tensor:
        return sce_loss(logits_adv, y, self.gamma, reduction="none")

    def __repr__(self) -> str:
        return f"SCEAttackLoss(gamma={self.gamma})"


class SKLAttackLoss:
    """Per-example SKL (eq. 16) as an attack objective (TRADES with CTR, eq. 18); ``gamma`` 1 in
    the paper's Table 7. Needs the clean logits the attack passes as ``logits_clean``."""

    def __init__(self, gamma: float = 1.0) -> None:
        self.gamma = check_gamma(gamma)

    def __call__(
        self, logits_adv: Tensor, y: Tensor, *, logits_clean: Tensor | None = None, **ctx: object
    ) -> Tensor:
        if logits_clean is None:
            raise ValueError("the SKL attack loss needs logits_clean (the clean model output)")
        return skl_loss(logits_adv, logits_clean.detach(), y, self.gamma, reduction="none")

    def __repr__(self) -> str:
        return f"SKLAttackLoss(gamma={self.gamma})"


class SCE(Objective):
    """SCE (eq. 15) as a training objective: per example exp(gamma STD(f(x))) CE(f(x), y).

    Registered as ``ctr/sce`` (option ``gamma``); CTR's ``ctr/madry-at``, ``ctr/fast-at``,
    ``ctr/free-at`` (eq. 17) and the natural term of ``ctr/trades`` (eq. 18) use it.
    """

    name = "ctr/sce"

    def __init__(self, gamma: float = 0.0) -> None:
        self.gamma = check_gamma(gamma)

    def __call__(self, logits: Tensor, y: Tensor, **ctx: object) -> Tensor:
        return sce_loss(logits, y, self.gamma, reduction="none")

    def loss(self, logits: Tensor, y: Tensor, reduction: str = "mean", **ctx: object) -> Tensor:
        if reduction in ("mean", "batchmean"):
            return sce_loss(logits, y, self.gamma)
        return super().loss(logits, y, reduction, **ctx)

    def __repr__(self) -> str:
        return f"SCE(gamma={self.gamma})"


class SKL(Objective):
    """SKL (eq. 16) as TRADES' robust term: per example exp(gamma STD(f(x'))) KL(p(x) || p(x')),
    ``logits`` = f(x'), ``logits_clean`` = f(x) from the context (not detached). ``ctr/skl``."""

    name = "ctr/skl"

    def __init__(self, gamma: float = 0.0) -> None:
        self.gamma = check_gamma(gamma)

    def _clean(self, ctx: dict[str, object]) -> Tensor:
        clean = ctx.get("logits_clean")
        if not isinstance(clean, Tensor):
            raise ValueError("the SKL objective needs logits_clean (the clean model output)")
        return clean

    def __call__(self, logits: Tensor, y: Tensor, **ctx: object) -> Tensor:
        return skl_loss(logits, self._clean(ctx), y, self.gamma, reduction="none")

    def loss(self, logits: Tensor, y: Tensor, reduction: str = "mean", **ctx: object) -> Tensor:
        if reduction in ("mean", "batchmean"):
            return skl_loss(logits, self._clean(ctx), y, self.gamma)
        return super().loss(logits, y, reduction, **ctx)

    def __repr__(self) -> str:
        return f"SKL(gamma={self.gamma})"


def register_objectives() -> None:
    """Register ``ctr/sce`` and ``ctr/skl`` in core's ``OBJECTIVES`` (idempotent)."""
    for cls in (SCE, SKL):
        if cls.name not in OBJECTIVES:
            OBJECTIVES.register(cls.name, cls)


register_objectives()


# ---------------------------------------------------------------------------------------------
# MDL (section 4.1)
# ---------------------------------------------------------------------------------------------


class MDLTerms(NamedTuple):
    """Per-example parts of the MDL loss (all (B,)): ``ce`` the mean CE of the K sub-networks,
    ``diversity`` the mean pairwise D over the K(K-1)/2 pairs (in [0, 1]), ``mask`` eq. 5 (0/1,
    no gradient)."""

    ce: Tensor
    diversity: Tensor
    mask: Tensor


def pairwise_diversity(probs: Tensor, y: Tensor, kind: str = "cosine") -> Tensor:
    """Mean pairwise diversity of K sub-networks' wrong-class probability vectors.

    ``cosine`` (eq. 3): ``D1 = <w_i, w_j> / (|w_i| |w_j|)``. ``pearson`` (eq. 27-28):
    ``D2 = (Pe(w_i, w_j) + 1) / 2`` with Pe the cosine of the mean-centred vectors (a vector
    whose entries are all equal centres to 0 and counts as uncorrelated, Pe = 0).

    Args:
        probs: (K, B, C) probabilities of the K sub-networks, K >= 2.
        y: (B,) labels.
        kind: "cosine" or "pearson".

    Returns:
        (B,) ``sum_{i<j} D(P^i, P^j) / (K(K-1)/2)``, in [0, 1].
    """
    if kind not in DIVERSITIES:
        raise ValueError(f"diversity must be one of {DIVERSITIES}, got {kind!r}")
    K = probs.shape[0]
    if K < 2:
        raise ValueError(f"diversity needs K >= 2 sub-networks, got K={K}")
    w = wrong_class_probs(probs, y)  # (K, B, C-1)
    if kind == "pearson":
        w = w - w.mean(dim=-1, keepdim=True)
    u = F.normalize(w, dim=-1, eps=1e-12)
    gram = torch.einsum("kbc,lbc->bkl", u, u)  # (B, K, K)
    i, j = torch.triu_indices(K, K, offset=1, device=probs.device)
    pairs = gram[:, i, j]  # (B, K(K-1)/2)
    if kind == "pearson":
        pairs = (pairs + 1.0) / 2.0
    return pairs.mean(dim=-1)


@torch.no_grad()
def mdl_mask(probs: Tensor, y: Tensor, eta: float) -> Tensor:
    """Mask xi of eq. 5, without gradient.

    With ``P_bar`` the mean of the K probability vectors, an input is kept (1) when
    ``-log(P_bar_y) <= T``, T the eta-th percentile (linear interpolation) of
    ``-log(P_bar_y)`` over the batch; eta = 100 keeps every input.

    Args:
        probs: (K, B, C) probabilities.
        y: (B,) labels.
        eta: Percentile in (0, 100].

    Returns:
        (B,) float mask of 0/1 in ``probs``' dtype.
    """
    B = probs.shape[1]
    if eta >= 100.0:
        return torch.ones(B, dtype=probs.dtype, device=probs.device)
    p_bar_y = probs.mean(dim=0).gather(1, y[:, None]).squeeze(1)
    nll = -torch.log(p_bar_y.clamp_min(torch.finfo(p_bar_y.dtype).tiny))
    threshold = torch.quantile(nll, eta / 100.0, interpolation="linear")
    return (nll <= threshold).to(probs.dtype)


TargetFn = Callable[[Tensor, Tensor], Tensor]


class MDLoss:
    """Mask-guided divergence loss, eq. 6 (section 4.1)::

        L = mean_b [ (1/K) sum_k CE(P^k_b, y_b)
                     + rho * xi_b * sum_{i<j} D(P^i_b, P^j_b) / (K(K-1)/2) ]

    with D the cosine (eq. 3) or Pearson (eq. 27-28) diversity of the wrong-class probability
    vectors and xi the eta-percentile mask (eq. 5).

    Args:
        K: Number of sub-networks (dropout samples), >= 2. Paper: 4.
        rho: Weight of the orthogonal term, >= 0. Paper: 1.
        eta: Mask percentile in (0, 100]. Paper: MNIST 100, FashionMNIST 90, CIFAR-10 100,
            CIFAR-100 70.
        diversity: "cosine" (MDL) or "pearson" (MDL-PCC).
        label_smoothing: Label smoothing of the CE term (Table 2's LS+MDL), in [0, 1).

    Call: ``loss(logits (K, B, C), y (B,), target=None)``; ``target`` (B, C), when given, is a
    soft target distribution for the CE term (online label smoothing); ``y`` still selects the
    wrong classes and the mask. Returns the scalar loss.
    """

    def __init__(
        self,
        K: int = 4,
        rho: float = 1.0,
        eta: float = 100.0,
        diversity: str = "cosine",
        label_smoothing: float = 0.0,
    ) -> None:
        if int(K) != K or K < 2:
            raise ValueError(f"K (number of sub-networks) must be an integer >= 2, got {K!r}")
        if not 0.0 < float(eta) <= 100.0:
            raise ValueError(f"eta (mask percentile) must be in (0, 100], got {eta!r}")
        if not float(rho) >= 0.0:
            raise ValueError(f"rho (orthogonal-term weight) must be >= 0, got {rho!r}")
        if diversity not in DIVERSITIES:
            raise ValueError(f"diversity must be one of {DIVERSITIES}, got {diversity!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.K = int(K)
        self.rho = float(rho)
        self.eta = float(eta)
        self.diversity = diversity
        self.label_smoothing = float(label_smoothing)

    def __repr__(self) -> str:
        return (
            f"MDLoss(K={self.K}, rho={self.rho}, eta={self.eta}, diversity={self.diversity!r}, "
            f"label_smoothing={self.label_smoothing})"
        )

    def _ce(self, logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        """(K, B, C) -> (B,) mean CE over the K sub-networks."""
        if target is None:
            K, B, C = logits.shape
            ce = cross_entropy(logits.reshape(K * B, C), y.repeat(K), "none", self.label_smoothing)
            return ce.view(K, B).mean(dim=0)
        if target.shape != logits.shape[1:]:
            raise ValueError(
                f"target must be a (B, C) distribution of shape {tuple(logits.shape[1:])}, "
                f"got {tuple(target.shape)}"
            )
        soft = target.float().unsqueeze(0).expand(logits.shape)
        return cross_entropy(logits, soft, "none").mean(dim=0)

    def terms(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> MDLTerms:
        """The per-example CE term, diversity and mask (see :class:`MDLTerms`)."""
        if logits.dim() != 3 or logits.shape[0] != self.K:
            raise ValueError(
                f"MDLoss(K={self.K}) expects stacked logits of shape (K={self.K}, B, C), "
                f"got {tuple(logits.shape)}; use MultiSampleDropoutHead(k={self.K})"
                f".forward_samples"
            )
        _check_logits(logits, y)
        probs = F.softmax(logits.float(), dim=-1)
        return MDLTerms(
            ce=self._ce(logits, y, target),
            diversity=pairwise_diversity(probs, y, self.diversity),
            mask=mdl_mask(probs.detach(), y, self.eta),
        )

    def per_example(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        """(B,) ``CE term + rho * mask * diversity``."""
        t = self.terms(logits, y, target)
        return t.ce + self.rho * t.mask * t.diversity

    def __call__(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return self.per_example(logits, y, target).mean()
