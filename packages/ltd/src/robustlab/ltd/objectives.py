"""The soft-label term of eq. 28 as a core training objective, ``ltd/soft-ce``.

``LTDSoftCE(tau)`` is the first term of the LTD student loss (Chen & Lee, arXiv:2111.02331,
eq. 28): ``-sum_k q_k log softmax(z_student(x))_k`` with ``q = softmax(z_teacher(x) / tau)``.
Core's TRADES / TRADES-AWP supply the second term (``beta`` x KL(p(x) || p(x')), eq. 26), so
``trades`` with ``objective={"name": "ltd/soft-ce", "tau": 5}`` *is* eq. 28 with lam = beta.

The teacher is the run dependency ``needs={"teacher": <natural run>}``, loaded once in
``setup`` with :func:`robustlab.core.train.load_need` (eval mode, frozen). Its logits are
computed on the fly on the clean batch ``x`` the method passes (decision 7 of the README), or
once for the whole training split and looked up by ``StepContext.index`` (``labels="cached"``;
equal to on-the-fly only without data augmentation, which Fashion-MNIST runs do not use).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.losses import OBJECTIVES, Objective
from robustlab.core.losses import cross_entropy as core_cross_entropy
from robustlab.ltd.labels import teacher_logits
from robustlab.ltd.losses import check_tau, soft_labels

__all__ = ["LABEL_MODES", "LTDSoftCE"]

#: How the teacher's logits are obtained.
LABEL_MODES = ("on-the-fly", "cached")


class LTDSoftCE(Objective):
    """Soft-label cross-entropy against the frozen teacher at temperature ``tau`` (eq. 28, term 1).

    Args:
        tau: Teacher temperature > 0 (``inf``: uniform targets). The student's temperature is 1.
        labels: "on-the-fly" (teacher forward on every batch) or "cached" (teacher logits of the
            whole training split computed once in ``setup``, looked up by training index).
        role: The run dependency holding the teacher (``TrainConfig.needs`` key).

    Call:
        ``obj(logits (B, K), y (B,), x=(B, C, H, W) clean batch, index=(B,) | None)`` ->
        per-example (B,) loss >= 0. ``y`` is unused (the teacher replaces the one-hot label).
        Gradient flows to ``logits`` only; the teacher never receives gradient.
    """

    name = "ltd/soft-ce"

    def __init__(self, tau: float = 5.0, labels: str = "on-the-fly", role: str = "teacher") -> None:
        self.tau = check_tau(float(tau))
        if labels not in LABEL_MODES:
            raise ConfigError(f"ltd/soft-ce: labels must be one of {LABEL_MODES}, got {labels!r}")
        self.labels, self.role = labels, str(role)
        self.teacher: nn.Module | None = None
        self._cache: Tensor | None = None
        self._last: float = math.nan

    def setup(self, model: nn.Module, ctx: Any) -> None:
        """Load the teacher (and, with ``labels="cached"``, its logits on the training split)."""
        from robustlab.core.train import load_need

        self.teacher = load_need(ctx, self.role)
        if self.labels == "cached":
            self._cache = _training_logits(self.teacher, ctx)

    def modules(self) -> dict[str, nn.Module]:
        return {}  # the teacher is a dependency run, reloaded on resume; not copied per student

    def target(self, x: Tensor | None, index: Tensor | None) -> Tensor:
        """The soft labels q (B, K) in [0, 1] for the clean batch ``x`` / training ``index``."""
        if self.teacher is None:
            raise ConfigError(
                "ltd/soft-ce has no teacher: it runs inside a training method whose run declares "
                "needs={'teacher': <finished natural run>} (setup loads it)"
            )
        if self.labels == "cached":
            if index is None or self._cache is None:
                raise ConfigError(
                    "ltd/soft-ce labels='cached' needs StepContext.index; use labels='on-the-fly'"
                )
            z = self._cache[index.to(self._cache.device)]
        else:
            if x is None:
                raise ConfigError("ltd/soft-ce needs the clean batch x in the objective's context")
            z = teacher_logits(self.teacher, x)
        return soft_labels(z, self.tau)

    def __call__(
        self,
        logits: Tensor,
        y: Tensor,
        *,
        x: Tensor | None = None,
        index: Tensor | None = None,
        **ctx: Any,
    ) -> Tensor:
        q = self.target(x, index).to(logits.device)
        per_example = core_cross_entropy(logits.float(), q, reduction="none")
        self._last = float(per_example.detach().mean())
        return per_example

    def metrics(self) -> dict[str, float]:
        return {} if math.isnan(self._last) else {"soft_ce": self._last}

    def __repr__(self) -> str:
        return f"LTDSoftCE(tau={self.tau}, labels={self.labels!r})"


def _training_logits(teacher: nn.Module, ctx: Any) -> Tensor:
    """Teacher logits (N, K) on the run's training split, in ``StepContext.index`` order.

    Raises:
        ConfigError: the run augments its data (cached labels would be those of the
            un-augmented images; use ``labels="on-the-fly"``).
    """
    from robustlab.core.train.build import prepare_data

    data = prepare_data(ctx.config)
    if data.augment is not None and data.augment.active:
        raise ConfigError(
            "ltd/soft-ce labels='cached' with data augmentation would give the teacher's labels "
            "of the un-augmented images; use labels='on-the-fly' or augment=False"
        )
    x = data.train.x
    out = [teacher_logits(teacher, x[i : i + 512].to(ctx.device)) for i in range(0, len(x), 512)]
    return torch.cat(out)


@OBJECTIVES.register("ltd/soft-ce")
def _soft_ce(tau: float = 5.0, labels: str = "on-the-fly", role: str = "teacher") -> LTDSoftCE:
    return LTDSoftCE(tau=tau, labels=labels, role=role)
