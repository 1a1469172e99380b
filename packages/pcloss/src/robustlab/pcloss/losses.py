"""The Probabilistically Compact (PC) loss with logit constraints, and the GCE baseline.

Paper: Xin Li, Xiangrui Li, Deng Pan, Dongxiao Zhu, "Improving Adversarial Robustness via
Probabilistically Compact Loss with Logit Constraints", AAAI 2021.

Notation (paper, eq. 1): logits ``z = a(x)`` of shape (B, K), probabilities ``p = softmax(z)``
over all K classes, true class ``y``. Every function here takes raw logits and integer targets.

- :func:`pc_loss` is eq. 6: the hinge ``[p_j + xi - p_y]_+`` summed over the wrong classes
  ``j != y`` and averaged over the batch. ``reduction="mean"`` additionally divides by K-1, as the
  authors' released code does (the published numbers come from that code); ``reduction="sum"`` is
  the literal sum of eq. 6.
- :func:`logit_constraint_loss` is the penalty of eqs. 15-16 on ``d_yj = [z_y - z_j]_+``.
  ``constraint="hard"`` uses the most probable wrong class j (the paper's wording);
  ``constraint="soft"`` (default, the released code) weights every wrong class by
  ``w = softmax`` of the wrong-class logits (true class masked out, not detached). The constant
  C' of eq. 16 does not depend on the parameters and is dropped.
- :class:`PCLoss` is the training objective ``L_PC + lam * L_LC`` (eq. 16), xi = 0.995, lam = 0.05.
- :class:`GCELoss` is Guided Complement Entropy (Chen et al., ICCV 2019), the paper's comparator.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.losses import Objective, cross_entropy

__all__ = [
    "GCE_ALPHA",
    "GCELoss",
    "GCEObjective",
    "PCLoss",
    "PCObjective",
    "check_logits_target",
    "gce_loss",
    "gce_per_example",
    "logit_constraint_loss",
    "logit_constraint_per_example",
    "pc_loss",
    "pc_per_example",
    "pc_true_logit_grad",
]

Reduction = Literal["mean", "sum"]

GCE_ALPHA = 1.0 / 3.0
"""GCE's guiding exponent alpha = 1/3: the GCE reference code (henry8527/GCE, ``main.py`` and
``LinfPGDAttack.py``: ``--alpha`` default 0.333) and Chen et al.'s setting for their LeNet-5 /
ResNet-56 results, which the PC paper's Table 2 quotes."""
Constraint = Literal["soft", "hard"]


def check_logits_target(logits: Tensor, target: Tensor) -> int:
    """Validate a (logits, target) pair and return the number of classes K.

    Args:
        logits: Floating tensor (B, K) with K >= 2.
        target: Integer tensor (B,) with values in [0, K).

    Returns:
        K, the number of classes.

    Raises:
        ValueError: naming the bad argument, what was expected and how to fix it.
    """
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a 2-D tensor (B, K); got {shape}. Flatten extra dims.")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be floating point; got dtype {logits.dtype}")
    B, K = logits.shape
    if K < 2:
        raise ValueError(f"logits need at least 2 classes (K >= 2); got K={K}")
    if not isinstance(target, Tensor) or target.dim() != 1 or target.shape[0] != B:
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"target must be a 1-D tensor of B={B} class indices; got {shape}")
    if target.is_floating_point() or target.dtype == torch.bool or target.is_complex():
        raise ValueError(f"target must hold integer class indices; got dtype {target.dtype}")
    if B > 0:
        lo, hi = torch.aminmax(target)
        if int(lo) < 0 or int(hi) >= K:
            raise ValueError(
                f"target values must lie in [0, {K - 1}] for K={K} classes; got min={int(lo)}, "
                f"max={int(hi)}. Check the label encoding or the model's num_classes."
            )
    return K


def _check_xi(xi: float) -> None:
    if not (isinstance(xi, (int, float)) and math.isfinite(xi) and xi > 0):
        raise ValueError(f"xi (probability margin, eq. 6) must be a finite number > 0; got {xi!r}")


