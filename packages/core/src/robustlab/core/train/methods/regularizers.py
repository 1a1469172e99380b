"""Regularisation baselines of the CTR paper, each with its original paper's defaults.

Model-level (configure the model through ``model_overrides``; loss = CE):
    dropout      Srivastava et al. 2014: dropout before the classifier, p = 0.5.
    dropconnect  Wan et al. 2013: drops classifier weights, p = 0.5.
    msd          Inoue 2019, multi-sample dropout: K = 8 dropout samples (p = 0.5) over one shared
                 classifier; loss = mean_k CE(z^(k), y).
    dropblock    Ghiasi et al. 2018: contiguous blocks on the last conv stage's maps,
                 drop_prob 0.1, block_size 7, drop_prob ramped linearly from 0 over training.
    disout       Tang et al. 2020 (feature-map distortion) on the last conv stage: dist_prob 0.09,
                 block_size 6, alpha 5 (the authors' CIFAR ResNet settings).
Loss-level:
    label-smoothing   Szegedy et al. 2016, smoothing 0.1.
    focal             Lin et al. 2017 (softmax form), FL = -(1 - p_y)^gamma log p_y, gamma = 2.
    label-relaxation  Lienen & Hüllermeier 2021, alpha = 0.1.
    ols               Zhang et al. 2021, online label smoothing, alpha = 0.5 (see ``OLS``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.train.method import (
    METHODS,
    Method,
    StepContext,
    StepOutput,
    TrainContext,
    check_options,
)


class _Configured(Method):
    """A method with keyword options merged over ``DEFAULTS`` (unknown ones rejected)."""

    DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init__(self, **opts: Any) -> None:
        check_options(self.name, opts, self.DEFAULTS)
        for k, v in {**self.DEFAULTS, **opts}.items():
            setattr(self, k, v)

    def __getattr__(self, name: str) -> Any:
        """Options are set from ``DEFAULTS`` in ``__init__``; anything else does not exist."""
        raise AttributeError(f"{type(self).__name__} has no option or attribute {name!r}")


class HeadDrop(_Configured):
    """Dropout / DropConnect on the classifier: a one-sample ``MultiSampleDropoutHead``."""

    DEFAULTS: ClassVar[dict[str, Any]] = {"p": 0.5}
    kind = "dropout"

    def model_overrides(self) -> dict[str, Any]:
        return {"head": "msd", "head_opts": {"k": 1, "p": float(self.p), "drop": self.kind}}


class Dropout(HeadDrop):
    name = "dropout"


class DropConnect(HeadDrop):
    name = "dropconnect"
    kind = "dropconnect"


class MultiSampleDropout(_Configured):
    """Multi-sample dropout: L = (1/K) sum_k CE(W drop_k(f(x)) + b, y)."""

    name = "msd"
    DEFAULTS: ClassVar[dict[str, Any]] = {"k": 8, "p": 0.5, "drop": "dropout"}

    def model_overrides(self) -> dict[str, Any]:
        return {
            "head": "msd",
            "head_opts": {"k": int(self.k), "p": float(self.p), "drop": self.drop},
        }

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        head: Any = model.head
        features: Any = model.features
        samples = head.forward_samples(features(x)).float()  # (K, B, C)
        k, b, c = samples.shape
        loss = F.cross_entropy(samples.reshape(k * b, c), y.repeat(k))
        return StepOutput(loss, samples.mean(0).detach())


class MapDrop(_Configured):
    """DropBlock / Disout on the last convolutional stage (``models.build(map_drop=...)``)."""

    prob_key = "drop_prob"

    def model_overrides(self) -> dict[str, Any]:
        opts = {
            k: v for k, v in vars(self).items() if k in self.DEFAULTS and k not in ("ramp", "after")
        }
        if self.after is not None:
            opts["after"] = self.after
        return {"map_drop": {"kind": self.name, **opts}}

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        from robustlab.core.models.map_drop import MapDropHook

        self._ops = [
            h.op
            for m in model.modules()
            for h in m._forward_hooks.values()
            if isinstance(h, MapDropHook)
        ]
        self._total = ctx.epochs * ctx.steps_per_epoch

    def before_step(self, model: nn.Module, ctx: StepContext) -> None:
        if not self.ramp:
            return
        value = float(getattr(self, self.prob_key)) * min(1.0, (ctx.step + 1) / self._total)
        for op in self._ops:
            setattr(op, self.prob_key, value)


class DropBlockMethod(MapDrop):
    name = "dropblock"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "drop_prob": 0.1,
        "block_size": 7,
        "ramp": True,
        "after": None,
    }


class DisoutMethod(MapDrop):
    name = "disout"
    prob_key = "dist_prob"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "dist_prob": 0.09,
        "block_size": 6,
        "alpha": 5.0,
        "ramp": False,
        "after": None,
    }


class LabelSmoothing(_Configured):
    """CE against (1 - s) one-hot + s / K uniform."""

    name = "label-smoothing"
    DEFAULTS: ClassVar[dict[str, Any]] = {"smoothing": 0.1}

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        logits = model(x).float()
        return StepOutput(
            F.cross_entropy(logits, y, label_smoothing=float(self.smoothing)), logits.detach()
        )


class Focal(_Configured):
    """Focal loss: mean_i -(1 - p_{i,y})^gamma log p_{i,y}."""

    name = "focal"
    DEFAULTS: ClassVar[dict[str, Any]] = {"gamma": 2.0}

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        logits = model(x).float()
        logp_y = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
        loss = (-((1 - logp_y.exp()) ** float(self.gamma)) * logp_y).mean()
        return StepOutput(loss, logits.detach())


class LabelRelaxation(_Configured):
    """Label relaxation: zero loss once p_y >= 1 - alpha, else KL(q || p) to the projection q of p
    onto the credal set {q : q_y >= 1 - alpha}: q_y = 1 - alpha, q_k = alpha p_k / (1 - p_y) (q detached)."""

    name = "label-relaxation"
    DEFAULTS: ClassVar[dict[str, Any]] = {"alpha": 0.1}

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        logits = model(x).float()
        logp = F.log_softmax(logits, dim=1)
        p = logp.exp()
        onehot = F.one_hot(y, p.shape[1]).bool()
        with torch.no_grad():
            rest = (p.masked_fill(onehot, 0.0).sum(1, keepdim=True)).clamp_min(1e-12)
            q = torch.where(onehot, torch.full_like(p, 1 - self.alpha), self.alpha * p / rest)
        kl = (q * (torch.log(q.clamp_min(1e-12)) - logp)).sum(1)
        inside = p.gather(1, y[:, None]).squeeze(1) >= 1 - self.alpha
        return StepOutput(torch.where(inside, torch.zeros_like(kl), kl).mean(), logits.detach())


class OLS(_Configured):
    """Online label smoothing: L = alpha CE(z, y) + (1 - alpha) mean_i -sum_k S[k, y_i] log p_ik.

    S (K x K, column c = soft label of class c) starts as (1 - 0.1) on the diagonal and 0.1/(K-1)
    elsewhere; during an epoch the predicted distributions of correctly classified training
    examples are accumulated per class, and at the epoch's end each column becomes their mean
    (a class without correct predictions keeps its column). S is checkpointed for exact resume.
    """

    name = "ols"
    DEFAULTS: ClassVar[dict[str, Any]] = {"alpha": 0.5, "smoothing": 0.1}

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        k = ctx.num_classes
        self.soft = torch.full((k, k), self.smoothing / (k - 1), device=ctx.device)
        self.soft.fill_diagonal_(1 - self.smoothing)
        self._sum = torch.zeros_like(self.soft)
        self._count = torch.zeros(k, device=ctx.device)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        logits = model(x).float()
        logp = F.log_softmax(logits, dim=1)
        soft = -(self.soft[:, y].t() * logp).sum(1).mean()
        loss = self.alpha * F.nll_loss(logp, y) + (1 - self.alpha) * soft
        with torch.no_grad():
            p = logp.exp()
            ok = p.argmax(1) == y
            self._sum.index_add_(1, y[ok], p[ok].t())
            self._count.index_add_(0, y[ok], torch.ones_like(y[ok], dtype=self._count.dtype))
        return StepOutput(loss, logits.detach())

    def on_epoch_end(self, epoch: int, ctx: TrainContext, model: nn.Module) -> None:
        seen = self._count > 0
        self.soft[:, seen] = self._sum[:, seen] / self._count[seen]
        self._sum.zero_()
        self._count.zero_()

    def state_dict(self) -> dict[str, Any]:
        return {"soft": self.soft, "sum": self._sum, "count": self._count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.soft.device
        self.soft, self._sum, self._count = (
            state[k].to(dev).clone() for k in ("soft", "sum", "count")
        )


for _cls in (
    Dropout,
    DropConnect,
    MultiSampleDropout,
    DropBlockMethod,
    DisoutMethod,
    LabelSmoothing,
    Focal,
    LabelRelaxation,
    OLS,
):
    METHODS.register(_cls.name, _cls)
