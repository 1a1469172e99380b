"""Free-AT (Shafahi et al. 2019, "Adversarial training for free!").

Each minibatch is replayed ``m`` times; every replay takes one optimiser step and, from the same
backward pass, one signed step of size ``eps`` on a perturbation delta that persists across
replays *and* minibatches (it is only cropped to the batch size):

    L = reduce objective(f(x + delta), y);  theta <- opt step;
    delta <- clip_[-eps, eps](delta + step sign(dL/ddelta)), then clipped so x + delta is in [0, 1].

The perturbation ascends the gradient of the training loss itself, so the ``objective`` option
(default "ce", ``reduction`` "mean") is both the training and the attack objective; Free-AT has
no separate ``attack_objective``.

BN stays in train mode (reference). The engine calls ``loss`` ``replays`` times per batch; the
learning-rate schedule counts every replay as a step (locuslab ``train_free.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from robustlab.core.train.method import METHODS, StepContext, StepOutput, TrainContext
from robustlab.core.train.methods.common import COMMON, AdversarialMethod, step_ctx


class FreeAT(AdversarialMethod):
    """Free adversarial training; options ``eps`` (8/255), ``m`` replays (8), ``step`` (eps),
    ``objective`` ("ce"), ``reduction`` ("mean")."""

    name = "free-at"
    OBJECTIVE_OPTIONS: ClassVar[tuple[str, ...]] = ("objective",)
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **{k: v for k, v in COMMON.items() if k != "attack_objective"},
        "eps": 8 / 255,
        "m": 8,
        "step": None,
    }

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        if not isinstance(self.m, int) or self.m < 1:
            raise ValueError(f"free-at: m (minibatch replays) must be an int >= 1, got {self.m!r}")
        self.replays = self.m
        self._delta: Tensor | None = None
        self._x: Tensor | None = None

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        if self.step is None:
            self.step: float = self.eps
        self._device = ctx.device

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        if self._delta is None or self._delta.shape[1:] != x.shape[1:]:
            self._delta = torch.zeros((x.shape[0], *x.shape[1:]), device=x.device)
        if self._delta.shape[0] < x.shape[0]:
            pad = self._delta.new_zeros((x.shape[0] - self._delta.shape[0], *x.shape[1:]))
            self._delta = torch.cat([self._delta, pad])
        self._delta.requires_grad_(True)
        self._x = x
        x_adv = x + self._delta[: x.shape[0]].to(x.dtype)
        logits = model(x_adv)
        kw = step_ctx(x, ctx)
        loss = self.objective_value("objective", logits, y, self.reduction, x_adv=x_adv, **kw)
        return StepOutput(loss, logits.detach(), self.objective_metrics())

    def after_step(self, model: nn.Module, ctx: StepContext) -> None:
        delta, x = self._delta, self._x
        assert delta is not None and x is not None
        grad = delta.grad
        with torch.no_grad():
            if grad is not None:
                delta.add_(self.step * grad.sign()).clamp_(-self.eps, self.eps)
            b = x.shape[0]
            delta[:b] = torch.maximum(torch.minimum(delta[:b], 1.0 - x), -x)
        delta.grad = None
        self._x = None

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        if self._delta is not None:
            out["delta"] = self._delta.detach()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "delta" in state:
            self._delta = state["delta"].to(self._device).clone()


@METHODS.register("free-at")
def _free_at(**opts: Any) -> FreeAT:
    return FreeAT(**opts)
