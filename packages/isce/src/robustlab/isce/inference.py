"""The inference rule of I-SCE (sec. 3.2, last paragraph) as a model wrapper, for attacks on P_I.

By default robustlab attacks the model's plain logits (spec). ``InferenceSoftmax(model, s, m)``
instead returns ``log P_I(. | x)`` with s and m applied to the arg-max class (eqs. 2-3 at
inference), so every core attack, the evaluation harness and AutoAttack can attack P_I: their
cross entropy on these outputs is ``-log P_I(y|x)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.isce.losses import check_isce_params, inference_logits

__all__ = ["InferenceSoftmax"]


class InferenceSoftmax(nn.Module):
    """Wrap a classifier so that it outputs the log inference-softmax, eqs. (2)-(3).

    Args:
        model: Any module mapping x (B, C, H, W) in [0, 1] to logits (B, K).
        s: Scale (>= 1) applied to the arg-max class's logit.
        m: Margin (>= 0) added to the arg-max class's logit.

    Shapes: forward x (B, C, H, W) -> (B, K) log-probabilities (<= 0, logsumexp = 0). The
    arg-max equals the wrapped model's when ``(s - 1) * max_k f_k + m >= 0`` (always for s = 1).
    The arg-max index itself carries no gradient; gradients flow through the logits.
    """

    def __init__(self, model: nn.Module, s: float = 1.0, m: float = 0.1) -> None:
        super().__init__()
        self.s, self.m = check_isce_params(s, m)
        self.model = model

    @property
    def num_classes(self) -> int:
        return int(getattr(self.model, "num_classes"))  # noqa: B009 - attribute of a wrapped module

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> log P_I (B, K)."""
        return F.log_softmax(inference_logits(self.model(x), self.s, self.m), dim=1)

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}"
