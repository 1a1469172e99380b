"""SPSA attack (Uesato et al., "Adversarial Risk and the Dangers of Evaluating Against Weak
Attacks", ICML 2018): gradient-free, Adam on a finite-difference gradient estimate.

For each step, with ``samples`` Rademacher directions v_s in {-1, 1}^d (antithetic pairs)::

    g_hat = mean_s  (L(x' + delta v_s) - L(x' - delta v_s)) / (2 delta) * v_s

then an Adam ascent step with learning rate ``lr`` on the perturbation and a projection onto the
eps-ball and [0, 1]. Only forward passes (no gradients) are used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks._adam import Adam
from robustlab.core.attacks.base import (
    ATTACKS,
    Attack,
    _check_number,
    check_positive_int,
    project,
)


class SPSA(Attack):
    """Simultaneous Perturbation Stochastic Approximation attack.

    Args:
        eps: Radius (>= 0); default 8/255.
        steps: Adam iterations (>= 1); default 10.
        lr: Adam learning rate (> 0); default 0.01.
        delta: Finite-difference step (> 0); default 0.01.
        samples: Directions per step (>= 1); default 128.
        chunk: Directions evaluated per forward pass (memory knob); default 32.
        **kwargs: ``norm``, ``targeted``, ``target``, ``loss`` (default "cw" margin, as in the
            paper), ``early_stop`` (an example misclassified before a step keeps
            that iterate and leaves the batch: the cost falls with the examples still standing),
            ``seed``, ``autocast``.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "spsa"
    kind = "black-box"
    early_stop_support = True

    def __init__(
        self,
        eps: float = 8 / 255,
        steps: int = 10,
        lr: float = 0.01,
        delta: float = 0.01,
        samples: int = 128,
        chunk: int = 32,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("loss", "cw")
        super().__init__(eps, **kwargs)
        check_positive_int("steps", steps)
        check_positive_int("samples", samples)
        check_positive_int("chunk", chunk)
        _check_number("lr", lr, low=0.0, strict=True, allow_inf=False)
        _check_number("delta", delta, low=0.0, strict=True, allow_inf=False)
        self.steps, self.lr, self.delta = steps, float(lr), float(delta)
        self.samples, self.chunk = samples, chunk

    def _estimate(
        self, model: nn.Module, x_adv: Tensor, y: Tensor, ctx: dict[str, Any], gen: Any
    ) -> Tensor:
        n = len(x_adv)
        grad = torch.zeros_like(x_adv)
        done = 0
        while done < self.samples:
            s = min(self.chunk, self.samples - done)
            v = torch.randint(0, 2, (s, *x_adv.shape), generator=gen, device=x_adv.device)
            v = v.to(x_adv.dtype).mul_(2).sub_(1)
            both = torch.cat([x_adv + self.delta * v, x_adv - self.delta * v]).flatten(0, 1)
            reps = 2 * s
            rep_ctx = {
                k: val.repeat(reps, *([1] * (val.dim() - 1)))
                if isinstance(val, Tensor) and val.dim() > 0
                else val
                for k, val in ctx.items()
            }
            with torch.no_grad():
                obj = self.objective(model(both), y.repeat(reps), rep_ctx).reshape(2, s, n)
            diff = (obj[0] - obj[1]) / (2 * self.delta)  # (s, n)
            grad += (diff.reshape(s, n, *([1] * (x_adv.dim() - 1))) * v).sum(0)
            done += s
        return grad / self.samples

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        gen = self.generator(x.device)
        if self.early_stop:
            return self._run_early_stop(model, x, y, ctx, gen)
        pert = torch.zeros_like(x)
        opt = Adam(pert, lr=self.lr)
        for _ in range(self.steps):
            g = self._estimate(model, x + pert, y, ctx, gen)
            opt.step(-g)  # Adam descends; the objective is maximised
            with torch.no_grad():
                pert.copy_(project(x + pert, x, self.eps, self.norm) - x)
        return (x + pert).detach()

    def _run_early_stop(
        self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any], gen: Any
    ) -> Tensor:
        """The iteration on a shrinking batch: before each step one forward pass finds the
        examples already misclassified; they keep that iterate and leave the batch, so the
        ``2 * samples`` forward passes of the gradient estimate are spent only on the examples
        still standing. Adam is element-wise, so a kept row steps exactly as it would beside the
        dropped ones; only the random directions (drawn for the rows still present) differ from
        a run without early stop."""
        out = x.clone()
        idx = torch.arange(len(x), device=x.device)
        xa, ya, ca = x, y, ctx
        opt = Adam(torch.zeros_like(x), lr=self.lr)
        for _ in range(self.steps):
            with torch.no_grad():
                x_adv = xa + opt.param
                fell = self.fooled(model(x_adv), ya, ca)
            if bool(fell.any()):
                out[idx[fell]] = x_adv[fell]
                keep = (~fell).nonzero().squeeze(1)
                if keep.numel() == 0:
                    return out
                idx, xa, ya, ca = idx[keep], xa[keep], ya[keep], self.sub_ctx(ca, keep)
                x_adv = x_adv[keep]
                opt.keep(keep)
            g = self._estimate(model, x_adv, ya, ca, gen)
            opt.step(-g)
            with torch.no_grad():
                opt.param.copy_(project(xa + opt.param, xa, self.eps, self.norm) - xa)
        out[idx] = xa + opt.param
        return out


@ATTACKS.register("spsa")
def _spsa(**kwargs: Any) -> SPSA:
    return SPSA(**kwargs)
