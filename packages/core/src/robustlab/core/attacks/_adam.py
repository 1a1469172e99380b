"""A minimal Adam for attack variables (CW-L2, SPSA).

Kingma & Ba, ICLR 2015: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
``theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``. Written out because the first
``torch.optim`` step imports the compiler stack (seconds) and attacks need no param groups.
"""

from __future__ import annotations

import torch
from torch import Tensor


class Adam:
    """Adam on one tensor, updated in place; ``step(grad)`` descends along ``grad``."""

    def __init__(
        self, param: Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, grad: Tensor) -> None:
        """One descent step ``param -= lr * m_hat / (sqrt(v_hat) + eps)``."""
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v / (1 - b2**self.t)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1**self.t))

    def keep(self, rows: Tensor) -> Tensor:
        """Keep only the rows ``rows`` (first dim) of the parameter and its moments; return it.

        Adam is element-wise, so the kept rows continue exactly as if the others were still there.
        """
        self.param, self.m, self.v = self.param[rows], self.m[rows], self.v[rows]
        return self.param
