"""Training methods of the PC-loss paper, plugged into core's training engine as loss steps.

Registered in ``robustlab.core.train.METHODS`` (build with ``TrainConfig(method=..., method_opts=...)``):

========================  ==================================================================
``pcloss/pc``             PC loss + logit constraint (eq. 16); options ``xi``, ``lam``,
                          ``reduction``, ``constraint``. The paper's second phase.
``pcloss/gce``            Guided Complement Entropy (Chen et al. 2019); option ``alpha``.
``pcloss/ce-at``          CE with adversarial training (Table 5 "CE+AT").
``pcloss/pc-at``          PC + LC with adversarial training (Table 5 "Ours+AT", second phase).
``pcloss/gce-at``         GCE with adversarial training (Table 5 "GCE+AT").
========================  ==================================================================

``pcloss/pc`` and ``pcloss/gce`` are core ``natural`` training with the criterion as its objective
(``PCObjective`` / ``GCEObjective``); plain cross-entropy (the CE baseline and the CE warm-up of
the PC runs) is core's ``natural`` itself.

Adversarial training (paper, "Combining with adversarial training"): every minibatch of B clean
images is augmented with its B adversarial copies (ratio 1:1) and the method's loss is taken over
the 2B examples. Gray datasets: FGSM with eps ~ U[0.1, 0.3]; CIFAR-10: 5-step PGD with
eps ~ U[0, 0.1] and step 2.5 eps / 5. One eps is drawn per minibatch from the method's own
seeded generator (its state is checkpointed for exact resume). The adversarial examples are
crafted with core's attacks (CE loss, fp32) with the model in eval mode (``attack_mode="eval"``;
``"train"`` keeps the training mode, as Fast-AT does); the paper does not say which.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS
from robustlab.core.losses import ObjectiveSpec, objective_loss
from robustlab.core.train import METHODS, StepContext, StepOutput, bn_mode, check_options
from robustlab.core.train.methods.common import to_channels
from robustlab.core.train.methods.natural import Natural
from robustlab.pcloss.losses import GCE_ALPHA, GCEObjective, PCObjective

__all__ = ["AdversarialLossMethod", "LossMethod"]

ATTACK_MODES = ("eval", "train")


class LossMethod(Natural):
    """Core natural training whose objective is the paper's criterion (``pcloss/pc``, ...).

    Args:
        name: Registered method name.
        criterion: The training objective (an ``Objective``, a per-example callable or an
            ``OBJECTIVES`` name), reduced with the batch mean.
    """

    def __init__(self, name: str, criterion: ObjectiveSpec) -> None:
        super().__init__(name=name, objective=criterion)

    @property
    def criterion(self) -> Any:
        """The resolved objective."""
        return self.objective_fn("objective")


class AdversarialLossMethod(LossMethod):
    """``criterion`` on a 1:1 mix of clean and adversarial examples (paper, Table 5).

    Args:
        name: Registered method name.
        criterion: Training objective applied to the concatenated (clean, adversarial) batch.
        attack: "fgsm" (gray datasets) or "pgd" (CIFAR-10), a name in core's ``ATTACKS``.
        eps_range: (low, high): eps ~ U[low, high] drawn once per minibatch, pixel space.
        steps: Attack iterations (1 for FGSM, 5 for the paper's PGD).
        step_scale: PGD step size as a multiple of eps / steps (2.5, Madry et al.'s rule).
        attack_mode: Model mode while crafting: "eval" (default) or "train".
        seed: Seed of the eps draws and the attack's random start.
    """

    adversarial = True

    def __init__(
        self,
        name: str,
        criterion: ObjectiveSpec,
        attack: str = "fgsm",
        eps_range: tuple[float, float] = (0.1, 0.3),
        steps: int = 1,
        step_scale: float = 2.5,
        attack_mode: str = "eval",
        seed: int = 0,
    ) -> None:
        super().__init__(name, criterion)
        low, high = (float(v) for v in eps_range)
        if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
            raise ValueError(
                f"eps_range must be (low, high) with 0 <= low <= high; got {eps_range!r}"
            )
        if attack not in ("fgsm", "pgd", "bim"):
            raise ValueError(f"attack must be 'fgsm', 'pgd' or 'bim'; got {attack!r}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
        if attack_mode not in ATTACK_MODES:
            raise ValueError(f"attack_mode must be one of {ATTACK_MODES}; got {attack_mode!r}")
        if not step_scale > 0:
            raise ValueError(f"step_scale must be > 0; got {step_scale!r}")
        self.attack = attack
        self.eps_range = (low, high)
        self.steps = steps
        self.step_scale = float(step_scale)
        self.attack_mode = attack_mode
        self.seed = int(seed)
        self._gen = torch.Generator().manual_seed(self.seed)
        self._calls = 0

    def draw_eps(self) -> float:
        """Next eps ~ U[low, high] from the method's own generator (CPU, device independent)."""
        low, high = self.eps_range
        return low + (high - low) * float(torch.rand((), generator=self._gen))

    def craft(self, model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
        """Adversarial copies of ``x`` (B, C, H, W) at radius ``eps``; the model mode is restored."""
        if eps <= 0:
            return x.clone()
        if self.attack == "fgsm":
            kwargs: dict[str, Any] = {"eps": eps}
        else:
            kwargs = {"eps": eps, "alpha": self.step_scale * eps / self.steps, "steps": self.steps}
        attack = ATTACKS.build(self.attack, seed=self.seed + self._calls, **kwargs)
        self._calls += 1
        with bn_mode(model, self.attack_mode):
            return to_channels(attack(model, x, y).detach(), x)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        """Loss on ``cat([x, x_adv])``; logits returned for the clean half (training accuracy)."""
        eps = self.draw_eps()
        x_adv = self.craft(model, x, y, eps)
        xx = torch.cat([x, x_adv])
        logits = model(xx)
        yy = torch.cat([y, y])
        loss = objective_loss(self.criterion, logits, yy, self.reduction, x=xx, step=ctx)
        B = x.shape[0]
        with torch.no_grad():
            adv_acc = (logits[B:].argmax(1) == y).float().mean()
        metrics = {"eps": eps, "adv_acc": float(adv_acc) * 100, **self.objective_metrics()}
        return StepOutput(loss=loss, logits=logits[:B].detach(), metrics=metrics)

    def val_attack(self) -> Any:
        """PGD-10 at the top of the training eps range (robust validation, when asked for)."""
        eps = self.eps_range[1]
        return ATTACKS.build("pgd", eps=eps, alpha=max(eps / 4, 1e-6), steps=10)

    def state_dict(self) -> dict[str, Any]:
        """Generator state and call count, for exact resume."""
        return {**super().state_dict(), "gen": self._gen.get_state(), "calls": self._calls}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        super().load_state_dict(d)
        self._gen.set_state(d["gen"])
        self._calls = int(d["calls"])


_PC_DEFAULTS: dict[str, Any] = {"xi": 0.995, "lam": 0.05, "reduction": "mean", "constraint": "soft"}
_GCE_DEFAULTS: dict[str, Any] = {"alpha": GCE_ALPHA}
_AT_DEFAULTS: dict[str, Any] = {
    "attack": "fgsm",
    "eps_range": (0.1, 0.3),
    "steps": 1,
    "step_scale": 2.5,
    "attack_mode": "eval",
    "seed": 0,
}


def _split(name: str, opts: dict[str, Any], *groups: dict[str, Any]) -> list[dict[str, Any]]:
    """Check ``opts`` against the union of ``groups`` (ConfigError listing the valid ones) and
    split them per group."""
    check_options(name, opts, {k: v for g in groups for k, v in g.items()})
    return [{k: v for k, v in opts.items() if k in g} for g in groups]


@METHODS.register("pcloss/pc")
def pc_method(**opts: Any) -> LossMethod:
    """PC loss + logit constraint; options of :class:`~robustlab.pcloss.losses.PCLoss`."""
    (pc,) = _split("pcloss/pc", opts, _PC_DEFAULTS)
    return LossMethod("pcloss/pc", PCObjective(**pc))


@METHODS.register("pcloss/gce")
def gce_method(**opts: Any) -> LossMethod:
    """Guided Complement Entropy; option ``alpha`` (default 1/3, the GCE reference code)."""
    (gce,) = _split("pcloss/gce", opts, _GCE_DEFAULTS)
    return LossMethod("pcloss/gce", GCEObjective(**gce))


@METHODS.register("pcloss/ce-at")
def ce_at_method(**opts: Any) -> AdversarialLossMethod:
    """CE on 1:1 clean:adversarial minibatches; options of :class:`AdversarialLossMethod`."""
    (at,) = _split("pcloss/ce-at", opts, _AT_DEFAULTS)
    return AdversarialLossMethod("pcloss/ce-at", "ce", **at)


@METHODS.register("pcloss/pc-at")
def pc_at_method(**opts: Any) -> AdversarialLossMethod:
    """PC + LC on 1:1 clean:adversarial minibatches; PCLoss and adversarial-training options."""
    pc, at = _split("pcloss/pc-at", opts, _PC_DEFAULTS, _AT_DEFAULTS)
    return AdversarialLossMethod("pcloss/pc-at", PCObjective(**pc), **at)


@METHODS.register("pcloss/gce-at")
def gce_at_method(**opts: Any) -> AdversarialLossMethod:
    """GCE on 1:1 clean:adversarial minibatches; ``alpha`` and adversarial-training options."""
    gce, at = _split("pcloss/gce-at", opts, _GCE_DEFAULTS, _AT_DEFAULTS)
    return AdversarialLossMethod("pcloss/gce-at", GCEObjective(**gce), **at)
