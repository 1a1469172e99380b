"""The D2R loss (Liu et al., "D2R: dual regularization loss with collaborative adversarial
generation for model robustness", section 3.2, eq. 2).

Notation: g = guide model (small, learnable, trained from scratch with the target), t = target
model, x = clean batch, x' = adversarial batch, z = logits (B, K), p = softmax(z),
KL(P || Q) = sum_k P_k (log P_k - log Q_k). Eq. 2::

    L = lam * CE(z_g(x), y)                                    guide classification
      + MSE(z_g(x), z_t(x'))                                   LBGAT's boundary term
      + alpha * KL(p_g(x) || p_t(x'))                          adversarial distribution (eq. 1)
      + beta * | KL(p_t(x) || p_g(x)) - KL(p_g(x) || p_t(x)) |   clean "symmetric" term

Nothing is detached: every term trains both models (the official code's single optimiser step).

Reductions (explicit, as in the official code, lusti-Yu/D2R ``D2R.py``): CE is the mean over the
batch; MSE is the element-wise mean over B x K; each KL is reduced by ``kl_reduction``:

* ``"elementwise_mean"`` (default, the official code): sum over batch and classes / (B * K);
* ``"batchmean"`` (the textbook per-example KL): sum / B.

So ``batchmean`` KL terms are exactly K times the ``elementwise_mean`` ones: with the default
reduction alpha = 30 weighs the KL like a batchmean alpha of 3 on 10 classes but 0.3 on 100
classes, which is how the paper's numbers (all produced by that code) weigh them. The absolute
value of the clean term is taken *after* the batch reduction (official code), so per-example gaps
of opposite sign cancel inside a batch.

The official code also adds 1e-5 inside ``log P`` of every KL; this module uses core's exact
``robustlab.core.losses.kl_div`` (from ``log_softmax``; a difference below 1e-4 per element).

``D2RLoss`` is registered in core's ``OBJECTIVES`` as ``"d2r/d2r"`` (options alpha, beta, lam,
kl_reduction); its call signature is core LBGAT's ``objective`` hook, ``(guide_clean, target_adv,
target_clean, y, **ctx) -> scalar`` (the ctx keywords are ignored).
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.losses import OBJECTIVES, as_float, cross_entropy, kl_div

__all__ = ["KL_REDUCTIONS", "D2RLoss", "D2RTerms"]

KLReduction = Literal["elementwise_mean", "batchmean"]
#: Valid ``kl_reduction`` values of :class:`D2RLoss`.
KL_REDUCTIONS: tuple[str, ...] = ("elementwise_mean", "batchmean")


class D2RTerms(NamedTuple):
    """The weighted total and the four unweighted terms of eq. 2 (all scalar tensors).

    ``total = lam * ce + mse + alpha * kl_adv + beta * kl_clean_gap``.
    """

    total: Tensor
    ce: Tensor  # CE(z_g(x), y), batch mean
    mse: Tensor  # MSE(z_g(x), z_t(x')), element-wise mean over B x K
    kl_adv: Tensor  # KL(p_g(x) || p_t(x')), reduced by kl_reduction
    kl_clean_gap: Tensor  # |KL(p_t(x) || p_g(x)) - KL(p_g(x) || p_t(x))|, abs after reduction


def _check_weight(name: str, value: float) -> float:
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError(
            f"D2RLoss: {name} must be a finite number >= 0, got {value!r} "
            "(the paper uses alpha=30, beta=20, lam=1 on CIFAR-10 and lam=0.1 on 100/200 classes)"
        )
    return float(value)


class D2RLoss(nn.Module):
    """Dual regularization loss, eq. 2 of the D2R paper (see the module docstring).

    Args:
        alpha: Weight of the adversarial-distribution KL ``KL(p_g(x) || p_t(x'))`` (>= 0; paper 30).
        beta: Weight of the clean gap ``|KL(p_t(x)||p_g(x)) - KL(p_g(x)||p_t(x))|`` (>= 0; paper 20).
        lam: Weight of the guide's cross-entropy (>= 0; paper 1 on CIFAR-10, 0.1 on CIFAR-100 and
            Tiny ImageNet).
        kl_reduction: "elementwise_mean" (default; official code, sum / (B*K)) or "batchmean"
            (sum / B, i.e. K times larger KL terms). CE and MSE do not depend on it.

    Call:
        ``loss(guide_clean_logits, target_adv_logits, target_clean_logits, target) -> scalar``
        with ``guide_clean_logits`` = z_g(x), ``target_adv_logits`` = z_t(x'),
        ``target_clean_logits`` = z_t(x), all (B, K) finite floats, and ``target`` the labels
        y, (B,) int64 in [0, K). The result is a scalar >= 0 with gradients to all three logit
        tensors (nothing detached).

    Raises:
        ConfigError: a negative/non-finite weight or an unknown ``kl_reduction`` (at construction).
        ValueError: wrong shapes or dtypes, NaN/inf logits, labels out of range (at call).
    """

    def __init__(
        self,
        alpha: float = 30.0,
        beta: float = 20.0,
        lam: float = 1.0,
        kl_reduction: KLReduction = "elementwise_mean",
    ) -> None:
        super().__init__()
        self.alpha = _check_weight("alpha", alpha)
        self.beta = _check_weight("beta", beta)
        self.lam = _check_weight("lam", lam)
        if kl_reduction not in KL_REDUCTIONS:
            raise ConfigError(
                f"D2RLoss: kl_reduction must be one of {KL_REDUCTIONS}, got {kl_reduction!r} "
                "('elementwise_mean' reproduces the official code)"
            )
        self.kl_reduction: KLReduction = kl_reduction

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, beta={self.beta}, lam={self.lam}, "
            f"kl_reduction={self.kl_reduction!r}"
        )

    def forward(
        self,
        guide_clean_logits: Tensor,
        target_adv_logits: Tensor,
        target_clean_logits: Tensor,
        target: Tensor,
        **ctx: Any,
    ) -> Tensor:
        """Eq. 2 as a scalar; see the class docstring for shapes. ``ctx`` (the keywords core's
        LBGAT passes to its objective: ``x``, ``x_adv``, ``index``, ``step``) is ignored."""
        return self.terms(guide_clean_logits, target_adv_logits, target_clean_logits, target).total

    def terms(
        self,
        guide_clean_logits: Tensor,
        target_adv_logits: Tensor,
        target_clean_logits: Tensor,
        target: Tensor,
    ) -> D2RTerms:
        """Eq. 2 and its four unweighted terms (for logging); same arguments as ``forward``."""
        self._check(guide_clean_logits, target_adv_logits, target_clean_logits, target)
        z_g = as_float(guide_clean_logits)
        z_adv = as_float(target_adv_logits)
        z_t = as_float(target_clean_logits)
        red = self.kl_reduction
        ce = cross_entropy(z_g, target, "mean")
        mse = F.mse_loss(z_g, z_adv)
        kl_adv = kl_div(z_g, z_adv, red)
        gap = (kl_div(z_t, z_g, red) - kl_div(z_g, z_t, red)).abs()
        total = self.lam * ce + mse + self.alpha * kl_adv + self.beta * gap
        return D2RTerms(total, ce, mse, kl_adv, gap)

    @staticmethod
    def _check(z_g: Tensor, z_adv: Tensor, z_t: Tensor, y: Tensor) -> None:
        named = {
            "guide_clean_logits": z_g,
            "target_adv_logits": z_adv,
            "target_clean_logits": z_t,
        }
        for name, z in named.items():
            if not isinstance(z, Tensor) or not z.is_floating_point() or z.dim() != 2:
                shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
                raise ValueError(f"D2RLoss: {name} must be a float tensor (B, K), got {shape}")
        if not (z_g.shape == z_adv.shape == z_t.shape):
            raise ValueError(
                "D2RLoss: guide and target logits must have the same shape (B, K) (same batch, "
                f"same classes), got guide {tuple(z_g.shape)}, target adv {tuple(z_adv.shape)}, "
                f"target clean {tuple(z_t.shape)}"
            )
        b, k = z_g.shape
        if b == 0 or k < 2:
            raise ValueError(f"D2RLoss: need B >= 1 examples and K >= 2 classes, got {(b, k)}")
        for name, z in named.items():
            if not bool(torch.isfinite(z).all()):
                raise ValueError(
                    f"D2RLoss: {name} contains NaN or inf; check the model outputs (diverged "
                    "training, or a learning rate that is too high)"
                )
        if (
            not isinstance(y, Tensor)
            or y.dim() != 1
            or y.is_floating_point()
            or y.is_complex()
            or y.dtype == torch.bool
        ):
            shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"D2RLoss: target must be integer labels of shape (B,), got {shape}")
        if y.shape[0] != b:
            raise ValueError(f"D2RLoss: target has {y.shape[0]} labels but the logits have B={b}")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= k:
            raise ValueError(
                f"D2RLoss: labels must lie in [0, {k - 1}] for K={k} classes, got [{lo}, {hi}]"
            )


OBJECTIVES.register("d2r/d2r", D2RLoss)
