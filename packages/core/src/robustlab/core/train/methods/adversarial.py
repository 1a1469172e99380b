"""Madry-AT (PGD-k), Fast-AT (FGSM with random start) and MART.

Defaults follow the reference code (``notes/reference-implementations.md``): CIFAR budgets
eps 8/255, step 2/255, 10 steps; for other datasets pass ``eps``/``alpha`` explicitly.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods.common import COMMON, AdversarialMethod, step_ctx, to_channels


class MadryAT(AdversarialMethod):
    """Madry et al. 2018 (eq. 2.1): L = reduce objective(f(x'), y), x' = PGD-k maximising the
    attack objective (uniform random start). Defaults: objective "ce", attack_objective "ce",
    reduction "mean" (CE batch mean). BN in train mode during the attack (locuslab
    ``train_pgd.py`` and AT-AWP).
    """

    name = "madry-at"
    DEFAULTS: ClassVar[dict[str, Any]] = {**COMMON, "eps": 8 / 255, "alpha": 2 / 255, "steps": 10}

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        self._attack = self.build_attack(
            "pgd", eps=self.eps, alpha=self.alpha, steps=self.steps, loss=self.attack_loss()
        )

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        return self.adversarial_loss(model, x, y, ctx)


class FastAT(AdversarialMethod):
    """Wong, Rice & Kolter 2020 ("Fast is better than free"): FGSM from a uniform random start.

    x' = clip(x + delta), delta ~ U(-eps, eps), one signed step of size ``alpha`` (1.25 eps)
    on the attack objective, projected; L = reduce objective(f(x'), y) (defaults: CE, CE,
    "mean"). BN in train mode throughout. With ``early_stop`` the robust
    accuracy of PGD-5 (step ``early_stop_alpha``) on the first batch of each epoch is tracked; if
    it falls by more than 0.2 from the previous epoch, training stops and the weights from
    before the collapsing epoch are restored (catastrophic-overfitting guard of ``train_fgsm.py``).
    """

    name = "fast-at"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **COMMON,
        "eps": 8 / 255,
        "alpha": None,
        "early_stop": False,
        "early_stop_alpha": 2 / 255,
    }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        if self.alpha is None:
            self.alpha: float = 1.25 * self.eps
        self._attack = self.build_attack(
            "fgsm-rs", eps=self.eps, alpha=self.alpha, loss=self.attack_loss()
        )
        self._probe: tuple[Tensor, Tensor] | None = None
        self._prev_acc: float | None = None
        self._prev_weights: dict[str, Tensor] | None = None

    def on_epoch_start(self, epoch: int, ctx: TrainContext) -> None:
        super().on_epoch_start(epoch, ctx)
        self._probe = None

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        if self.early_stop and self._probe is None:
            self._probe = (x.detach().clone(), y.detach().clone())
            self._start_weights = copy.deepcopy(model.state_dict())
        return self.adversarial_loss(model, x, y, ctx)

    def on_epoch_end(self, epoch: int, ctx: TrainContext, model: nn.Module) -> None:
        super().on_epoch_end(epoch, ctx, model)
        if not self.early_stop or self._probe is None:
            return
        x, y = self._probe
        pgd = self.build_attack(
            "pgd", training=False, eps=self.eps, alpha=self.early_stop_alpha, steps=5
        )
        was = model.training
        model.eval()
        x_adv = pgd(model, x, y)
        with torch.no_grad():
            acc = float((model(x_adv).argmax(1) == y).float().mean())
        model.train(was)
        if self._prev_acc is not None and acc < self._prev_acc - 0.2:
            model.load_state_dict(self._start_weights)
            self.stop_training = True
        self._prev_acc = acc

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "prev_acc": self._prev_acc,
            "stop_training": self.stop_training,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._prev_acc = state.get("prev_acc")
        self.stop_training = bool(state.get("stop_training", False))


class MART(AdversarialMethod):
    """Wang et al. 2020 (MART, eq. 6): misclassification-aware adversarial risk.

    x' = PGD on the attack objective (CE) from x + 0.001 N(0, 1) with BN in eval mode (the MART
    code). With p = softmax:

        L = mean_i BCE(f(x'_i), y_i)                                   (objective "mart-bce")
            + beta * reduce_i KL(p(x_i) || p(x'_i)) * (1 - p_y(x_i))   (robust_objective "mart-kl")

    BCE = CE - log(1.0001 - max_{k != y} p_k(x')). Clean probabilities are not detached (as in
    the reference); the robust objective gets them as ``logits_clean``. ``beta`` = 6,
    ``reduction`` "batchmean" (of the robust term).
    """

    name = "mart"
    OBJECTIVE_OPTIONS: ClassVar[tuple[str, ...]] = (
        "objective",
        "robust_objective",
        "attack_objective",
    )
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **COMMON,
        "bn_mode": "eval",
        "eps": 8 / 255,
        "alpha": 2 / 255,
        "steps": 10,
        "beta": 6.0,
        "objective": "mart-bce",
        "robust_objective": "mart-kl",
        "reduction": "batchmean",
    }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        self._attack = self.build_attack(
            "pgd",
            eps=self.eps,
            alpha=self.alpha,
            steps=self.steps,
            init="normal",
            init_std=0.001,
            loss=self.attack_loss(),
        )

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        logits_adv = model(x_adv).float()
        logits_nat = model(x).float()
        kw = {**step_ctx(x, ctx), "x_adv": x_adv, "logits_clean": logits_nat}
        bce = self.objective_value("objective", logits_adv, y, "mean", **kw)
        robust = self.objective_value("robust_objective", logits_adv, y, self.reduction, **kw)
        loss = bce + self.beta * robust
        metrics = {"kl": float(robust.detach()), **self.objective_metrics()}
        return StepOutput(loss, logits_adv.detach(), metrics)


def _factory(cls: type[AdversarialMethod]) -> Any:
    def build(**opts: Any) -> AdversarialMethod:
        return cls(**opts)

    build.__doc__ = cls.__doc__
    return build


METHODS.register("madry-at", _factory(MadryAT))
METHODS.register("fast-at", _factory(FastAT))
METHODS.register("mart", _factory(MART))
