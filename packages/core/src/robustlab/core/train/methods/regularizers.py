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
    ols               Zhang et al. 2021, online label smoothing, alpha = 0.5.
The loss-level ones are ``natural`` training with an objective of ``train.objectives``
(``Natural(objective=Focal(gamma))``...); their state (OLS's S) is the objective's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from robustlab.core.losses import CrossEntropy, cross_entropy
from robustlab.core.train.method import (
    METHODS,
    Method,
    StepContext,
    StepOutput,
    TrainContext,
    check_options,
)
from robustlab.core.train.methods.natural import Natural
from robustlab.core.train.objectives import Focal, LabelRelaxation, OnlineLabelSmoothing


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
        loss = cross_entropy(samples.reshape(k * b, c), y.repeat(k))
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

        super().setup(model, ctx)
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


def _natural_with(name: str, make: Any, defaults: dict[str, Any], doc: str) -> None:
    """Register ``name`` as natural training with the objective ``make(**options)``."""

    def build(**opts: Any) -> Natural:
        check_options(name, opts, defaults)
        return Natural(name=name, objective=make(**{**defaults, **opts}))

    build.__doc__ = doc
    METHODS.register(name, build)


_natural_with(
    "label-smoothing",
    lambda smoothing: CrossEntropy(label_smoothing=smoothing),
    {"smoothing": 0.1},
    "CE against (1 - s) one-hot + s / K uniform (``smoothing`` s = 0.1).",
)
_natural_with("focal", Focal, {"gamma": 2.0}, "Focal loss: mean -(1 - p_y)^gamma log p_y.")
_natural_with(
    "label-relaxation",
    LabelRelaxation,
    {"alpha": 0.1},
    "Label relaxation: KL to the projection onto {q : q_y >= 1 - alpha}, 0 inside.",
)
_natural_with(
    "ols",
    OnlineLabelSmoothing,
    {"alpha": 0.5, "smoothing": 0.1},
    "Online label smoothing: CE against alpha onehot(y) + (1 - alpha) S[y], S learnt per epoch.",
)

for _cls in (
    Dropout,
    DropConnect,
    MultiSampleDropout,
    DropBlockMethod,
    DisoutMethod,
):
    METHODS.register(_cls.name, _cls)
