"""CTR training methods on core's engine (registered in ``robustlab.core.train.METHODS``).

Natural training with CTR (section 4.1, Tables 1-4):

* ``ctr/mdl`` -- MDL (eq. 6) on a multi-sample-dropout head: one backbone forward, K dropout
  samples of the head (``MultiSampleDropoutHead.forward_samples``). Options: ``K``, ``p``,
  ``rho``, ``eta``, ``diversity`` ("cosine" | "pearson"), ``drop`` ("dropout" | "dropconnect"),
  ``label_smoothing``, ``ols`` (online label smoothing as the CE target), ``ols_alpha``.
* ``ctr/mdl-pcc`` -- MDL with the Pearson diversity (eq. 27-28).
* ``ctr/dc-mdl``, ``ctr/ls-mdl``, ``ctr/ols-mdl`` -- Table 2's combinations.

Adversarial training with CTR (section 4.2, Tables 5, 6, 8, 9) lives in :mod:`robustlab.ctr.at`.

The method overrides the model's head through ``model_overrides`` (``head="msd"``), so a run
config only names the backbone. The backbone is left as it is (MNISTNet keeps its FC dropout),
exactly as for core's ``dropout``/``msd`` baselines, so MDL and its baselines differ only in the
head and the loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.train import (
    METHODS,
    Method,
    StepContext,
    StepOutput,
    TrainContext,
    check_options,
)
from robustlab.ctr.losses import MDLoss

__all__ = ["MDLMethod", "OnlineLabelSmoothing"]

DROPS = ("dropout", "dropconnect")


class OnlineLabelSmoothing:
    """Class-wise soft targets of online label smoothing (Zhang et al., IEEE TIP 2021).

    During epoch t the soft target of class c is the mean predicted distribution of the training
    examples of class c that were classified correctly in epoch t-1 (the first epoch uses label
    smoothing with ``smoothing``). The CE target is ``alpha * onehot(y) + (1 - alpha) * S[y]``,
    which makes the CE ``alpha * CE_hard + (1 - alpha) * CE_soft`` as in the OLS paper.

    Args:
        num_classes: C.
        alpha: Weight of the hard label in [0, 1] (0.5 in the OLS paper).
        smoothing: Label smoothing of the first epoch's soft targets, in [0, 1).
    """

    def __init__(self, num_classes: int, alpha: float = 0.5, smoothing: float = 0.1) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"ols_alpha must be in [0, 1], got {alpha!r}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"ols smoothing must be in [0, 1), got {smoothing!r}")
        C = int(num_classes)
        self.alpha = float(alpha)
        off = smoothing / (C - 1)
        self.soft = torch.full((C, C), off) + torch.eye(C) * (1.0 - smoothing - off)
        self.sums = torch.zeros(C, C)
        self.counts = torch.zeros(C)

    def target(self, y: Tensor) -> Tensor:
        """(B, C) CE target for labels ``y`` (B,)."""
        soft = self.soft.to(y.device)[y]
        hard = F.one_hot(y, soft.shape[1]).to(soft.dtype)
        return self.alpha * hard + (1.0 - self.alpha) * soft

    @torch.no_grad()
    def update(self, probs: Tensor, y: Tensor) -> None:
        """Accumulate the predicted distributions ``probs`` (B, C) of correct examples."""
        correct = probs.argmax(dim=1) == y
        p, yc = probs[correct].float().cpu(), y[correct].cpu()
        self.sums.index_add_(0, yc, p)
        self.counts.index_add_(0, yc, torch.ones_like(yc, dtype=torch.float32))

    def next_epoch(self) -> None:
        """Replace the soft targets by the past epoch's means (classes never correct keep theirs)."""
        seen = self.counts > 0
        self.soft[seen] = self.sums[seen] / self.counts[seen, None]
        self.sums.zero_()
        self.counts.zero_()

    def state_dict(self) -> dict[str, Any]:
        return {"soft": self.soft.clone(), "sums": self.sums.clone(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.soft = state["soft"].clone().float()
        self.sums = state["sums"].clone().float()
        self.counts = state["counts"].clone().float()


class MDLMethod(Method):
    """Natural training with the mask-guided divergence loss (eq. 6).

    Args:
        K: Sub-networks (dropout samples of the head), >= 2; paper 4.
        p: Drop rate of the head's dropout (or DropConnect) in [0, 1); paper 0.5.
        rho: Orthogonal-term weight >= 0; paper 1.
        eta: Mask percentile in (0, 100]; paper: MNIST 100, FashionMNIST 90, CIFAR-10 100,
            CIFAR-100 70.
        diversity: "cosine" (MDL) or "pearson" (MDL-PCC).
        drop: "dropout" or "dropconnect" (Table 2's DC+MDL).
        label_smoothing: LS of the CE term (Table 2's LS+MDL), in [0, 1).
        ols: Online label smoothing targets for the CE term (Table 2's OLS+MDL).
        ols_alpha: OLS hard-label weight.
    """

    name = "ctr/mdl"

    def __init__(
        self,
        K: int = 4,
        p: float = 0.5,
        rho: float = 1.0,
        eta: float = 100.0,
        diversity: str = "cosine",
        drop: str = "dropout",
        label_smoothing: float = 0.0,
        ols: bool = False,
        ols_alpha: float = 0.5,
    ) -> None:
        if drop not in DROPS:
            raise ConfigError(f"drop must be one of {DROPS} for ctr/mdl, got {drop!r}")
        if not 0.0 <= float(p) < 1.0:
            raise ConfigError(f"p (head drop rate) must be in [0, 1), got {p!r}")
        if ols and label_smoothing:
            raise ConfigError("choose label_smoothing or ols for the CE target, not both")
        self.criterion = MDLoss(K, rho, eta, diversity, label_smoothing)
        self.K, self.p, self.rho, self.eta = int(K), float(p), float(rho), float(eta)
        self.diversity, self.drop = diversity, drop
        self.label_smoothing, self.ols, self.ols_alpha = (
            float(label_smoothing),
            bool(ols),
            ols_alpha,
        )
        self._ols: OnlineLabelSmoothing | None = None

    def model_overrides(self) -> dict[str, Any]:
        return {
            "head": "msd",
            "head_opts": {"k": self.K, "p": self.p, "drop": self.drop},
        }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        head = getattr(model, "head", None)
        if not hasattr(head, "forward_samples") or getattr(head, "k", None) != self.K:
            raise ConfigError(
                f"ctr/mdl needs a multi-sample dropout head with k={self.K}; build the model with "
                f"head='msd', head_opts={{'k': {self.K}}} (the method's model_overrides do this)"
            )
        if self.ols:
            self._ols = OnlineLabelSmoothing(ctx.num_classes, self.ols_alpha)

    def on_epoch_start(self, epoch: int, ctx: TrainContext) -> None:
        if self._ols is not None and epoch > 0:
            self._ols.next_epoch()

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        net: Any = model  # a core Classifier with a MultiSampleDropoutHead (checked in setup)
        logits_k = net.head.forward_samples(net.features(x))  # (K, B, C)
        target = self._ols.target(y) if self._ols is not None else None
        terms = self.criterion.terms(logits_k, y, target)
        loss = (terms.ce + self.rho * terms.mask * terms.diversity).mean()
        logits = logits_k.detach().float().mean(dim=0)
        if self._ols is not None:
            self._ols.update(logits_k.detach().float().softmax(-1).mean(dim=0), y)
        metrics = {
            "ce": float(terms.ce.detach().mean()),
            "diversity": float(terms.diversity.detach().mean()),
            "mask_frac": float(terms.mask.mean()),
        }
        return StepOutput(loss, logits, metrics)

    def state_dict(self) -> dict[str, Any]:
        """Flat tensors (``ols_soft``, ``ols_sums``, ``ols_counts``) for exact resume."""
        if self._ols is None:
            return {}
        return {f"ols_{k}": v for k, v in self._ols.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._ols is not None and "ols_soft" in state:
            self._ols.load_state_dict({k: state[f"ols_{k}"] for k in ("soft", "sums", "counts")})


_VALID = {
    "K": 4,
    "p": 0.5,
    "rho": 1.0,
    "eta": 100.0,
    "diversity": "cosine",
    "drop": "dropout",
    "label_smoothing": 0.0,
    "ols": False,
    "ols_alpha": 0.5,
}


def _factory(name: str, fixed: dict[str, Any], doc: str) -> None:
    def build(**opts: Any) -> MDLMethod:
        check_options(name, opts, {k: v for k, v in _VALID.items() if k not in fixed})
        method = MDLMethod(**{**opts, **fixed})
        method.name = name
        return method

    build.__doc__ = doc
    build.__name__ = build.__qualname__ = name.replace("/", "_").replace("-", "_")
    if name not in METHODS:
        METHODS.register(name, build)


def register() -> None:
    """Register the MDL methods (idempotent)."""
    _factory("ctr/mdl", {}, "MDL (CTR eq. 6) on a K-sample dropout head.")
    _factory("ctr/mdl-pcc", {"diversity": "pearson"}, "MDL-PCC (CTR eq. 27-28).")
    _factory("ctr/dc-mdl", {"drop": "dropconnect"}, "DropConnect + MDL (CTR Table 2).")
    _factory("ctr/ls-mdl", {"label_smoothing": 0.1}, "Label smoothing (0.1) + MDL (Table 2).")
    _factory("ctr/ols-mdl", {"ols": True}, "Online label smoothing + MDL (CTR Table 2).")


register()
