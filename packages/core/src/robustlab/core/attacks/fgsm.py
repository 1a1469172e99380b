"""FGSM and FGSM with random start (Fast-AT).

Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015:
``x_adv = clip_[0,1](x + eps * sign(grad_x L(f(x), y)))`` (Linf).
Wong, Rice & Kolter, "Fast is better than free", ICLR 2020 (FGSM-RS): start from
``x + U(-eps, eps)`` and take one step of size ``alpha = 1.25 eps``, then project.
"""

from __future__ import annotations

from typing import Any

from robustlab.core.attacks.base import ATTACKS
from robustlab.core.attacks.iterative import IterativeAttack


class FGSM(IterativeAttack):
    """Fast Gradient Sign Method (Linf, or a normalised-gradient step for L2); one step.

    Args:
        eps: Radius (>= 0). Default 8/255.
        alpha: Step size; default ``eps`` (plain FGSM). FGSM-RS uses ``1.25 * eps``.
        random_start: Start from a uniform random point of the ball (FGSM-RS).
        **kwargs: ``norm``, ``targeted``, ``target``, ``loss``, ``seed``, ``autocast`` (``Attack``).

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W) in [0, 1].
    """

    name = "fgsm"
    kind = "single-step"

    def __init__(
        self,
        eps: float = 8 / 255,
        alpha: float | None = None,
        random_start: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("steps", None)
        if alpha is None:  # eps == 0: any step is projected away, use 1.0
            alpha = (1.25 if random_start else 1.0) * eps or 1.0
        super().__init__(eps, alpha, 1, random_start, **kwargs)


@ATTACKS.register("fgsm")
def _fgsm(**kwargs: Any) -> FGSM:
    return FGSM(**kwargs)


@ATTACKS.register("fgsm-rs")
def _fgsm_rs(**kwargs: Any) -> FGSM:
    kwargs.setdefault("random_start", True)
    return FGSM(**kwargs)
