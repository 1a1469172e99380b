"""CW-L2 (Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks", S&P 2017).

Minimises over w (tanh box constraint ``x' = (tanh(w) + 1) / 2``) with Adam::

    ||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j, -kappa)        (untargeted)
    ||x' - x||_2^2 + c * max(max_{j != t} z_j - z_t, -kappa)        (targeted, target t)

with a per-example binary search over c: c shrinks (bisection) after a success, grows x10 (or
bisects towards the known upper bound) after a failure. The smallest successful perturbation is
kept; examples never fooled return x. Early abort as torchattacks: every ``steps // 10`` steps the
total cost must not increase.

``stop_on_success=True`` is the accuracy-only mode (the attack's success rate is all that is
reported, as in robust-accuracy tables): an example leaves the optimisation, and every later
binary-search step, at its first successful iterate, which is returned instead of the smallest
successful one; the rows still running are compacted so each step costs only what is left. Whether
an example is fooled is then exactly what the full attack decides (it counts an example as fooled
as soon as any iterate succeeds) when ``abort_early`` is off; with ``abort_early`` on, the total
cost that decides the abort sums over the rows still running, so aborts can happen at other steps.
Needs ``eps = inf`` (a bound applied afterwards would make the first success matter).
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
        stop_on_success: Accuracy-only mode (see the module docstring): an example stops at its
            first successful iterate and leaves the batch. Default False (minimal-norm attack).
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
        stop_on_success: bool = False,
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
        self.stop_on_success = bool(stop_on_success)
        if self.stop_on_success and math.isfinite(self.eps):
            raise ValueError(
                f"cw-l2: stop_on_success needs eps=inf (got eps={self.eps}); the first "
                "successful iterate may lie outside a finite bound. Drop eps or stop_on_success."
            )

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
        done = torch.zeros(n, dtype=torch.bool, device=x.device)
        for _ in range(self.binary_search_steps):
            rows = (~done).nonzero().flatten() if self.stop_on_success else None
            if rows is not None and len(rows) == 0:
                break
            success = self._search_step(model, x, y, ctx, w0, c, best_l2, best_adv, rows)
            done |= success
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
        rows: Tensor | None = None,
    ) -> Tensor:
        """Run Adam for one value of c; update best_l2/best_adv in place; return success (B,).

        ``rows`` (A,) restricts the step to those examples and drops each one at its first success
        (``stop_on_success``); None runs every example for the whole step.
        """
        success = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        ids = torch.arange(len(x), device=x.device) if rows is None else rows
        xs, ys, cs, sub = x[ids], y[ids], c[ids], self.sub_ctx(ctx, ids)
        w = w0[ids].clone()
        opt = Adam(w, lr=self.lr)
        prev = math.inf
        check_every = max(self.steps // 10, 1)
        for step in range(self.steps):
            leaf = w.detach().requires_grad_(True)
            adv = (torch.tanh(leaf) + 1) / 2
            l2 = (adv - xs).pow(2).flatten(1).sum(1)
            logits = model(adv)
            cost = (l2 + cs * self._f(logits.float(), ys, sub)).sum()
            (grad,) = torch.autograd.grad(cost, leaf)
            opt.step(grad)
            with torch.no_grad():
                hit = self.fooled(logits, ys, sub)
                better = hit & (l2 < best_l2[ids])
                best_l2[ids[better]] = l2[better]
                best_adv[ids[better]] = adv[better].detach()
                success[ids[hit]] = True
            if rows is not None and bool(hit.any()):
                keep = (~hit).nonzero().flatten()
                if len(keep) == 0:
                    break
                ids, xs, ys, cs = ids[keep], xs[keep], ys[keep], cs[keep]
                sub = self.sub_ctx(sub, keep)
                w = opt.keep(keep)
            if self.abort_early and step % check_every == 0:
                if cost.item() > prev:
                    break
                prev = cost.item()
        return success


@ATTACKS.register("cw-l2")
def _cw_l2(**kwargs: Any) -> CWL2:
    return CWL2(**kwargs)
