"""The shared iterative gradient core of FGSM, FGSM-RS, BIM, PGD (Linf/L2), MI-FGSM and CW-Linf.

One step (Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks")::

    g_t     = grad_x L(f(x_t), y)                      (torch.autograd.grad w.r.t. the input only)
    m_t     = g_t / mean|g_t| + mu * m_{t-1}           (MI-FGSM momentum, only when decay mu > 0)
    x_{t+1} = Proj_{B_eps(x) ∩ [0,1]^d}(x_t + alpha * d_t),
              d_t = sign(m_t) for Linf,  m_t / ||m_t||_2 for L2

with an optional random start, restarts keeping the worst case per example (a fooled example beats
an unfooled one, then the larger objective wins) and per-example early stopping, which freezes
examples as soon as the forward pass of a step shows them fooled and drops them from later forwards
(the check reuses the step's logits, no extra forward).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks.base import (
    Attack,
    _check_number,
    check_positive_int,
    l2_normalize,
    project,
    view_b,
)

INITS = ("uniform", "normal")


class IterativeAttack(Attack):
    """Iterative first-order attack with sign (Linf) or L2-normalised steps.

    Args:
        eps: Radius of the threat model (pixel space, >= 0).
        alpha: Step size (> 0).
        steps: Number of gradient steps (>= 1).
        random_start: Start from a random point of the eps-ball instead of ``x``.
        init: Random start distribution: "uniform" (uniform in the Linf ball; for L2 a random
            direction with radius U(0, eps), as torchattacks) or "normal"
            (``x + init_std * N(0, 1)``, the TRADES start).
        init_std: Standard deviation of the "normal" start.
        restarts: Number of random restarts (>= 1); later restarts only run on examples that are
            still not fooled, keeping the worst case per example.
        decay: Momentum factor mu of MI-FGSM (0 disables momentum).
        **kwargs: ``norm``, ``targeted``, ``target``, ``loss``, ``early_stop``, ``seed``,
            ``autocast`` (see ``Attack``).
    """

    name = "iterative"
    kind = "iterative"
    early_stop_support = True

    def __init__(
        self,
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 10,
        random_start: bool = True,
        *,
        init: str = "uniform",
        init_std: float = 0.001,
        restarts: int = 1,
        decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(eps, **kwargs)
        _check_number("alpha", alpha, low=0.0, strict=True, allow_inf=False)
        check_positive_int("steps", steps)
        check_positive_int("restarts", restarts)
        _check_number("decay", decay, low=0.0, strict=False, allow_inf=False)
        _check_number("init_std", init_std, low=0.0, strict=False, allow_inf=False)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.alpha = float(alpha)
        self.steps = steps
        self.random_start = bool(random_start)
        self.init = init
        self.init_std = float(init_std)
        self.restarts = restarts
        self.decay = float(decay)

    # ------------------------------------------------------------------ restarts
    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        gen = self.generator(x.device)
        x_best = self._run(model, x, y, ctx, gen)
        if self.restarts == 1:
            return x_best
        with torch.no_grad():
            logits = model(x_best)
            best_fooled = self.fooled(logits, y, ctx)
            best_obj = self.objective(logits, y, ctx)
        for _ in range(self.restarts - 1):
            todo = (~best_fooled).nonzero().squeeze(1)
            if todo.numel() == 0:
                break
            sub = self.sub_ctx(ctx, todo)
            x_r = self._run(model, x[todo], y[todo], sub, gen)
            with torch.no_grad():
                logits = model(x_r)
                fooled = self.fooled(logits, y[todo], sub)
                obj = self.objective(logits, y[todo], sub)
            better = fooled | (obj > best_obj[todo])
            idx = todo[better]
            x_best[idx] = x_r[better]
            best_fooled[idx] = fooled[better]
            best_obj[idx] = obj[better]
        return x_best

    # ------------------------------------------------------------------ one run
    def _start(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        if not self.random_start or self.eps == 0.0:
            return x.clone()
        if self.init == "normal":
            noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            return project(x + self.init_std * noise, x, self.eps, self.norm)
        if self.norm == "Linf":
            noise = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            return (x + (2.0 * noise - 1.0) * self.eps).clamp_(0.0, 1.0)
        direction = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        radius = torch.rand(x.shape[0], generator=gen, device=x.device, dtype=x.dtype)
        delta = l2_normalize(direction) * view_b(radius * self.eps, x)
        return (x + delta).clamp_(0.0, 1.0)

    def _direction(self, grad: Tensor, momentum: Tensor | None) -> Tensor:
        if momentum is not None:
            grad = grad / view_b(grad.abs().reshape(len(grad), -1).mean(dim=1) + 1e-12, grad)
            grad.add_(momentum, alpha=self.decay)
            momentum.copy_(grad)
        if self.norm == "Linf":
            return grad.sign_()
        return l2_normalize(grad)

    def _step(self, x_adv: Tensor, x: Tensor, direction: Tensor, bounds: tuple[Tensor, Tensor]):
        x_adv.add_(direction, alpha=self.alpha)
        if self.norm == "Linf":
            return x_adv.clamp_(min=bounds[0], max=bounds[1])
        return project(x_adv, x, self.eps, "L2")

    def _run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        ctx: dict[str, Any],
        gen: torch.Generator | None,
    ) -> Tensor:
        x_adv = self._start(x, gen)
        bounds = ((x - self.eps).clamp_(min=0.0), (x + self.eps).clamp_(max=1.0))
        momentum = torch.zeros_like(x) if self.decay > 0 else None
        if not self.early_stop:
            for _ in range(self.steps):
                grad, _, _ = self.loss_and_grad(model, x_adv, y, ctx)
                with torch.no_grad():
                    x_adv = self._step(x_adv, x, self._direction(grad, momentum), bounds)
            return x_adv
        return self._run_early_stop(model, x, y, ctx, x_adv, bounds, momentum)

    def _run_early_stop(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        ctx: dict[str, Any],
        x_adv: Tensor,
        bounds: tuple[Tensor, Tensor],
        momentum: Tensor | None,
    ) -> Tensor:
        """The iteration on a shrinking batch: an example whose forward pass at iterate t shows it
        fooled keeps iterate t and leaves the batch. The per-example tensors (iterate, clean input,
        bounds, momentum) live in one stacked buffer (P, B, ...), so dropping the fallen rows is a
        single gather and later forwards and backwards cost only what is still active."""
        out = x_adv  # (B, ...): rows are written when their example falls, the rest at the end
        parts = [x_adv, x, bounds[0], bounds[1]] + ([momentum] if momentum is not None else [])
        buf = torch.stack(parts)
        idx = torch.arange(len(x), device=x.device)
        ya, ca = y, ctx
        for _ in range(self.steps):
            xa, xc, lo, hi = buf[0], buf[1], buf[2], buf[3]
            mom = buf[4] if momentum is not None else None
            grad, logits, _ = self.loss_and_grad(model, xa, ya, ca)
            fell = self.fooled(logits, ya, ca)
            any_fell = bool(fell.any())
            if any_fell:
                out[idx[fell]] = xa[fell]
            with torch.no_grad():  # every row steps (in place), then the fallen ones are dropped
                stepped = self._step(xa, xc, self._direction(grad, mom), (lo, hi))
                if stepped is not xa:
                    xa.copy_(stepped)
            if any_fell:
                keep = (~fell).nonzero().squeeze(1)
                if keep.numel() == 0:
                    return out
                idx, buf, ya, ca = idx[keep], buf[:, keep], ya[keep], self.sub_ctx(ca, keep)
        out[idx] = buf[0]
        return out
