"""Adversarial Weight Perturbation (Wu, Xia & Wang 2020): AT-AWP and TRADES-AWP (csdongxian/AWP).

Per step, after generating x':
1. copy the weights into a proxy network and take one SGD step (``proxy_lr``, no momentum) that
   *increases* the adversarial loss on the proxy (so BN statistics of the model are untouched);
2. per layer (parameters named ``*weight`` with dim > 1: conv and linear weights),
   v = ||w|| / (||w_proxy - w|| + 1e-20) * (w_proxy - w);
3. w <- w + gamma v, compute the loss and take the optimiser step on the perturbed model;
4. restore w <- w - gamma v after the step (``after_step``).
AWP starts once the 1-based epoch reaches ``warmup`` (TRADES-AWP: 10, AT-AWP: 0).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods.adversarial import MadryAT
from robustlab.core.train.methods.common import step_ctx, to_channels
from robustlab.core.train.methods.trades import TRADES


class _AWP:
    """Weight-perturbation mechanics shared by both AWP variants."""

    gamma: float
    warmup: int
    proxy_lr: float

    def _awp_setup(self, model: nn.Module) -> None:
        self._proxy = copy.deepcopy(model)
        self._proxy_opt = torch.optim.SGD(self._proxy.parameters(), lr=self.proxy_lr)
        self._diff: dict[str, Tensor] = {}

    def _active(self, ctx: StepContext) -> bool:
        return self.gamma > 0 and ctx.epoch + 1 >= self.warmup

    def _perturb(self, model: nn.Module, proxy_objective: Any) -> None:
        """Fit the proxy to *increase* ``proxy_objective(net)`` and move the model's weights."""
        proxy = self._proxy
        proxy.load_state_dict(model.state_dict())
        proxy.train()
        loss = -proxy_objective(proxy)
        self._proxy_opt.zero_grad(set_to_none=True)
        loss.backward()
        self._proxy_opt.step()
        proxy_params = dict(proxy.named_parameters())
        self._diff = {}
        with torch.no_grad():
            for name, w in model.named_parameters():
                if "weight" not in name or w.dim() <= 1:
                    continue
                d = proxy_params[name] - w
                self._diff[name] = w.norm() / (d.norm() + 1e-20) * d
                w.add_(self.gamma * self._diff[name])

    def _restore(self, model: nn.Module) -> None:
        with torch.no_grad():
            for name, w in model.named_parameters():
                if name in self._diff:
                    w.sub_(self.gamma * self._diff[name])
        self._diff = {}


class AWPAT(_AWP, MadryAT):
    """AT-AWP: PGD-10 (step 2/255, BN train mode), gamma 0.01, warm-up 0; the proxy maximises and
    the model minimises the reduced ``objective`` on f(x') (default CE, as Madry-AT's options)."""

    name = "awp-at"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **MadryAT.DEFAULTS,
        "gamma": 0.01,
        "warmup": 0,
        "proxy_lr": 0.01,
    }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        self._awp_setup(model)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = to_channels(self.generate(self._attack, model, x, y), x)
        kw = {**step_ctx(x, ctx), "x_adv": x_adv}

        def objective(net: nn.Module) -> Tensor:
            return self.objective_value("objective", net(x_adv), y, self.reduction, **kw)

        if self._active(ctx):
            self._perturb(model, objective)
        logits = model(x_adv)
        loss = self.objective_value("objective", logits, y, self.reduction, **kw)
        return StepOutput(loss, logits.detach(), self.objective_metrics())

    def after_step(self, model: nn.Module, ctx: StepContext) -> None:
        self._restore(model)


class AWPTRADES(_AWP, TRADES):
    """TRADES-AWP: TRADES KL attack (eps 8/255, step 2/255, 10 steps, BN eval), beta 6,
    gamma 0.005, warm-up 10 epochs; proxy loss = the TRADES loss on the proxy. All TRADES
    options (objectives, reduction, bn_order) apply to both the proxy and the model loss."""

    name = "awp-trades"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **TRADES.DEFAULTS,
        "eps": 8 / 255,
        "alpha": 2 / 255,
        "gamma": 0.005,
        "warmup": 10,
        "proxy_lr": 0.01,
    }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        self._awp_setup(model)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        x_adv = self.adversarial_batch(model, x, y)
        if self._active(ctx):
            self._perturb(model, lambda net: self.trades_loss(net, x, x_adv, y, ctx)[0])
        loss, logits, kl = self.trades_loss(model, x, x_adv, y, ctx)
        return StepOutput(loss, logits, {"kl": kl, **self.objective_metrics()})

    def after_step(self, model: nn.Module, ctx: StepContext) -> None:
        self._restore(model)


@METHODS.register("awp-at")
def _awp_at(**opts: Any) -> AWPAT:
    return AWPAT(**opts)


@METHODS.register("awp-trades")
def _awp_trades(**opts: Any) -> AWPTRADES:
    return AWPTRADES(**opts)
