"""Training objectives of the core methods and regularisers, registered in ``OBJECTIVES``.

Per-example objectives ``(logits (B, K), y (B,), **ctx) -> (B,)`` (see ``robustlab.core.losses``):

    focal             Lin et al. 2017 (softmax form): -(1 - p_y)^gamma log p_y, gamma = 2.
    label-relaxation  Lienen & Hüllermeier 2021: 0 once p_y >= 1 - alpha, else KL(q || p) to the
                      projection q of p onto {q : q_y >= 1 - alpha} (q detached), alpha = 0.1.
    ols               Zhang et al. 2021 (IEEE TIP), online label smoothing: CE against
                      alpha onehot(y) + (1 - alpha) S[y], S learnt per epoch (stateful).
    mart-bce          MART (Wang et al. 2020, eq. 6) boosted CE on the adversarial logits.
    mart-kl           MART's robust term KL(p(x) || p(x')) (1 - p_y(x)); needs ``logits_clean``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.losses import OBJECTIVES, Objective, as_float, cross_entropy


class Focal(Objective):
    """Focal loss per example: -(1 - p_y)^gamma log p_y (gamma = 0 is CE)."""

    name = "focal"

    def __init__(self, gamma: float = 2.0) -> None:
        self.gamma = float(gamma)

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        logp_y = -cross_entropy(logits, y, "none")
        return -((1 - logp_y.exp()) ** self.gamma) * logp_y


class LabelRelaxation(Objective):
    """Label relaxation per example (KL to the credal-set projection; 0 inside the set)."""

    name = "label-relaxation"

    def __init__(self, alpha: float = 0.1) -> None:
        if not 0.0 < float(alpha) < 1.0:
            raise ConfigError(f"label-relaxation alpha must be in (0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        # KL against a *probability* target q (not logits): the credal projection below.
        logp = F.log_softmax(as_float(logits), dim=1)
        p = logp.exp()
        onehot = F.one_hot(y, p.shape[1]).bool()
        with torch.no_grad():
            rest = (p.masked_fill(onehot, 0.0).sum(1, keepdim=True)).clamp_min(1e-12)
            q = torch.where(onehot, torch.full_like(p, 1 - self.alpha), self.alpha * p / rest)
        kl = (q * (torch.log(q.clamp_min(1e-12)) - logp)).sum(1)
        inside = p.gather(1, y[:, None]).squeeze(1) >= 1 - self.alpha
        return torch.where(inside, torch.zeros_like(kl), kl)


class OnlineLabelSmoothing(Objective):
    """Online label smoothing (Zhang et al., IEEE TIP 2021), the one implementation in robustlab.

    S (K x K, row c = soft label of class c) starts as 1 - ``smoothing`` on the diagonal and
    ``smoothing`` / (K - 1) elsewhere. During an epoch the predicted distributions of correctly
    classified training examples are accumulated per class (:meth:`update`); at the epoch's end
    (:meth:`next_epoch`) each row becomes their mean (a class without correct predictions keeps
    its row). The CE target is ``alpha onehot(y) + (1 - alpha) S[y]`` (= alpha CE_hard +
    (1 - alpha) CE_soft). Called as an objective it returns that CE (B,) and updates S with the
    softmax of the logits; a method with several heads (CTR's MDL) calls :meth:`target` and
    :meth:`update` itself. S, the sums and counts are checkpointed (``soft``, ``sums``, ``counts``).

    Args:
        alpha: Hard-label weight in [0, 1] (0.5 in the OLS paper).
        smoothing: Label smoothing of the first epoch's S, in [0, 1).
        num_classes: K; None = taken from the run in ``setup``.
    """

    name = "ols"

    def __init__(
        self, alpha: float = 0.5, smoothing: float = 0.1, num_classes: int | None = None
    ) -> None:
        if not 0.0 <= float(alpha) <= 1.0:
            raise ConfigError(f"ols alpha (hard-label weight) must be in [0, 1], got {alpha!r}")
        if not 0.0 <= float(smoothing) < 1.0:
            raise ConfigError(f"ols smoothing must be in [0, 1), got {smoothing!r}")
        self.alpha, self.smoothing = float(alpha), float(smoothing)
        self.soft = self.sums = self.counts = torch.zeros(0)
        if num_classes is not None:
            self.reset(num_classes)

    def reset(self, num_classes: int, device: torch.device | str | None = None) -> None:
        """Fresh tables for K = ``num_classes`` (>= 2) on ``device``."""
        k = int(num_classes)
        if k < 2:
            raise ConfigError(f"online label smoothing needs >= 2 classes, got {k}")
        self.soft = torch.full((k, k), self.smoothing / (k - 1), device=device)
        self.soft.fill_diagonal_(1 - self.smoothing)
        self.sums = torch.zeros_like(self.soft)
        self.counts = torch.zeros(k, device=device)

    def setup(self, model: nn.Module, ctx: Any) -> None:
        if self.soft.shape != (ctx.num_classes, ctx.num_classes):
            self.reset(ctx.num_classes, ctx.device)

    def target(self, y: Tensor) -> Tensor:
        """(B, K) CE target for labels ``y`` (B,)."""
        soft = self.soft.to(y.device)[y]
        hard = F.one_hot(y, soft.shape[1]).to(soft.dtype)
        return self.alpha * hard + (1.0 - self.alpha) * soft

    @torch.no_grad()
    def update(self, probs: Tensor, y: Tensor) -> None:
        """Accumulate the predicted distributions ``probs`` (B, K) of correctly classified examples."""
        ok = probs.argmax(dim=1) == y
        dev = self.sums.device
        p, yc = probs[ok].float().to(dev), y[ok].to(dev)
        self.sums.index_add_(0, yc, p)
        self.counts.index_add_(0, yc, torch.ones_like(yc, dtype=self.counts.dtype))

    def next_epoch(self) -> None:
        """Rows of classes seen correct this epoch become their mean prediction; sums reset."""
        seen = self.counts > 0
        self.soft[seen] = self.sums[seen] / self.counts[seen, None]
        self.sums.zero_()
        self.counts.zero_()

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        per_example = cross_entropy(logits, self.target(y), "none")
        self.update(as_float(logits.detach()).softmax(dim=1), y)
        return per_example

    def on_epoch_end(self, epoch: int, ctx: Any, model: nn.Module) -> None:
        self.next_epoch()

    def state_dict(self) -> dict[str, Any]:
        return {"soft": self.soft.clone(), "sums": self.sums.clone(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.soft.device
        self.soft, self.sums, self.counts = (
            state[k].to(dev).float().clone() for k in ("soft", "sums", "counts")
        )

    def __repr__(self) -> str:
        return f"OnlineLabelSmoothing(alpha={self.alpha}, smoothing={self.smoothing})"


class MARTBoostedCE(Objective):
    """MART's boosted CE per example: CE(f(x'), y) - log(1.0001 - max_{k != y} p_k(x') + 1e-12)."""

    name = "mart-bce"

    @staticmethod
    def _wrong(logits: Tensor, y: Tensor) -> Tensor:
        p_adv = F.softmax(as_float(logits), dim=1)
        return p_adv.masked_fill(F.one_hot(y, p_adv.shape[1]).bool(), -1.0)

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        wrong = self._wrong(logits, y)
        return cross_entropy(logits, y, "none") - torch.log(1.0001 - wrong.max(1).values + 1e-12)

    def loss(self, logits: Tensor, y: Tensor, reduction: str = "mean", **ctx: Any) -> Tensor:
        if reduction in ("mean", "batchmean"):
            # the reference's order of operations (and so of gradient accumulation)
            wrong = self._wrong(logits, y)
            ce = cross_entropy(logits, y)
            return ce - torch.log(1.0001 - wrong.max(1).values + 1e-12).mean()
        return super().loss(logits, y, reduction, **ctx)


class MARTKL(Objective):
    """MART's robust term per example: KL(p(x) || p(x')) * (1.0000001 - p_y(x)), with the
    reference's log(p + 1e-12) on the clean side; ``logits_clean`` (not detached) in ctx."""

    name = "mart-kl"

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        clean = ctx.get("logits_clean")
        if clean is None:
            raise ValueError("objective 'mart-kl' needs logits_clean (B, K) in its context")
        p_nat = F.softmax(as_float(clean), dim=1)
        # MART's reference adds 1e-12 inside the clean log: not the plain kl_div.
        kl = (p_nat * (torch.log(p_nat + 1e-12) - F.log_softmax(as_float(logits), dim=1))).sum(1)
        true_p = p_nat.gather(1, y[:, None]).squeeze(1)
        return kl * (1.0000001 - true_p)


for _cls in (Focal, LabelRelaxation, OnlineLabelSmoothing, MARTBoostedCE, MARTKL):
    OBJECTIVES.register(_cls.name, _cls)

__all__ = ["MARTKL", "Focal", "LabelRelaxation", "MARTBoostedCE", "OnlineLabelSmoothing"]
