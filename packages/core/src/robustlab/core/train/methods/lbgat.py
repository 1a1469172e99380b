"""LBGAT (Cui et al., ICCV 2021: "Learnable Boundary Guided Adversarial Training"), with hooks.

A guide model g (natural classifier, ``guide_model`` / ``guide_opts``) is trained jointly with the
target model f through the one optimiser of the run (``trainable_modules``). x' is the attack on
f in eval mode maximising ``attack_objective`` (default: the TRADES KL attack, x + 0.001 N(0, 1)
start, eps 0.031, step 0.007, 10 steps), run even for beta = 0. Then, with f and g in train
mode (g is never switched to eval, as in the reference), the default objective (eq. 7) is

    L = MSE(f(x'), g(x)) + CE(g(x), y) + beta * reduce_i KL(p_f(x_i) || p_f(x'_i))

MSE is the element-wise mean over B x K; nothing is detached, so the MSE also trains g.
``beta`` = 0 is the released script's setting (LBGAT0); ``reduction`` ("batchmean") is the KL
term's. The guide defaults to LBGAT's ResNet-18 variant (strides 1/1/2/2).

Hooks (D2R): ``objective`` replaces the whole loss: a callable (or ``OBJECTIVES`` name / dict)
``(guide_clean_logits, target_adv_logits, target_clean_logits, y, **ctx) -> scalar`` with ctx
``x``, ``x_adv``, ``index``, ``step``. With ``attack_guide_logits=True`` the attack receives
``logits_ref`` = g(x) (g in eval mode, no gradient, no BN update) in its loss context, e.g. to
maximise KL(p_g(x) || p_f(x')).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.losses import cross_entropy, kl_div
from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext, bn_mode
from robustlab.core.train.methods.common import COMMON, AdversarialMethod, step_ctx, to_channels


class LBGAT(AdversarialMethod):
    """LBGAT; options eps, alpha, steps, beta (0), guide_model ("resnet18-lbgat"), guide_opts,
    objective ("lbgat" = eq. 7), attack_objective ("kl"), reduction ("batchmean"),
    attack_guide_logits (False)."""

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
        "objective": "lbgat",
        "attack_objective": "kl",
        "reduction": "batchmean",
        "attack_guide_logits": False,
    }
    objective: Any
    _kl: float | None = None

    def resolve_objective(self, role: str, spec: Any) -> Any:
        """``objective="lbgat"`` is eq. 7 below (guide/target signature); the rest as the base."""
        if role == "objective" and spec == "lbgat":
            return self.lbgat_objective
        return super().resolve_objective(role, spec)

    def lbgat_objective(
        self, guide_clean: Tensor, target_adv: Tensor, target_clean: Tensor, y: Tensor, **ctx: Any
    ) -> Tensor:
        """Eq. 7: MSE(f(x'), g(x)) + CE(g(x), y) + beta * KL(p_f(x) || p_f(x')) (scalar)."""
        loss = F.mse_loss(target_adv, guide_clean) + cross_entropy(guide_clean, y)
        if self.beta != 0:
            kl = kl_div(target_clean, target_adv, self.reduction)
            self._kl = float(kl.detach())
            loss = loss + self.beta * kl
        return loss

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        from robustlab.core.models import build

        self.guide = build(
            self.guide_model,
            num_classes=ctx.num_classes,
            in_channels=ctx.in_channels,
            **self.guide_opts,
        ).to(ctx.device)
        super().setup(model, ctx)
        self._attack = self.build_attack(
            "pgd",
            eps=self.eps,
            alpha=self.alpha,
            steps=self.steps,
            loss=self.attack_loss(),
            init="normal",
            init_std=0.001,
        )

    def trainable_modules(self) -> dict[str, nn.Module]:
        return {"guide": self.guide, **super().trainable_modules()}

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        attack_ctx: dict[str, Any] = {}
        if self.attack_guide_logits:
            with torch.no_grad(), bn_mode(self.guide, "eval"):
                attack_ctx["logits_ref"] = self.guide(x).float()
        x_adv = to_channels(self.generate(self._attack, model, x, y, **attack_ctx), x)
        logits_adv = model(x_adv).float()
        logits_nat = model(x).float()
        logits_guide = self.guide(x).float()
        self._kl = None
        fn = self.objective_fn("objective")
        loss = fn(logits_guide, logits_adv, logits_nat, y, x_adv=x_adv, **step_ctx(x, ctx))
        metrics = {"guide_acc": float((logits_guide.argmax(1) == y).float().mean()) * 100}
        if self._kl is not None:
            metrics["kl"] = self._kl
        metrics.update(self.objective_metrics())
        return StepOutput(loss, logits_nat.detach(), metrics)


@METHODS.register("lbgat")
def _lbgat(**opts: Any) -> LBGAT:
    return LBGAT(**opts)
