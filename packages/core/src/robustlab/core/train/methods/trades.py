"""TRADES (Zhang et al. 2019, eq. 5) as in yaodongyu/TRADES, with objective hooks.

x' = sign-gradient ascent on the attack objective (default sum_i KL(p(x_i) || p(x'_i))) from
x + 0.001 N(0, 1), model in ``bn_mode`` ("eval": BN statistics do not update during the attack),
projected onto the Linf ball and [0, 1]. Then, in train mode:

    L = mean_i objective(f(x_i), y_i) + beta * reduce_i robust_objective(f(x'_i), y_i; f(x_i))

Defaults: objective "ce", robust_objective "kl" (KL(p(x) || p(x')), clean logits passed as
``logits_clean``), attack_objective "kl", reduction "batchmean". The clean target p(x) is not
detached (``detach_clean=False``) and is recomputed by a second forward pass
(``second_clean_forward=True``), as in the reference. With ``beta = 0`` the robust term is
identically zero and neither the attack nor the extra passes run (= natural training).

``bn_order`` sets which forwards update BatchNorm statistics and in which order: "nat-adv"
(reference: clean, adversarial, then the second clean pass), "adv-nat" (adversarial first),
"nat" (only clean passes update BN; the adversarial pass runs with frozen BN), "adv" (only the
adversarial pass updates BN). ``frozen_bn`` says how a frozen pass normalises: "running" (BN
in eval mode) or "batch" (batch statistics, running statistics left unchanged).

Objectives get ``x``, ``index``, ``step`` and (robust term) ``x_adv``, ``logits_clean``. LTD is
this method with a soft-label ``objective``; CTR's ``ctr/trades`` with SCE / SKL objectives.
Defaults: CIFAR budget eps 0.031, step 0.007, 10 steps, beta 6.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods.common import (
    COMMON,
    AdversarialMethod,
    frozen_bn,
    step_ctx,
    to_channels,
)

BN_ORDERS = ("nat-adv", "adv-nat", "nat", "adv")


class TRADES(AdversarialMethod):
    """TRADES; options eps, alpha, steps, beta, bn_mode ("eval"), detach_clean,
    second_clean_forward, objective ("ce"), robust_objective ("kl"), attack_objective ("kl"),
    reduction ("batchmean"), bn_order ("nat-adv"), frozen_bn ("running")."""

    name = "trades"
    OBJECTIVE_OPTIONS: ClassVar[tuple[str, ...]] = (
        "objective",
        "robust_objective",
        "attack_objective",
    )
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **COMMON,
        "bn_mode": "eval",
        "eps": 0.031,
        "alpha": 0.007,
        "steps": 10,
        "beta": 6.0,
        "detach_clean": False,
        "second_clean_forward": True,
        "robust_objective": "kl",
        "attack_objective": "kl",
        "reduction": "batchmean",
        "bn_order": "nat-adv",
        "frozen_bn": "running",
    }

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        if self.bn_order not in BN_ORDERS:
            raise ConfigError(
                f"{self.name}: bn_order must be one of {BN_ORDERS}, got {self.bn_order!r}"
            )
        if self.frozen_bn not in ("running", "batch"):
            raise ConfigError(
                f"{self.name}: frozen_bn must be 'running' or 'batch', got {self.frozen_bn!r}"
            )

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        self._attack = self.kl_attack()

    def kl_attack(self) -> Any:
        """The TRADES attack (normal start with std 0.001) on the attack objective."""
        return self.build_attack(
            "pgd",
            eps=self.eps,
            alpha=self.alpha,
            steps=self.steps,
            loss=self.attack_loss(),
            init="normal",
            init_std=0.001,
        )

    def _pass(self, net: nn.Module, inputs: Tensor, updates_bn: bool) -> Tensor:
        frozen = contextlib.nullcontext() if updates_bn else frozen_bn(net, self.frozen_bn)
        with frozen:
            return net(inputs)

    def forward_pair(
        self, net: nn.Module, x: Tensor, x_adv: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(clean logits, adversarial logits, KL target logits) in the order ``bn_order`` says.

        Override to change how the forwards are taken; the target is a second clean pass when
        ``second_clean_forward`` (else the first clean logits), detached when ``detach_clean``.
        """
        nat_bn, adv_bn = self.bn_order != "adv", self.bn_order != "nat"
        if self.bn_order == "adv-nat":
            logits_adv = self._pass(net, x_adv, adv_bn)
            logits_nat = self._pass(net, x, nat_bn)
        else:
            logits_nat = self._pass(net, x, nat_bn)
            logits_adv = self._pass(net, x_adv, adv_bn)
        target = self._pass(net, x, nat_bn) if self.second_clean_forward else logits_nat
        if self.detach_clean:
            target = target.detach()
        return logits_nat, logits_adv, target

    def trades_loss(
        self,
        net: nn.Module,
        x: Tensor,
        x_adv: Tensor | None,
        y: Tensor,
        ctx: StepContext | None = None,
    ) -> tuple[Tensor, Tensor, float]:
        """(loss, clean logits, robust-term value) of ``net`` on a batch; ``x_adv`` None means
        beta = 0 (one clean forward). Also run on AWP's proxy network (objectives are then
        called twice per step)."""
        kw = step_ctx(x, ctx)
        if x_adv is None or self.beta == 0:
            logits_nat = net(x)
            loss = self.objective_value("objective", logits_nat, y, "mean", **kw)
            return loss, logits_nat.detach(), 0.0
        logits_nat, logits_adv, target = self.forward_pair(net, x, x_adv)
        loss = self.objective_value("objective", logits_nat, y, "mean", **kw)
        robust = self.objective_value(
            "robust_objective",
            logits_adv,
            y,
            self.reduction,
            logits_clean=target,
            x_adv=x_adv,
            **kw,
        )
        return loss + self.beta * robust, logits_nat.detach(), float(robust.detach())

    def adversarial_batch(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor | None:
        if self.beta == 0:
            return None
        return to_channels(self.generate(self._attack, model, x, y), x)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = self.adversarial_batch(model, x, y)
        loss, logits, kl = self.trades_loss(model, x, x_adv, y, ctx)
        return StepOutput(loss, logits, {"kl": kl, **self.objective_metrics()})


@METHODS.register("trades")
def _trades(**opts: Any) -> TRADES:
    return TRADES(**opts)
