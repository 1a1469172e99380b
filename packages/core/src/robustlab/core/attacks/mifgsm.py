"""MI-FGSM / MIM (Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018).

``g_{t+1} = mu * g_t + grad / mean|grad|``, ``x_{t+1} = Proj(x_t + alpha * sign(g_{t+1}))`` (Linf).
The paper normalises by the L1 norm; the mean absolute value differs by a constant factor that the
sign removes (torchattacks uses the mean as well).
"""

from __future__ import annotations

from typing import Any

from robustlab.core.attacks.base import ATTACKS
from robustlab.core.attacks.iterative import IterativeAttack


class MIFGSM(IterativeAttack):
    """Momentum Iterative FGSM.

    Args:
        eps: Radius (>= 0); default 8/255.
        alpha: Step size (> 0); default 2/255.
        steps: Iterations (>= 1); default 10.
        decay: Momentum factor mu (>= 0); default 1.0.
        random_start: Default False, as in the paper.
        **kwargs: ``norm``, ``targeted``, ``target``, ``loss``, ``early_stop``, ``seed``,
            ``autocast``, ``restarts``.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "mifgsm"
    kind = "iterative"

    def __init__(
        self,
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 10,
        decay: float = 1.0,
        random_start: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(eps, alpha, steps, random_start, decay=decay, **kwargs)


@ATTACKS.register("mifgsm")
def _mifgsm(**kwargs: Any) -> MIFGSM:
    return MIFGSM(**kwargs)
