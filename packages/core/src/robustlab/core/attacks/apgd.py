"""APGD: Auto-PGD with the AutoAttack reference schedule (Croce & Hein, "Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks", ICML 2020, Alg. 1).

Schedule for ``N = steps`` iterations: step size starts at ``2 eps``; checkpoints every ``k`` steps,
``k`` starting at ``max(0.22 N, 1)`` and shrinking by ``max(0.03 N, 1)`` to at least
``max(0.06 N, 1)``. At a checkpoint an example's step size is halved (and it restarts from its best
point) if its loss increased in at most ``rho * k`` of the last ``k`` steps (oscillation, rho = 0.75)
or if neither the step size was halved at the previous checkpoint nor the best loss improved since.
Update with momentum 0.75 (none at the first step)::

    z_{t+1}  = P(x_t + eta_t * d(grad_t))                  d = sign (Linf) or grad/||grad||_2 (L2)
    x_{t+1}  = P(x_t + 0.75 (z_{t+1} - x_t) + 0.25 (x_t - x_{t-1}))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks.base import (
    ATTACKS,
    Attack,
    check_positive_int,
    l2_normalize,
    lp_norm,
    project,
    view_b,
)

_MOMENTUM = 0.75


class APGD(Attack):
    """Auto-PGD (Linf, L2) with any loss; targeted over the top classes as APGD-T.

    Args:
        eps: Radius (>= 0); default 8/255.
        steps: Iterations per run (>= 1); default 100.
        restarts: Random restarts, each on the examples still not fooled (default 1).
        rho: Oscillation threshold of the step-size schedule (default 0.75).
        n_target_classes: Targeted mode without explicit ``y_target``: attack the 2nd, 3rd, ...
            most likely clean classes in turn (default 9, as in AutoAttack's APGD-T).
        loss: "ce", "dlr" (targeted: the targeted DLR), or any loss/callable (see ``LOSSES``).
        **kwargs: ``norm`` ("Linf"|"L2"), ``targeted``, ``seed``, ``autocast``, ``early_stop``.
            Fooled examples are always skipped by later restarts/targets; with ``early_stop`` an
            example also stops within a run at its first fooling iterate and leaves the batch
            (without it, the run goes on and returns its last fooling iterate).

    Success means misclassification (also for APGD-T, as in AutoAttack).
    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W). Fooled examples return the
    last fooling iterate; the others return their highest-loss iterate.
    """

    name = "apgd"
    kind = "iterative"
    early_stop_support = True

    def __init__(
        self,
        eps: float = 8 / 255,
        steps: int = 100,
        restarts: int = 1,
        *,
        rho: float = 0.75,
        n_target_classes: int = 9,
        **kwargs: Any,
    ) -> None:
        super().__init__(eps, **kwargs)
        check_positive_int("steps", steps)
        check_positive_int("restarts", restarts)
        check_positive_int("n_target_classes", n_target_classes)
        if not 0.0 < rho <= 1.0:
            raise ValueError(f"rho must be in (0, 1], got {rho!r}")
        self.steps = steps
        self.restarts = restarts
        self.rho = float(rho)
        self.n_target_classes = n_target_classes

    def choose_targets(self, y: Tensor, logits_clean: Tensor) -> Tensor | None:  # type: ignore[override]
        """No fixed target: APGD-T iterates over the top clean classes in ``_perturb``."""
        return None

    def fooled(self, logits: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        """Misclassification (B,), also in targeted mode: AutoAttack's robustness criterion."""
        return logits.argmax(dim=1) != y

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        gen = self.generator(x.device)
        x_out = x.clone()
        fooled = self.fooled(ctx["logits_clean"], y, ctx)
        best_loss = torch.full((len(x),), -float("inf"), device=x.device)
        if self.targeted and ctx.get("y_target") is None:
            ranked = ctx["logits_clean"].argsort(dim=1, descending=True)
            k = min(self.n_target_classes, ranked.shape[1] - 1)
            targets = [ranked[:, i] for i in range(1, k + 1)]
        else:
            targets = [ctx.get("y_target")]
        for target in targets:
            for _ in range(self.restarts):
                todo = (~fooled).nonzero().squeeze(1)
                if todo.numel() == 0:
                    return x_out
                sub = self.sub_ctx(ctx, todo)
                if target is not None:
                    sub["y_target"] = target[todo]
                adv, hit, x_best, loss = self._single_run(model, x[todo], y[todo], sub, gen)
                fooled[todo[hit]] = True
                x_out[todo[hit]] = adv[hit]
                better = ~hit & (loss > best_loss[todo])
                x_out[todo[better]] = x_best[better]
                best_loss[todo[better]] = loss[better]
        return x_out

    # ------------------------------------------------------------------ one APGD run
    def _start(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        if self.norm == "Linf":
            t = 2 * torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) - 1
            t = t / view_b(lp_norm(t, "Linf") + 1e-12, t)
        else:
            t = l2_normalize(torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype))
        return (x + self.eps * t).clamp_(0.0, 1.0)

    def _move(self, x_adv: Tensor, x: Tensor, grad: Tensor, step: Tensor, prev: Tensor, a: float):
        direction = grad.sign() if self.norm == "Linf" else l2_normalize(grad)
        z = project(x_adv + view_b(step, x) * direction, x, self.eps, self.norm)
        return project(x_adv + a * (z - x_adv) + (1 - a) * (x_adv - prev), x, self.eps, self.norm)

    def _single_run(
        self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any], gen: Any
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        n = self.steps
        k = max(int(0.22 * n), 1)
        k_min, k_decr = max(int(0.06 * n), 1), max(int(0.03 * n), 1)
        x_adv = self._start(x, gen)
        grad, logits, loss = self.loss_and_grad(model, x_adv, y, ctx)
        fooled = self.fooled(logits, y, ctx)
        x_fool = x_adv.clone()
        x_best, grad_best, loss_best = x_adv.clone(), grad.clone(), loss.clone()
        step = torch.full((len(x),), 2.0 * self.eps, device=x.device, dtype=x.dtype)
        x_prev = x_adv.clone()
        loss_steps = torch.zeros(n, len(x), device=x.device)
        loss_best_last = loss_best.clone()
        reduced_last = torch.ones(len(x), dtype=torch.bool, device=x.device)
        counter = 0
        # early stop: fooled examples keep their first fooling iterate and leave the batch; every
        # per-example tensor below is compacted to the rows still running (``idx`` maps them back)
        idx = torch.arange(len(x), device=x.device)
        best_out, loss_out = x_best.clone(), loss_best.clone()
        hit = fooled
        for i in range(n + 1):
            if self.early_stop and bool(hit.any()):
                keep = (~hit).nonzero().squeeze(1)
                best_out[idx[hit]], loss_out[idx[hit]] = x_best[hit], loss_best[hit]
                idx = idx[keep]
                if idx.numel() == 0:
                    return x_fool, fooled, best_out, loss_out
                x, y, ctx, x_adv, x_prev, grad = (
                    x[keep],
                    y[keep],
                    self.sub_ctx(ctx, keep),
                    x_adv[keep],
                    x_prev[keep],
                    grad[keep],
                )
                x_best, grad_best, loss_best, step = (
                    x_best[keep],
                    grad_best[keep],
                    loss_best[keep],
                    step[keep],
                )
                loss_steps, loss_best_last = loss_steps[:, keep], loss_best_last[keep]
                reduced_last = reduced_last[keep]
            if i == n:
                break
            with torch.no_grad():
                x_new = self._move(x_adv, x, grad, step, x_prev, _MOMENTUM if i > 0 else 1.0)
                x_prev, x_adv = x_adv, x_new
            grad, logits, loss = self.loss_and_grad(model, x_adv, y, ctx)
            with torch.no_grad():
                hit = self.fooled(logits, y, ctx)
                if self.early_stop:
                    x_fool[idx[hit]] = x_adv[hit]
                    fooled[idx[hit]] = True
                else:
                    x_fool[hit] = x_adv[hit]
                    fooled |= hit
                loss_steps[i] = loss
                better = loss > loss_best
                x_best[better], grad_best[better] = x_adv[better], grad[better]
                loss_best = torch.where(better, loss, loss_best)
                counter += 1
                if counter < k:
                    continue
                # Checkpoint: count loss increases over the last k steps (index -1 wraps to the
                # still-zero last row at the first checkpoint, as in the reference code).
                ups = sum((loss_steps[i - c] > loss_steps[i - c - 1]).float() for c in range(k))
                reduce = (ups <= k * self.rho) | (~reduced_last & (loss_best_last >= loss_best))
                reduced_last, loss_best_last = reduce, loss_best.clone()
                step[reduce] /= 2.0
                x_adv[reduce], grad[reduce] = x_best[reduce], grad_best[reduce]
                k, counter = max(k - k_decr, k_min), 0
        if not self.early_stop:
            return x_fool, fooled, x_best, loss_best
        best_out[idx], loss_out[idx] = x_best, loss_best
        return x_fool, fooled, best_out, loss_out


@ATTACKS.register("apgd-ce")
def _apgd_ce(**kwargs: Any) -> APGD:
    kwargs.setdefault("loss", "ce")
    return APGD(**kwargs)


@ATTACKS.register("apgd-dlr")
def _apgd_dlr(**kwargs: Any) -> APGD:
    kwargs.setdefault("loss", "dlr")
    return APGD(**kwargs)


@ATTACKS.register("apgd-t")
def _apgd_t(**kwargs: Any) -> APGD:
    kwargs.setdefault("loss", "dlr")
    kwargs.setdefault("targeted", True)
    return APGD(**kwargs)
