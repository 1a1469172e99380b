"""Transfer attack: craft adversarial examples on a substitute (source) model and return them for
the target model (Papernot et al., "Transferability in Machine Learning", 2016).

The target model passed to the call is only used for input checks; the inner attack sees the
source model only, so the attack is black-box w.r.t. the target.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from robustlab.core.attacks.base import ATTACKS, Attack


class Transfer(Attack):
    """Run any attack on a substitute model and evaluate its output on the target.

    Args:
        attack: An ``Attack`` instance or a registered attack name (default "pgd").
        source: The substitute model (nn.Module); required.
        **attack_kwargs: Keyword arguments for building ``attack`` when it is a name.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W), inside the inner attack's
    eps-ball.
    """

    name = "transfer"
    kind = "transfer"

    def __init__(
        self, attack: str | Attack = "pgd", source: nn.Module | None = None, **attack_kwargs: Any
    ) -> None:
        if not isinstance(source, nn.Module):
            raise ValueError(
                f"source must be the substitute nn.Module to craft on, got {type(source).__name__}"
            )
        if isinstance(attack, Attack):
            if attack_kwargs:
                raise ValueError("attack_kwargs are only used when attack is a registered name")
            inner = attack
        else:
            inner = ATTACKS.build(attack, **attack_kwargs)
        super().__init__(inner.eps, norm=inner.norm, seed=inner.seed)
        self.inner, self.source = inner, source

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        inner_ctx = {k: v for k, v in ctx.items() if k not in ("logits_clean", "y_target")}
        if self.inner.targeted and "y_target" in ctx:
            inner_ctx["y_target"] = ctx["y_target"]
        return self.inner(self.source, x, y, **inner_ctx)

    def __repr__(self) -> str:
        return f"Transfer({self.inner!r}, source={type(self.source).__name__})"


@ATTACKS.register("transfer")
def _transfer(**kwargs: Any) -> Transfer:
    return Transfer(**kwargs)