def _check_lam(lam: float) -> None:
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
        raise ValueError(
            f"lam (logit-constraint weight, eq. 16) must be finite and >= 0; got {lam!r}"
        )


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def _as_float(logits: Tensor) -> Tensor:
    """Losses are computed in at least fp32 (bf16/fp16 logits are upcast; fp64 is kept)."""
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def _wrong_mask(target: Tensor, K: int) -> Tensor:
    """Boolean (B, K) mask, True on the wrong classes j != y."""
    return F.one_hot(target, K).logical_not()


def pc_loss(
    logits: Tensor, target: Tensor, xi: float = 0.995, reduction: Reduction = "mean"
) -> Tensor:
    """Probabilistically Compact loss, paper eq. 6.

    ``L_PC = 1/B * sum_i sum_{j != y_i} max(0, p_ij + xi - p_iy)`` for ``reduction="sum"``;
    ``reduction="mean"`` divides that by K-1 (the authors' code, which produced the tables).

    Args:
        logits: Raw logits (B, K), any float dtype/device; softmax is taken over all K classes.
        target: True classes (B,), integers in [0, K).
        xi: Probability margin xi > 0 (paper: 0.995; the released code's default 0.8).
        reduction: "mean" (over wrong classes, then batch) or "sum" (over wrong classes, batch mean).

    Returns:
        Scalar tensor >= 0; 0 when every example has ``p_y - p_j >= xi`` for all wrong j.
    """
    return _batch_mean(pc_per_example(logits, target, xi, reduction))


def _batch_mean(per_example: Tensor) -> Tensor:
    return per_example.mean() if per_example.numel() else per_example.sum()


def pc_per_example(
    logits: Tensor, target: Tensor, xi: float = 0.995, reduction: Reduction = "mean"
) -> Tensor:
    """Per-example PC hinge (B,) of eq. 6 (divided by K-1 for ``reduction="mean"``)."""
    _check_xi(xi)
    _check_choice("reduction", reduction, ("mean", "sum"))
    K = check_logits_target(logits, target)
    p = _as_float(logits).softmax(dim=1)
    p_y = p.gather(1, target[:, None])
    hinge = (p + xi - p_y).clamp_min(0) * _wrong_mask(target, K)
    per_example = hinge.sum(dim=1)
    if reduction == "mean":
        per_example = per_example / (K - 1)
    return per_example


def pc_true_logit_grad(logits: Tensor, target: Tensor, xi: float = 0.995) -> Tensor:
    """Analytic gradient of the summed PC hinge w.r.t. the true logit, from paper eq. 7.

    For one active pair (j, y), eq. 7 gives ``d(p_j + xi - p_y)/dz_y = -p_y (1 - p_y + p_j)``.
    Summing over the wrong classes whose margin is violated (``p_j + xi - p_y > 0``) gives the
    gradient of ``sum_{j != y} [p_j + xi - p_y]_+`` for one example.

    Args:
        logits: Raw logits (B, K).
        target: True classes (B,).
        xi: Probability margin.

    Returns:
        Tensor (B,): per-example derivative w.r.t. ``z_y`` (divide by B, and by K-1 for
        ``reduction="mean"``, to get the gradient of :func:`pc_loss`).
    """
    _check_xi(xi)
    K = check_logits_target(logits, target)
    p = _as_float(logits.detach()).softmax(dim=1)
    p_y = p.gather(1, target[:, None])
    active = ((p + xi - p_y) > 0) & _wrong_mask(target, K)
    per_pair = -p_y * (1 - p_y + p)
    return (per_pair * active).sum(dim=1)


