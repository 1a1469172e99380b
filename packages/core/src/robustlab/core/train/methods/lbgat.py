"""LBGAT (Cui et al., ICCV 2021: "Learnable Boundary Guided Adversarial Training").

A guide model g (natural classifier) is trained jointly with the target model f through the one
optimiser of the run (``trainable_modules``). x' is the TRADES KL attack on f in eval mode
(x + 0.001 N(0, 1) start, eps 0.031, step 0.007, 10 steps), run even for beta = 0. Then, with f
and g in train mode (g is never switched to eval, as in the reference):

    L = MSE(f(x'), g(x)) + CE(g(x), y) + beta * (1/B) sum_i KL(p_f(x_i) || p_f(x'_i))

MSE is the element-wise mean over B x K; nothing is detached, so the MSE also trains g.
``beta`` = 0 is the released script's setting (LBGAT0); the guide defaults to LBGAT's
ResNet-18 variant (strides 1/1/2/2).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods.common import COMMON, AdversarialMethod, kl_batchmean, to_channels


class LBGAT(AdversarialMethod):
    """LBGAT; options eps, alpha, steps, beta (0), guide_model ("resnet18-lbgat"), guide_opts."""

    name = "lbgat"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **COMMON,
        "bn_mode": "eval",
        "eps": 0.031,
        "alpha": 0.007,
        "steps": 10,
        "beta": 0.0,
        "guide_model": "resnet18-lbgat",
        "guide_opts": {},
    }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        from robustlab.core.models import build

        self.guide = build(
            self.guide_model,
            num_classes=ctx.num_classes,
            in_channels=ctx.in_channels,
            **self.guide_opts,
        ).to(ctx.device)
        self._attack = self.build_attack(
            "pgd",
            eps=self.eps,
            alpha=self.alpha,
            steps=self.steps,
            loss="kl",
            init="normal",
            init_std=0.001,
        )

    def trainable_modules(self) -> dict[str, nn.Module]:
        return {"guide": self.guide}

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        logits_adv = model(x_adv).float()
        logits_nat = model(x).float()
        logits_guide = self.guide(x).float()
        loss = F.mse_loss(logits_adv, logits_guide) + F.cross_entropy(logits_guide, y)
        metrics = {"guide_acc": float((logits_guide.argmax(1) == y).float().mean()) * 100}
        if self.beta != 0:
            kl = kl_batchmean(logits_nat, logits_adv)
            loss = loss + self.beta * kl
            metrics["kl"] = float(kl.detach())
        return StepOutput(loss, logits_nat.detach(), metrics)


@METHODS.register("lbgat")
def _lbgat(**opts: Any) -> LBGAT:
    return LBGAT(**opts)
