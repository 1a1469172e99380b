"""PGD (Linf and L2) and BIM.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018 (PGD:
random start in the eps-ball, then projected steps). Kurakin, Goodfellow & Bengio, "Adversarial
examples in the physical world", ICLR-W 2017 (BIM / I-FGSM: the same iteration without random
start).
The iteration itself lives in ``iterative.IterativeAttack``.
"""

from __future__ import annotations

from typing import Any

from robustlab.core.attacks.base import ATTACKS
from robustlab.core.attacks.iterative import IterativeAttack


class PGD(IterativeAttack):
    """Projected Gradient Descent, Linf (sign steps) or L2 (normalised-gradient steps).

    Args:
        eps: Radius (>= 0); default 8/255.
        alpha: Step size (> 0); default 2/255.
        steps: Iterations (>= 1); default 10.
        random_start: Uniform random start in the ball (default True).
        restarts: Random restarts keeping the worst case per example (default 1).
        **kwargs: ``norm`` ("Linf"|"L2"), ``targeted``, ``target`` ("random"|"least-likely"),
            ``loss``, ``early_stop``, ``seed``, ``autocast``, ``init``, ``init_std``.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) int64 -> x_adv (B, C, H, W) with
    ``||x_adv - x||_norm <= eps`` and values in [0, 1].
    """

    name = "pgd"
    kind = "iterative"


class BIM(IterativeAttack):
    """Basic Iterative Method (I-FGSM): PGD-Linf without random start.

    Args:
        eps: Radius (>= 0); default 8/255.
        alpha: Step size (> 0); default 1/255.
        steps: Iterations (>= 1); default ``round(min(255 eps + 4, 1.25 * 255 eps))`` (Kurakin et
            al.'s rule), at least 1.
        **kwargs: see ``PGD``.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "bim"
    kind = "iterative"

    def __init__(
        self, eps: float = 8 / 255, alpha: float = 1 / 255, steps: int | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("random_start", False)
        if steps is None:
            steps = max(int(min(eps * 255 + 4, 1.25 * eps * 255)), 1) if eps >= 0 else 1
        super().__init__(eps, alpha, steps, **kwargs)


@ATTACKS.register("pgd")
def _pgd(**kwargs: Any) -> PGD:
    return PGD(**kwargs)


@ATTACKS.register("pgd-l2")
def _pgd_l2(**kwargs: Any) -> PGD:
    kwargs.setdefault("norm", "L2")
    kwargs.setdefault("eps", 1.0)
    kwargs.setdefault("alpha", 0.2)
    return PGD(**kwargs)


@ATTACKS.register("bim")
def _bim(**kwargs: Any) -> BIM:
    return BIM(**kwargs)
