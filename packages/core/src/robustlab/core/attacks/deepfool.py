"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016), L2, batched.

At each step, for every still-correct example with logits f and Jacobian rows w_k = grad f_k::

    l   = argmin_{k != y} |f_k - f_y| / ||w_k - w_y||_2
    r   = |f_l - f_y| / ||w_l - w_y||_2^2 * (w_l - w_y)
    x  <- clip_[0,1](x + (1 + overshoot) * r)

until the prediction changes or ``steps`` is reached (overshoot applied per step, as torchattacks).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks.base import ATTACKS, Attack, _check_number, check_positive_int, view_b


class DeepFool(Attack):
    """DeepFool L2 (untargeted; the ``loss`` argument is not used).

    Args:
        eps: Optional L2 bound applied to the result (default inf: minimal perturbation).
        steps: Maximum iterations (>= 1); default 50.
        overshoot: Overshoot factor (>= 0); default 0.02.
        num_candidates: Only the top ``num_candidates`` classes of the clean logits are considered
            (None: all classes). Each step costs one backward per considered class.
        **kwargs: ``seed``, ``autocast`` (norm is always "L2").

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "deepfool"
    kind = "optimization"
    norms = ("L2",)

    def __init__(
        self,
        eps: float = float("inf"),
        steps: int = 50,
        overshoot: float = 0.02,
        num_candidates: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("norm", "L2")
        if kwargs.get("targeted"):
            raise ValueError("targeted must be False: DeepFool is an untargeted attack")
        super().__init__(eps, **kwargs)
        check_positive_int("steps", steps)
        _check_number("overshoot", overshoot, low=0.0, strict=False, allow_inf=False)
        if num_candidates is not None:
            check_positive_int("num_candidates", num_candidates, minimum=2)
        self.steps, self.overshoot, self.num_candidates = steps, float(overshoot), num_candidates

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        logits_clean = ctx["logits_clean"]
        k = logits_clean.shape[1] if self.num_candidates is None else self.num_candidates
        k = min(k, logits_clean.shape[1])
        # candidate classes per example: y first, then the other top classes of the clean logits
        ranked = logits_clean.masked_fill(
            torch.nn.functional.one_hot(y, logits_clean.shape[1]).bool(), float("inf")
        ).argsort(dim=1, descending=True)[:, :k]
        x_adv = x.clone()
        active = torch.arange(len(x), device=x.device)
        for _ in range(self.steps):
            leaf = x_adv[active].detach().requires_grad_(True)
            logits = model(leaf).float()
            still = logits.argmax(1) == y[active]
            if not bool(still.any()):
                break
            cand = ranked[active]
            f = logits.gather(1, cand)  # (n, k), column 0 is the true class
            grads = [
                torch.autograd.grad(f[:, j].sum(), leaf, retain_graph=j < k - 1)[0]
                for j in range(k)
            ]
            with torch.no_grad():
                jac = torch.stack(grads, dim=1)  # (n, k, C, H, W)
                f_diff = (f[:, 1:] - f[:, :1]).detach()
                w_diff = jac[:, 1:] - jac[:, :1]
                w_norm = w_diff.flatten(2).norm(dim=2) + 1e-12
                best = (f_diff.abs() / w_norm).argmin(dim=1)
                rows = torch.arange(len(best), device=x.device)
                w_l = w_diff[rows, best]
                scale = (f_diff.abs()[rows, best] + 1e-4) / w_norm[rows, best] ** 2
                r = view_b(scale * (1 + self.overshoot), w_l) * w_l
                upd = active[still]
                x_adv[upd] = (x_adv[upd] + r[still]).clamp_(0.0, 1.0)
            active = upd
        return x_adv


@ATTACKS.register("deepfool")
def _deepfool(**kwargs: Any) -> DeepFool:
    return DeepFool(**kwargs)
