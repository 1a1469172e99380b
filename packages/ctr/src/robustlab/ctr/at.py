"""Adversarial training with CTR (section 4.2): core's AT methods with the STD-weighted losses.

* ``ctr/madry-at``, ``ctr/fast-at``, ``ctr/free-at`` -- eq. 17: SCE replaces CE in both the
  attack (adversarial objective) and the training objective.
* ``ctr/trades`` -- eq. 18: ``SCE(f(x), y) + beta * SKL(f(x'), f(x))``; the attack maximises
  SKL (with the clean output detached, as TRADES' KL attack).

Each is the core method (``madry-at``, ``fast-at``, ``free-at``, ``trades``) -- same options,
same attack, same BN mode, same engine -- with one extra option ``gamma`` (>= 0, the STD weight);
``gamma = 0`` gives the core baseline (tested). The CTR warm-up (eq. 29) is the engine's
``TrainConfig.warmup="ctr"``; Multistep/Cyclic are the engine's schedules.

Core's AT methods have no loss hook, so each class here subclasses the core method, plugs the
CTR objective into the attacks its ``setup`` builds (``build_attack`` with ``loss=``), and
overrides the loss step to use SCE/SKL instead of CE/KL.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.train import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods import adversarial as core_at
from robustlab.core.train.methods import free as core_free
from robustlab.core.train.methods import trades as core_trades
from robustlab.core.train.methods.common import to_channels
from robustlab.ctr.losses import SCEAttackLoss, SKLAttackLoss, check_gamma, sce_loss, skl_loss

__all__ = ["CTRTRADES", "CTRFastAT", "CTRFreeAT", "CTRMadryAT", "CTRMixin"]


class CTRMixin:
    """Adds ``gamma`` to a core AT method and plugs the CTR objective into its setup's attacks.

    Only the attacks built during ``setup`` (the training attack) get the CTR loss; the robust
    validation attack and Fast-AT's overfitting probe stay CE so that model selection and early
    stopping are the baseline's.
    """

    gamma: float = 0.0
    attack_kind = "sce"
    _plug = False

    def _pop_gamma(self, opts: dict[str, Any]) -> dict[str, Any]:
        self.gamma = check_gamma(opts.pop("gamma", 0.0))
        return opts

    def attack_objective(self) -> Any:
        """The per-example attack loss: SCE (eq. 17) or SKL (eq. 18) with this gamma."""
        if self.attack_kind == "skl":
            return SKLAttackLoss(self.gamma)
        return SCEAttackLoss(self.gamma)

    def build_attack(self, name: str = "pgd", **kw: Any) -> Any:
        if self._plug:
            kw["loss"] = self.attack_objective()  # replaces CE (Madry/Fast) or KL (TRADES)
        return super().build_attack(name, **kw)  # type: ignore[misc]

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        self._plug = True
        try:
            super().setup(model, ctx)  # type: ignore[misc]
        finally:
            self._plug = False


class CTRMadryAT(CTRMixin, core_at.MadryAT):
    """Madry-AT with CTR (eq. 17): x' = PGD-k maximising SCE; L = SCE(f(x'), y).

    Options: those of core's ``madry-at`` plus ``gamma`` >= 0 (paper: 1-5, best 2-3).
    """

    name = "ctr/madry-at"

    def __init__(self, **opts: Any) -> None:
        super().__init__(**self._pop_gamma(opts))

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        logits = model(x_adv)
        return StepOutput(sce_loss(logits, y, self.gamma), logits.detach())


class CTRFastAT(CTRMixin, core_at.FastAT):
    """Fast-AT with CTR (eq. 17): FGSM-RS maximising SCE; L = SCE(f(x'), y).

    Options: those of core's ``fast-at`` plus ``gamma`` >= 0. The catastrophic-overfitting probe
    (``early_stop``) is the core method's (CE PGD-5).
    """

    name = "ctr/fast-at"
    early_stop: bool  # core option, set by the core constructor

    def __init__(self, **opts: Any) -> None:
        super().__init__(**self._pop_gamma(opts))

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        if self.early_stop and self._probe is None:
            super().loss(model, x, y, ctx)  # records the probe batch and the weights
            # (its CE forward is discarded; only taken once per epoch)
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        logits = model(x_adv)
        return StepOutput(sce_loss(logits, y, self.gamma), logits.detach())


class CTRFreeAT(CTRMixin, core_free.FreeAT):
    """Free-AT with CTR (eq. 17): the replayed perturbation ascends SCE, L = SCE(f(x + delta), y).

    The perturbation update (core's ``after_step``) uses the gradient of this step's loss, so
    replacing CE by SCE makes both the attack and the training objective SCE. Options: those of
    core's ``free-at`` plus ``gamma`` >= 0.
    """

    name = "ctr/free-at"

    def __init__(self, **opts: Any) -> None:
        super().__init__(**self._pop_gamma(opts))

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        logits = model(x + self._perturbation(x))
        return StepOutput(sce_loss(logits, y, self.gamma), logits.detach())

    def _perturbation(self, x: Tensor) -> Tensor:
        """The persistent delta for batch ``x``, prepared with the bookkeeping of core's
        ``FreeAT.loss`` (which has no loss hook), so core's ``after_step`` updates it."""
        if self._delta is None or self._delta.shape[1:] != x.shape[1:]:
            self._delta = torch.zeros((x.shape[0], *x.shape[1:]), device=x.device)
        if self._delta.shape[0] < x.shape[0]:
            pad = self._delta.new_zeros((x.shape[0] - self._delta.shape[0], *x.shape[1:]))
            self._delta = torch.cat([self._delta, pad])
        self._delta.requires_grad_(True)
        self._x = x
        return self._delta[: x.shape[0]].to(x.dtype)


class CTRTRADES(CTRMixin, core_trades.TRADES):
    """TRADES with CTR (eq. 18): L = SCE(f(x), y) + beta * SKL(f(x'), f(x)); x' maximises SKL.

    The STD factor of SKL uses the adversarial output (see ``losses.skl_loss``). Options: those
    of core's ``trades`` plus ``gamma`` >= 0.
    """

    name = "ctr/trades"
    attack_kind = "skl"
    beta: float  # core options, set by the core constructor
    second_clean_forward: bool
    detach_clean: bool

    def __init__(self, **opts: Any) -> None:
        super().__init__(**self._pop_gamma(opts))

    def trades_loss(
        self, net: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor
    ) -> tuple[Tensor, Tensor, float]:
        logits_nat = net(x)
        loss = sce_loss(logits_nat, y, self.gamma)
        if x_adv is None or self.beta == 0:
            return loss, logits_nat.detach(), 0.0
        logits_adv = net(x_adv)
        target = net(x) if self.second_clean_forward else logits_nat
        if self.detach_clean:
            target = target.detach()
        skl = skl_loss(logits_adv, target, y, self.gamma)
        return loss + self.beta * skl, logits_nat.detach(), float(skl.detach())


def _factory(cls: type) -> Any:
    def build(**opts: Any) -> Any:
        return cls(**opts)

    build.__doc__ = cls.__doc__
    build.__name__ = build.__qualname__ = f"build_{cls.__name__}"
    return build


def register() -> None:
    """Register the CTR adversarial-training methods (idempotent)."""
    for cls in (CTRMadryAT, CTRFastAT, CTRFreeAT, CTRTRADES):
        if cls.name not in METHODS:
            METHODS.register(cls.name, _factory(cls))


register()
