"""Madry-AT (PGD-k), Fast-AT (FGSM with random start) and MART.

Defaults follow the reference code (``notes/reference-implementations.md``): CIFAR budgets
eps 8/255, step 2/255, 10 steps; for other datasets pass ``eps``/``alpha`` explicitly.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods.common import COMMON, AdversarialMethod, to_channels


class MadryAT(AdversarialMethod):
    """Madry et al. 2018: L = CE(f(x'), y), x' = PGD-k on CE (uniform random start).

    BN in train mode during the attack (locuslab ``train_pgd.py`` and AT-AWP).
    """

    name = "madry-at"
    DEFAULTS: ClassVar[dict[str, Any]] = {**COMMON, "eps": 8 / 255, "alpha": 2 / 255, "steps": 10}

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        self._attack = self.build_attack("pgd", eps=self.eps, alpha=self.alpha, steps=self.steps)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        logits = model(x_adv)
        return StepOutput(F.cross_entropy(logits.float(), y), logits.detach())


class FastAT(AdversarialMethod):
    """Wong, Rice & Kolter 2020 ("Fast is better than free"): FGSM from a uniform random start.

    x' = clip(x + delta), delta ~ U(-eps, eps), one signed step of size ``alpha`` (1.25 eps),
    projected; L = CE(f(x'), y). BN in train mode throughout. With ``early_stop`` the robust
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
        if self.alpha is None:
            self.alpha: float = 1.25 * self.eps
        self._attack = self.build_attack("fgsm-rs", eps=self.eps, alpha=self.alpha)
        self._probe: tuple[Tensor, Tensor] | None = None
        self._prev_acc: float | None = None
        self._prev_weights: dict[str, Tensor] | None = None

    def on_epoch_start(self, epoch: int, ctx: TrainContext) -> None:
        self._probe = None

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        if self.early_stop and self._probe is None:
            self._probe = (x.detach().clone(), y.detach().clone())
            self._start_weights = copy.deepcopy(model.state_dict())
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        logits = model(x_adv)
        return StepOutput(F.cross_entropy(logits.float(), y), logits.detach())

    def on_epoch_end(self, epoch: int, ctx: TrainContext, model: nn.Module) -> None:
        if not self.early_stop or self._probe is None:
            return
        x, y = self._probe
        pgd = self.build_attack("pgd", eps=self.eps, alpha=self.early_stop_alpha, steps=5)
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
        return {"prev_acc": self._prev_acc, "stop_training": self.stop_training}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._prev_acc = state.get("prev_acc")
        self.stop_training = bool(state.get("stop_training", False))


class MART(AdversarialMethod):
    """Wang et al. 2020 (MART): misclassification-aware adversarial risk.

    x' = PGD on CE from x + 0.001 N(0, 1) with BN in eval mode (the MART code). With p = softmax:

        L = CE(f(x'), y) - mean log(1.0001 - max_{k != y} p_k(x'))                (boosted CE)
            + beta * (1/B) sum_i KL(p(x_i) || p(x'_i)) * (1 - p_y(x_i))

    Clean probabilities are not detached (as in the reference). ``beta`` = 6.
    """

    name = "mart"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **COMMON,
        "bn_mode": "eval",
        "eps": 8 / 255,
        "alpha": 2 / 255,
        "steps": 10,
        "beta": 6.0,
    }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        self._attack = self.build_attack(
            "pgd", eps=self.eps, alpha=self.alpha, steps=self.steps, init="normal", init_std=0.001
        )

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        logits_adv = model(x_adv).float()
        logits_nat = model(x).float()
        p_adv = F.softmax(logits_adv, dim=1)
        wrong = p_adv.masked_fill(F.one_hot(y, p_adv.shape[1]).bool(), -1.0)
        bce = (
            F.cross_entropy(logits_adv, y) - torch.log(1.0001 - wrong.max(1).values + 1e-12).mean()
        )
        p_nat = F.softmax(logits_nat, dim=1)
        kl = (p_nat * (torch.log(p_nat + 1e-12) - F.log_softmax(logits_adv, dim=1))).sum(1)
        true_p = p_nat.gather(1, y[:, None]).squeeze(1)
        robust = (kl * (1.0000001 - true_p)).mean()
        loss = bce + self.beta * robust
        return StepOutput(loss, logits_adv.detach(), {"kl": float(robust.detach())})


def _factory(cls: type[AdversarialMethod]) -> Any:
    def build(**opts: Any) -> AdversarialMethod:
        return cls(**opts)

    build.__doc__ = cls.__doc__
    return build


METHODS.register("madry-at", _factory(MadryAT))
METHODS.register("fast-at", _factory(FastAT))
METHODS.register("mart", _factory(MART))
