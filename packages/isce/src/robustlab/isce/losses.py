"""Inference-Softmax Cross Entropy (Song, Wang, He & Zhou, Mathematics 10(19):3716, 2022, sec. 3.2).

Notation: logits f (B, K) = the classifier's output (after the head's normalisation, see
:class:`robustlab.isce.heads.ISCEHead`), labels y (B,) in [0, K).

* Inference softmax, eqs. (2)-(3): for the chosen class i,
  ``P_I(i|x) = e^(s f_i + m) / (e^(s f_i + m) + sum_{j != i} e^(f_j))`` and for ``k != i``
  ``P_I(k|x) = e^(f_k) / (same denominator)``; i.e. softmax of the logits with only f_i replaced by
  ``s f_i + m``.
* I-SCE, eq. (4): ``-log P_I(y|x)`` with i = y (training). s >= 1 scales the true-class logit, m >= 0
  is the additive "inference information". s = 1, m = 0 gives plain softmax cross entropy.

The losses use ``torch.nn.functional.cross_entropy`` (core has no shared loss module yet).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.losses import cross_entropy
from robustlab.isce._checks import (
    check_logits_target,
    check_reduction,
    check_scalar,
    reduce,
)

__all__ = [
    "ISCELoss",
    "LabelSmoothingLoss",
    "SCELoss",
    "check_isce_params",
    "inference_logits",
    "isce_loss",
]


def check_isce_params(s: float, m: float) -> tuple[float, float]:
    """Validate I-SCE's hyper-parameters: s >= 1 and m >= 0 (paper, text under eq. 4).

    Raises:
        ConfigError: s < 1, m < 0, or a non-finite value (the message names the fix).
    """
    s = check_scalar(
        "s (I-SCE scale of the true-class logit; the paper uses s in [1, 2])", s, low=1.0
    )
    m = check_scalar("m (I-SCE inference margin; the paper uses m in (0, 0.1])", m, low=0.0)
    return s, m


def inference_logits(
    logits: Tensor, s: float = 1.0, m: float = 0.1, index: Tensor | None = None
) -> Tensor:
    """The logits whose softmax is the inference softmax P_I, eqs. (2)-(3).

    Only the chosen class changes: ``f'_i = s f_i + m``; every other logit is unchanged.

    Args:
        logits: f (B, K), any real values.
        s: Scale of the chosen class's logit (>= 1).
        m: Additive inference margin (>= 0).
        index: Chosen class per example (B,), the true label y during training. None: the arg-max
            class of ``logits`` (the paper's inference rule, last paragraph of sec. 3.2).

    Returns:
        (B, K) logits; ``softmax`` of them is P_I. The arg-max is unchanged when
        ``(s - 1) * max_k f_k + m >= 0`` (always for s = 1, m >= 0), not in general for s > 1 and a
        negative maximal logit.
    """
    s, m = check_isce_params(s, m)
    if index is None:
        index = logits.argmax(dim=1)
    chosen = F.one_hot(index, logits.shape[1]).to(logits.dtype)
    return logits + chosen * ((s - 1.0) * logits + m)


def isce_loss(
    logits: Tensor, target: Tensor, s: float = 1.0, m: float = 0.1, reduction: str = "mean"
) -> Tensor:
    """I-SCE, eq. (4): ``-log P_I(y|x)`` = cross entropy on logits with ``f_y -> s f_y + m``.

    Args:
        logits: f (B, K), finite floats.
        target: y (B,) integer labels in [0, K).
        s: >= 1. m: >= 0.
        reduction: "mean" over the batch (default), "sum", or "none" -> (B,).

    Returns:
        Scalar (mean/sum) or (B,) per-example loss, each value >= 0.

    Raises:
        ValueError: bad shapes, NaN/inf logits, labels out of range. ConfigError: bad s, m, reduction.
    """
    check_logits_target(logits, target)
    reduction = check_reduction(reduction)
    per_example = cross_entropy(inference_logits(logits, s, m, target), target, reduction="none")
    return reduce(per_example, reduction)


class ISCELoss(nn.Module):
    """Inference-softmax cross entropy, eq. (4), as a module: ``(logits (B, K), target (B,)) -> loss``.

    Args:
        s: Scale of the true-class logit, >= 1 (paper default 1, swept in [1, 2], sec. 4.1).
        m: Inference margin added to the true-class logit, >= 0 (paper default 0.1, swept in
            (0, 0.1]).
        reduction: "mean" (default), "sum" or "none".

    The paper L2-normalises f(x) before this loss (sec. 3.2); that is the head's job here
    (:class:`robustlab.isce.heads.ISCEHead`, ``normalize="features" | "logits" | "none"``).
    """

    def __init__(self, s: float = 1.0, m: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        self.s, self.m = check_isce_params(s, m)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Loss of logits (B, K) and labels (B,): scalar, or (B,) with ``reduction="none"``."""
        return isce_loss(logits, target, self.s, self.m, self.reduction)

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}, reduction={self.reduction!r}"


class SCELoss(nn.Module):
    """Softmax cross entropy, eq. (1) with the usual ``-log P(y|x)``: the paper's baseline.

    Identical to ``ISCELoss(s=1, m=0)``; kept separate so the baseline is named in configs.

    Args:
        reduction: "mean" (default), "sum" or "none".
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Logits (B, K), labels (B,) -> scalar (or (B,) for ``reduction="none"``), >= 0."""
        check_logits_target(logits, target)
        return reduce(cross_entropy(logits, target, reduction="none"), self.reduction)


class LabelSmoothingLoss(nn.Module):
    """Label smoothing (Szegedy et al. 2016; Mueller et al. 2019, the paper's ref. [33]).

    Cross entropy against ``q = (1 - eps) * onehot(y) + eps / K`` (true class ``1 - eps + eps/K``,
    every other ``eps/K``), i.e. ``(1 - eps) * CE + eps * mean_k(-log p_k)``. The I-SCE paper's sec. 3
    prose says "1 - eps and eps/K", which does not sum to one; we use the standard form (= torch's
    ``label_smoothing``).

    Args:
        eps: Smoothing in [0, 1); default 0.1.
        reduction: "mean" (default), "sum" or "none".
    """

    def __init__(self, eps: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        self.eps = check_scalar("eps (label smoothing)", eps, low=0.0)
        if self.eps >= 1.0:
            raise ValueError(f"eps (label smoothing) must be < 1, got {eps}")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Logits (B, K), labels (B,) -> scalar (or (B,)), >= 0."""
        check_logits_target(logits, target)
        # (1 - eps) onehot + eps / K is torch's label_smoothing target (core cross_entropy)
        per_example = cross_entropy(logits, target, reduction="none", label_smoothing=self.eps)
        return reduce(per_example, self.reduction)

    def extra_repr(self) -> str:
        return f"eps={self.eps}, reduction={self.reduction!r}"
