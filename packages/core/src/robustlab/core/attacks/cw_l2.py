"""CW-L2 (Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017).

Minimises over w (tanh box constraint ``x' = (tanh(w) + 1) / 2``) with Adam::

    ||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j, -kappa)        (untargeted)
    ||x' - x||_2^2 + c * max(max_{j != t} z_j - z_t, -kappa)        (targeted, target t)

with a per-example binary search over c: c shrinks (bisection) after a success, grows x10 (or
bisects towards the known upper bound) after a failure. The smallest successful perturbation is
kept; examples never fooled return x. Early abort as torchattacks: every ``steps // 10`` steps the
total cost must not increase.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks._adam import Adam
from robustlab.core.attacks.base import ATTACKS, Attack, _check_number, check_positive_int
from robustlab.core.attacks.losses import cw_margin_loss

_BOX = 0.999999  # keeps atanh finite at pixels equal to 0 or 1 (Carlini & Wagner's constant)


class CWL2(Attack):
    """Carlini-Wagner L2 attack with binary search over c.

    Args:
        eps: Optional L2 bound applied to the result (default inf: the minimal-norm attack).
        c: Initial trade-off constant (> 0); default 1.0.
        kappa: Confidence margin (>= 0); default 0.
        steps: Adam steps per binary-search step (>= 1); default 50.
        lr: Adam learning rate (> 0); default 0.01.
        binary_search_steps: Number of c values tried per example (>= 1); default 1.
        abort_early: Stop a search step when the cost stops decreasing (default True).
        **kwargs: ``targeted``, ``target``, ``seed``, ``autocast`` (norm is always "L2").

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "cw-l2"
    kind = "optimization"
    norms = ("L2",)

    def __init__(
        self,
        eps: float = float("inf"),
        c: float = 1.0,
        kappa: float = 0.0,
        steps: int = 50,
        lr: float = 0.01,
        binary_search_steps: int = 1,
        abort_early: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("norm", "L2")
        super().__init__(eps, **kwargs)
        _check_number("c", c, low=0.0, strict=True, allow_inf=False)
        _check_number("kappa", kappa, low=0.0, strict=False, allow_inf=False)
        _check_number("lr", lr, low=0.0, strict=True, allow_inf=False)
        check_positive_int("steps", steps)
        check_positive_int("binary_search_steps", binary_search_steps)
        self.c, self.kappa, self.steps, self.lr = float(c), float(kappa), steps, float(lr)
        self.binary_search_steps = binary_search_steps
        self.abort_early = bool(abort_early)

    def _f(self, logits: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        if self.targeted:  # max_{j != t} z_j - z_t
            return cw_margin_loss(logits, ctx["y_target"]).clamp(min=-self.kappa)
        return (-cw_margin_loss(logits, y)).clamp(min=-self.kappa)  # z_y - max_{j != y} z_j

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        n = len(x)
        w0 = torch.atanh((2 * x - 1) * _BOX)
        c = torch.full((n,), self.c, device=x.device)
        lower = torch.zeros(n, device=x.device)
        upper = torch.full((n,), math.inf, device=x.device)
        best_l2 = torch.full((n,), math.inf, device=x.device)
        best_adv = x.clone()
        for _ in range(self.binary_search_steps):
            success = self._search_step(model, x, y, ctx, w0, c, best_l2, best_adv)
            upper = torch.where(success, torch.minimum(upper, c), upper)
            lower = torch.where(success, lower, torch.maximum(lower, c))
            c = torch.where(torch.isinf(upper), c * 10, (lower + upper) / 2)
        return best_adv

    def _search_step(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        ctx: dict[str, Any],
        w0: Tensor,
        c: Tensor,
        best_l2: Tensor,
        best_adv: Tensor,
    ) -> Tensor:
        """Run Adam for one value of c; update best_l2/best_adv in place; return success (B,)."""
        w = w0.clone()
        opt = Adam(w, lr=self.lr)
        success = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        prev = math.inf
        check_every = max(self.steps // 10, 1)
        for step in range(self.steps):
            leaf = w.detach().requires_grad_(True)
            adv = (torch.tanh(leaf) + 1) / 2
            l2 = (adv - x).pow(2).flatten(1).sum(1)
            logits = model(adv)
            cost = (l2 + c * self._f(logits.float(), y, ctx)).sum()
            (grad,) = torch.autograd.grad(cost, leaf)
            opt.step(grad)
            with torch.no_grad():
                hit = self.fooled(logits, y, ctx)
                better = hit & (l2 < best_l2)
                best_l2[better] = l2[better]
                best_adv[better] = adv[better]
                success |= hit
            if self.abort_early and step % check_every == 0:
                if cost.item() > prev:
                    break
                prev = cost.item()
        return success


@ATTACKS.register("cw-l2")
def _cw_l2(**kwargs: Any) -> CWL2:
    return CWL2(**kwargs)
