"""Square Attack (Andriushchenko et al., "Square Attack: a query-efficient black-box adversarial
attack via random search", ECCV 2020), Linf and L2.

A thin wrapper around the official implementation carried by the PyPI package ``pyautoattack``
(``pyautoattack.square.SquareAttack``) — never a re-implementation — so that numbers match
AutoAttack/RobustBench. Its printing is redirected into logging and torch's global RNG is restored.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from robustlab.core.attacks._official import quiet_official_code
from robustlab.core.attacks.base import ATTACKS, Attack, _check_number, check_positive_int

SQUARE_LOSSES = ("margin", "ce")


class Square(Attack):
    """Official Square Attack (score-based random search).

    Args:
        eps: Radius (>= 0); default 8/255.
        n_queries: Query budget per restart (>= 1); default 5000.
        p_init: Initial fraction of pixels changed by a square (0 < p_init <= 1); default 0.8.
        restarts: Restarts on still-robust examples (>= 1); default 1.
        loss: "margin" (default) or "ce" (the official code's options).
        rescale_schedule: Adapt the p schedule to ``n_queries`` (official ``resc_schedule``);
            default False, as inside AutoAttack.
        seed: Seed passed to the official code (default 0).
        **kwargs: ``norm`` ("Linf"|"L2"), ``targeted`` (targets from ``target``/``y_target``).

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "square"
    kind = "black-box"

    def __init__(
        self,
        eps: float = 8 / 255,
        n_queries: int = 5000,
        p_init: float = 0.8,
        restarts: int = 1,
        *,
        loss: str = "margin",
        rescale_schedule: bool = False,
        seed: int | None = 0,
        **kwargs: Any,
    ) -> None:
        if loss not in SQUARE_LOSSES:
            raise ValueError(f"loss must be one of {SQUARE_LOSSES} for square, got {loss!r}")
        super().__init__(eps, loss="cw" if loss == "margin" else "ce", seed=seed, **kwargs)
        check_positive_int("n_queries", n_queries)
        check_positive_int("restarts", restarts)
        _check_number("p_init", p_init, low=0.0, strict=True, allow_inf=False)
        if p_init > 1:
            raise ValueError(f"p_init must be in (0, 1], got {p_init!r}")
        self.n_queries, self.p_init, self.restarts = n_queries, float(p_init), restarts
        self.square_loss, self.rescale_schedule = loss, bool(rescale_schedule)

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        from pyautoattack.square import SquareAttack

        attack = SquareAttack(
            model,
            norm=self.norm,
            n_queries=self.n_queries,
            eps=self.eps,
            p_init=self.p_init,
            n_restarts=self.restarts,
            seed=0 if self.seed is None else self.seed,
            verbose=False,
            targeted=self.targeted,
            loss=self.square_loss,
            resc_schedule=self.rescale_schedule,
            device=x.device,
        )
        labels = ctx["y_target"] if self.targeted else y
        with quiet_official_code(x.device):
            return attack.perturb(x, labels)


@ATTACKS.register("square")
def _square(**kwargs: Any) -> Square:
    return Square(**kwargs)
