"""TRADES (Zhang et al. 2019) as in yaodongyu/TRADES.

x' = sign-gradient ascent on sum_i KL(p(x_i) || p(x'_i)) from x + 0.001 N(0, 1), model in eval
mode, projected onto the Linf ball and [0, 1]. Then, in train mode:

    L = CE(f(x), y) + beta * (1/B) sum_i KL(p(x_i) || p(x'_i))

The clean target p(x) is not detached (``detach_clean=False``) and is recomputed by a second
forward pass (``second_clean_forward=True``), as in the reference. With ``beta = 0`` the KL term
is identically zero and neither the attack nor the extra passes are run (= natural training).
Defaults: CIFAR budget eps 0.031, step 0.007, 10 steps, beta 6.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods.common import COMMON, AdversarialMethod, kl_batchmean, to_channels


class TRADES(AdversarialMethod):
    """TRADES; options eps, alpha, steps, beta, bn_mode ("eval"), detach_clean, second_clean_forward."""

    name = "trades"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **COMMON,
        "bn_mode": "eval",
        "eps": 0.031,
        "alpha": 0.007,
        "steps": 10,
        "beta": 6.0,
        "detach_clean": False,
        "second_clean_forward": True,
    }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        self._attack = self.kl_attack()

    def kl_attack(self) -> Any:
        """The TRADES KL attack (normal start with std 0.001)."""
        return self.build_attack(
            "pgd",
            eps=self.eps,
            alpha=self.alpha,
            steps=self.steps,
            loss="kl",
            init="normal",
            init_std=0.001,
        )

    def trades_loss(
        self, net: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor
    ) -> tuple[Tensor, Tensor, float]:
        """(loss, clean logits, KL value) of ``net`` on a batch; ``x_adv`` None means beta = 0."""
        logits_nat = net(x)
        loss = F.cross_entropy(logits_nat.float(), y)
        if x_adv is None or self.beta == 0:
            return loss, logits_nat.detach(), 0.0
        logits_adv = net(x_adv)
        target = net(x) if self.second_clean_forward else logits_nat
        if self.detach_clean:
            target = target.detach()
        kl = kl_batchmean(target, logits_adv)
        return loss + self.beta * kl, logits_nat.detach(), float(kl.detach())

    def adversarial_batch(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor | None:
        if self.beta == 0:
            return None
        return to_channels(self.generate(self._attack, model, x, y), x)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = self.adversarial_batch(model, x, y)
        loss, logits, kl = self.trades_loss(model, x, x_adv, y)
        return StepOutput(loss, logits, {"kl": kl})


@METHODS.register("trades")
def _trades(**opts: Any) -> TRADES:
    return TRADES(**opts)
