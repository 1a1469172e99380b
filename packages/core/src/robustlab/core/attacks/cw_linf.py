"""CW-Linf: PGD on the Carlini-Wagner margin loss (Carlini & Wagner, IEEE S&P 2017; the Linf
variant used by Madry et al. 2018 and the TRADES/MART evaluations).

Maximises ``max_{j != y} z_j - z_y`` (optionally capped at ``kappa``) with projected sign steps.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from robustlab.core.attacks.base import ATTACKS
from robustlab.core.attacks.iterative import IterativeAttack
from robustlab.core.attacks.losses import cw_margin_loss


class CWLinf(IterativeAttack):
    """PGD with the CW margin loss.

    Args:
        eps: Radius (>= 0); default 8/255.
        alpha: Step size (> 0); default 2/255.
        steps: Iterations (>= 1); default 20.
        kappa: Confidence cap of the margin (default inf: no cap).
        **kwargs: ``random_start`` (default True), ``norm``, ``targeted``, ``target``,
            ``early_stop``, ``seed``, ``autocast``, ``restarts``; ``loss`` may override the margin.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "cw-linf"
    kind = "iterative"

    def __init__(
        self,
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 20,
        kappa: float = float("inf"),
        **kwargs: Any,
    ) -> None:
        if "loss" not in kwargs:
            loss = partial(cw_margin_loss, kappa=kappa)
            loss.__name__ = "cw"  # type: ignore[attr-defined]
            kwargs["loss"] = loss
        super().__init__(eps, alpha, steps, **kwargs)
        self.kappa = kappa


@ATTACKS.register("cw-linf")
def _cw_linf(**kwargs: Any) -> CWLinf:
    return CWLinf(**kwargs)
