"""LTD losses (Chen & Lee, "LTD: Low Temperature Distillation for Gradient Masking-free
Adversarial Training", arXiv:2111.02331).

* :func:`soft_labels` -- the teacher's soft label ``q = softmax(z_teacher(x) / tau)`` (eq. 4).
* :func:`soft_label_cross_entropy` -- the soft-label term of eq. 28,
  ``-sum_k q_k log softmax(z_student(x))_k`` (eq. 10 with ``y`` replaced by ``q``, eq. 14).
* :func:`soft_cross_entropy` -- the same term against given target probabilities (cached labels).
* :func:`trades_kl` -- TRADES' ``KL(p_student(x) || p_student(x'))`` (eq. 26), student temperature 1.
* :class:`LTDLoss` -- eq. 28: ``soft_label_cross_entropy + lam * trades_kl``.

Decisions (spec ``ltd.md`` and the package README):

* The student temperature is fixed at 1 in both terms and at inference (section 4.2); only the
  teacher is divided by ``tau``. There is no ``tau**2`` factor (that is eq. 5's Hinton scaling,
  which eq. 28 does not use).
* The teacher logits are detached inside the losses: no gradient ever reaches the teacher.
* The KL clean side ``p_student(x)`` is *not* detached (TRADES): both the clean and the
  adversarial student logits receive gradient from the KL term.
* KL is summed over classes and averaged over the batch ("batchmean"); the soft-label term is
  averaged over the batch. ``reduction="none"`` gives per-example (B,) values of both.
* Everything is computed in float32 (logits from bf16/fp16 autocast are upcast).
* ``tau = inf`` is allowed and is the limit ``tau -> infinity``: uniform targets.

The cross-entropy and KL are core's (``robustlab.core.losses.cross_entropy`` / ``kl_div``); this
module adds the temperature, the checks and the eq. 28 combination.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.losses import cross_entropy as core_cross_entropy
from robustlab.core.losses import kl_div

__all__ = [
    "REDUCTIONS",
    "LTDLoss",
    "LTDTerms",
    "check_lam",
    "check_logits",
    "check_tau",
    "soft_cross_entropy",
    "soft_label_cross_entropy",
    "soft_labels",
    "trades_kl",
]

REDUCTIONS = ("mean", "sum", "none")


def check_tau(tau: float) -> float:
    """Validate the teacher temperature tau (eq. 4): a number > 0; ``inf`` means uniform targets.

    Raises:
        ConfigError: naming tau, its allowed range and the fix.
    """
    t = float(tau)
    if math.isnan(t) or t <= 0.0:
        raise ConfigError(
            f"tau (teacher temperature) must be > 0, got {tau!r}; the paper searches tau in "
            f"[1, tau_max] (best 5.0 on CIFAR-10), tau = 1 is plain distillation"
        )
    return t


def check_lam(lam: float) -> float:
    """Validate the KL weight lambda of eq. 28: a finite number >= 0 (0 = soft-label term only).

    Raises:
        ConfigError: naming lam, its allowed range and the fix.
    """
    v = float(lam)
    if not (v >= 0.0 and math.isfinite(v)):
        raise ConfigError(
            f"lam (KL weight of eq. 28) must be a finite number >= 0, got {lam!r}; the paper "
            f"uses 6.0, and 0 trains on the soft labels alone (step 1 of the temperature search)"
        )
    return v


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_logits(logits: Tensor, name: str = "logits", *, finite: bool = True) -> None:
    """Check a logits tensor: floating point, shape (B, C) with B >= 1 and C >= 2, and finite.

    Args:
        logits: The tensor to check.
        name: Its name in the error message.
        finite: Also reject NaN / inf entries (one device synchronisation).

    Raises:
        ValueError: naming the tensor, the shape or value found and what is expected.
    """
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, C), got {type(logits)}")
    if logits.dim() != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (B, C) with B >= 1 and C >= 2 classes, "
            f"got {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise ValueError(f"{name} must be floating point logits, got dtype {logits.dtype}")
    if finite and not bool(torch.isfinite(logits).all()):
        raise ValueError(
            f"{name} contains NaN or inf; the model diverged or its input is corrupt (check "
            f"the learning rate and the data range [0, 1])"
        )


def _check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape "
            f"(B, C): the same examples and the same classes, in the same order"
        )


def _reduce(per_example: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example


def soft_labels(teacher_logits: Tensor, tau: float = 5.0) -> Tensor:
    """Teacher soft labels at temperature tau, eq. 4: ``q = softmax(z_teacher / tau)``.

    Args:
        teacher_logits: (B, C) teacher logits on the clean input x; detached here.
        tau: Temperature > 0 (``inf``: uniform targets).

    Returns:
        (B, C) float32 probabilities in [0, 1], rows summing to 1, without gradient.
    """
    t = check_tau(tau)
    z = teacher_logits.detach().float()
    if math.isinf(t):
        return torch.full_like(z, 1.0 / z.shape[-1])
    return F.softmax(z / t, dim=-1)


def soft_cross_entropy(
    student_logits: Tensor, target_probs: Tensor, reduction: str = "mean", *, validate: bool = True
) -> Tensor:
    """Cross-entropy against given target probabilities (eq. 10 / 14 with soft ``y``).

    ``-sum_k target_k * log softmax(student_logits)_k`` per example. The target is detached.

    Args:
        student_logits: (B, C) student logits on the clean input x (temperature 1).
        target_probs: (B, C) target probabilities, entries >= 0, rows summing to 1.
        reduction: "mean" (over the batch), "sum", or "none" (per-example (B,)).
        validate: Check shapes, finiteness and that the target is a distribution.

    Returns:
        Scalar (mean/sum) or (B,) tensor, >= 0.
    """
    _check_reduction(reduction)
    if validate:
        check_logits(student_logits, "student_logits")
        _check_same_shape(student_logits, target_probs, "student_logits", "target_probs")
        q = target_probs.detach()
        if not bool(torch.isfinite(q).all()) or bool((q < 0).any()):
            raise ValueError(
                "target_probs must be finite and >= 0 (a probability distribution per row); "
                "pass teacher logits to soft_label_cross_entropy instead of raw scores"
            )
        if not torch.allclose(
            q.float().sum(-1), torch.ones(q.shape[0], device=q.device), atol=1e-4
        ):
            raise ValueError(
                "target_probs rows must sum to 1 (apply softmax to the teacher logits)"
            )
    per_example = core_cross_entropy(
        student_logits.float(), target_probs.detach().float(), reduction="none"
    )
    return _reduce(per_example, reduction)


def soft_label_cross_entropy(
    student_logits: Tensor,
    teacher_logits: Tensor,
    tau: float = 5.0,
    reduction: str = "mean",
    *,
    validate: bool = True,
) -> Tensor:
    """The soft-label term of eq. 28: ``L(Z(x; theta), p^t(T = tau))``.

    ``-sum_k q_k log softmax(z_s)_k`` with ``q = softmax(z_t / tau)``; tau = 1 with a one-hot
    teacher is plain CE, tau -> inf gives uniform targets. The gradient with respect to the
    student logits is ``softmax(z_s) - q`` per example (divided by B for "mean").

    Args:
        student_logits: (B, C) student logits on the clean input x (temperature 1).
        teacher_logits: (B, C) teacher logits on the same x; detached (no gradient to the teacher).
        tau: Teacher temperature > 0.
        reduction: "mean" (over the batch), "sum", or "none" (per-example (B,)).
        validate: Check shapes and finiteness of both inputs.

    Returns:
        Scalar (mean/sum) or (B,) tensor, >= 0.
    """
    _check_reduction(reduction)
    if validate:
        check_logits(student_logits, "student_logits")
        check_logits(teacher_logits, "teacher_logits")
        _check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    q = soft_labels(teacher_logits, tau)
    return soft_cross_entropy(student_logits, q, reduction, validate=False)


def trades_kl(
    clean_logits: Tensor, adv_logits: Tensor, reduction: str = "mean", *, validate: bool = True
) -> Tensor:
    """TRADES' boundary term, eq. 26: ``KL(p(x) || p(x')) = sum_k p_k (log p_k - log p'_k)``.

    Summed over classes; "mean" divides the batch sum by B (PyTorch's "batchmean"). Neither side
    is detached, so both the clean and the adversarial logits receive gradient; with respect to
    the adversarial logits it is ``p' - p`` per example (eq. 29 up to lambda).

    Args:
        clean_logits: (B, C) student logits on x (temperature 1).
        adv_logits: (B, C) student logits on x' (temperature 1).
        reduction: "mean" (batchmean), "sum", or "none" (per-example (B,)).
        validate: Check shapes and finiteness.

    Returns:
        Scalar (mean/sum) or (B,) tensor, >= 0 (up to rounding).
    """
    _check_reduction(reduction)
    if validate:
        check_logits(clean_logits, "student_clean_logits")
        check_logits(adv_logits, "student_adv_logits")
        _check_same_shape(clean_logits, adv_logits, "student_clean_logits", "student_adv_logits")
    per_example = kl_div(clean_logits, adv_logits, reduction="none")
    return _reduce(per_example, reduction)


class LTDTerms(NamedTuple):
    """The parts of eq. 28: ``total = soft_ce + lam * kl`` (each reduced as the loss was)."""

    total: Tensor
    soft_ce: Tensor
    kl: Tensor


class LTDLoss(nn.Module):
    """The LTD student loss, eq. 28: ``CE(z_s(x), softmax(z_t(x)/tau)) + lam * KL(p_s(x) || p_s(x'))``.

    Args:
        tau: Teacher temperature > 0 (paper: 5.0 on CIFAR-10; Table 6).
        lam: KL weight >= 0 (paper: 6.0, TRADES' beta). With ``lam = 0`` the adversarial logits
            may be ``None`` (the natural-only student of the temperature search, step 1).
        reduction: "mean" (soft CE batch mean + lam * KL batchmean), "sum", or "none" (B,).
        validate: Check shapes / NaN on every call (one device sync; off for benchmarking).

    Call:
        ``loss(student_clean_logits (B, C), student_adv_logits (B, C) | None,
        teacher_clean_logits (B, C)) -> scalar`` (or (B,) for "none"). Gradient flows to both
        student inputs, never to the teacher logits.
    """

    def __init__(
        self, tau: float = 5.0, lam: float = 6.0, reduction: str = "mean", *, validate: bool = True
    ) -> None:
        super().__init__()
        self.tau = check_tau(tau)
        self.lam = check_lam(lam)
        self.reduction = _check_reduction(reduction)
        self.validate = bool(validate)

    def terms(
        self,
        student_clean_logits: Tensor,
        student_adv_logits: Tensor | None,
        teacher_clean_logits: Tensor,
    ) -> LTDTerms:
        """Eq. 28 and its two terms (tensors with gradient; ``kl`` is 0 when lam = 0 and no x')."""
        soft_ce = soft_label_cross_entropy(
            student_clean_logits,
            teacher_clean_logits,
            self.tau,
            self.reduction,
            validate=self.validate,
        )
        if student_adv_logits is None:
            if self.lam != 0.0:
                raise ValueError(
                    f"student_adv_logits is None but lam = {self.lam}; pass the student's logits "
                    f"on x' or build LTDLoss(lam=0) for the natural-only student"
                )
            kl = torch.zeros_like(soft_ce)
        else:
            kl = trades_kl(
                student_clean_logits, student_adv_logits, self.reduction, validate=self.validate
            )
        return LTDTerms(soft_ce + self.lam * kl, soft_ce, kl)

    def forward(
        self,
        student_clean_logits: Tensor,
        student_adv_logits: Tensor | None,
        teacher_clean_logits: Tensor,
    ) -> Tensor:
        return self.terms(student_clean_logits, student_adv_logits, teacher_clean_logits).total

    def extra_repr(self) -> str:
        return f"tau={self.tau}, lam={self.lam}, reduction={self.reduction!r}"