def logit_constraint_loss(
    logits: Tensor, target: Tensor, constraint: Constraint = "soft"
) -> Tensor:
    """Logit constraint of paper eqs. 15-16 (without the constant C').

    ``d_yj = max(0, z_y - z_j)``, the gap between the true logit and a wrong-class logit:

    - ``"hard"``: j = the most probable wrong class, ``L = 1/B sum_i [z_y - max_{j != y} z_j]_+``.
    - ``"soft"``: ``L = 1/B sum_i sum_{j != y} w_ij [z_y - z_ij]_+`` with
      ``w_i = softmax(z_i)`` restricted to the wrong classes (the true class masked out), not
      detached, so the weights are also differentiated, as in the released code.

    Args:
        logits: Raw logits (B, K).
        target: True classes (B,).
        constraint: "soft" (default) or "hard".

    Returns:
        Scalar tensor >= 0; 0 when no example's true logit exceeds the wrong-class logits.
    """
    return _batch_mean(logit_constraint_per_example(logits, target, constraint))


def logit_constraint_per_example(
    logits: Tensor, target: Tensor, constraint: Constraint = "soft"
) -> Tensor:
    """Per-example logit constraint (B,) of eqs. 15-16 (see :func:`logit_constraint_loss`)."""
    _check_choice("constraint", constraint, ("soft", "hard"))
    K = check_logits_target(logits, target)
    z = _as_float(logits)
    wrong = _wrong_mask(target, K)
    z_y = z.gather(1, target[:, None])
    z_wrong = z.masked_fill(~wrong, float("-inf"))
    if constraint == "hard":
        return (z_y.squeeze(1) - z_wrong.amax(dim=1)).clamp_min(0)
    w = z_wrong.softmax(dim=1)
    gaps = (z_y - z).clamp_min(0) * wrong
    return (w * gaps).sum(dim=1)


def gce_loss(logits: Tensor, target: Tensor, alpha: float = GCE_ALPHA) -> Tensor:
    """Guided Complement Entropy (Chen et al., "Improving Adversarial Robustness via Guided
    Complement Entropy", ICCV 2019), as in the authors' released code.

    With ``q_j = p_j / (1 - p_y)`` the wrong-class probabilities renormalised to sum to 1,
    ``GCE = 1/(B log K) * sum_i p_iy^alpha * sum_{j != y} q_ij log q_ij``.

    The inner sum is the negative complement entropy (minimising it flattens the wrong classes);
    the guiding factor ``p_y^alpha`` weights confident examples more. The normaliser ``log K``
    is the one of the authors' released code (github.com/henry8527/GCE).
    ``log q_j`` is computed as a log-softmax over the wrong-class logits, which is exact and needs
    none of the code's 1e-7 / 1e-10 guards. Range: ``[-log(K-1)/log K, 0]``.

    Args:
        logits: Raw logits (B, K).
        target: True classes (B,).
        alpha: Guiding exponent >= 0 (0 gives plain complement entropy).

    Returns:
        Scalar tensor <= 0.
    """
    return _batch_mean(gce_per_example(logits, target, alpha))


def gce_per_example(logits: Tensor, target: Tensor, alpha: float = GCE_ALPHA) -> Tensor:
    """Per-example GCE (B,) (see :func:`gce_loss`)."""
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha (GCE guiding exponent) must be finite and >= 0; got {alpha!r}")
    K = check_logits_target(logits, target)
    z = _as_float(logits)
    wrong = _wrong_mask(target, K)
    log_p_y = -cross_entropy(z, target, "none")
    # complement entropy: a softmax over the wrong classes only (true class masked to -inf)
    log_q = z.masked_fill(~wrong, float("-inf")).log_softmax(dim=1)
    q = log_q.exp()
    neg_entropy = (q * log_q.masked_fill(~wrong, 0.0)).sum(dim=1)
    return (alpha * log_p_y).exp() * neg_entropy / math.log(K)


class PCLoss(nn.Module):
    """PC loss with logit constraints, ``L = L_PC + lam * L_LC`` (paper eq. 16).

    Args:
        xi: Probability margin of eq. 6, > 0 (paper 0.995).
        lam: Weight lambda of the logit constraint, >= 0 (paper 0.05); 0 gives the bare PC loss.
        reduction: PC-term reduction, "mean" (divide by K-1, released code) or "sum" (eq. 6).
        constraint: Logit constraint, "soft" (released code) or "hard" (most probable wrong class).

    Shape:
        forward(logits (B, K), target (B,)) -> scalar. K is taken from the logits.
    """

    def __init__(
        self,
        xi: float = 0.995,
        lam: float = 0.05,
        reduction: Reduction = "mean",
        constraint: Constraint = "soft",
    ) -> None:
        super().__init__()
        _check_xi(xi)
        _check_lam(lam)
        _check_choice("reduction", reduction, ("mean", "sum"))
        _check_choice("constraint", constraint, ("soft", "hard"))
        self.xi = float(xi)
        self.lam = float(lam)
        self.reduction: Reduction = reduction
        self.constraint: Constraint = constraint

    def terms(self, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """The two terms ``(L_PC, L_LC)`` separately (L_LC unweighted)."""
        pc = pc_loss(logits, target, self.xi, self.reduction)
        lc = logit_constraint_loss(logits, target, self.constraint)
        return pc, lc

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Total loss (scalar) for logits (B, K) and targets (B,)."""
        pc = pc_loss(logits, target, self.xi, self.reduction)
        if self.lam == 0:
            return pc
        return pc + self.lam * logit_constraint_loss(logits, target, self.constraint)

    def extra_repr(self) -> str:
        return (
            f"xi={self.xi}, lam={self.lam}, reduction={self.reduction!r}, "
            f"constraint={self.constraint!r}"
        )


class GCELoss(nn.Module):
    """Guided Complement Entropy as a module; see :func:`gce_loss`.

    Args:
        alpha: Guiding exponent >= 0 (default 1/3, :data:`GCE_ALPHA`).
    """

    def __init__(self, alpha: float = GCE_ALPHA) -> None:
        super().__init__()
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha (GCE guiding exponent) must be finite and >= 0; got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Scalar GCE for logits (B, K) and targets (B,)."""
        return gce_loss(logits, target, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class PCObjective(Objective):
    """:class:`PCLoss` as a core training objective: per example ``PC_i + lam LC_i``; the batch
    mean is the PCLoss value exactly. Logs the two terms (``pc``, ``lc``) of the last batch.

    Args: those of :class:`PCLoss`.
    """

    name = "pcloss/pc"

    def __init__(self, **options: object) -> None:
        self.criterion = PCLoss(**options)  # type: ignore[arg-type]
        self._metrics: dict[str, float] = {}

    def __call__(self, logits: Tensor, y: Tensor, **ctx: object) -> Tensor:
        c = self.criterion
        pc = pc_per_example(logits, y, c.xi, c.reduction)
        return pc + c.lam * logit_constraint_per_example(logits, y, c.constraint)

    def loss(self, logits: Tensor, y: Tensor, reduction: str = "mean", **ctx: object) -> Tensor:
        with torch.no_grad():
            pc, lc = self.criterion.terms(logits, y)
        self._metrics = {"pc": float(pc), "lc": float(lc)}
        if reduction in ("mean", "batchmean"):
            return self.criterion(logits, y)
        return super().loss(logits, y, reduction, **ctx)

    def metrics(self) -> dict[str, float]:
        return dict(self._metrics)

    def __repr__(self) -> str:
        return f"PCObjective({self.criterion.extra_repr()})"


class GCEObjective(Objective):
    """:class:`GCELoss` as a core training objective (per-example GCE; option ``alpha``)."""

    name = "pcloss/gce"

    def __init__(self, alpha: float = GCE_ALPHA) -> None:
        self.criterion = GCELoss(alpha)

    def __call__(self, logits: Tensor, y: Tensor, **ctx: object) -> Tensor:
        return gce_per_example(logits, y, self.criterion.alpha)

    def __repr__(self) -> str:
        return f"GCEObjective(alpha={self.criterion.alpha})"
