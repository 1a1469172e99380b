"""I-SCE and its competitors as core training methods (``isce/...``) and objectives.

Every method here is core ``natural`` training (``robustlab.core.train.methods.natural``) with an
objective of ``robustlab.core.losses.OBJECTIVES`` and, through ``model_overrides``, the head the
objective belongs to. The head options are recorded in the model's ``build_config`` (models
``isce/<base>``, :mod:`robustlab.isce.models`), so every method needs an ``isce/...`` model.

=====================  ==========================================  ===============================
method                 loss (per example, batch mean)              head (``classifier``)
=====================  ==========================================  ===============================
isce/sce               CE (eq. 1)                                  linear (or 3-D embedding)
isce/isce              I-SCE, eq. 4: CE with f_y -> s f_y + m      isce (normalize, embed_dim)
isce/center            CE + lam ||f - c_y||^2 / 2 (Wen 2016)       linear (centres: extra module)
isce/lgm               L-GM (Wan 2018): CE(z'), z'_y=(1+a) z_y     lgm (learned means)
                       - lam z_y
isce/arcface           ArcFace (Deng 2019), scale 16, margin 0.5   normalized (cosine)
isce/mmc               MMC (Pang 2020): ||e - mu*_y||^2 / 2        mmc (fixed centres, C_MM 10)
isce/label-smoothing   CE to (1 - eps) onehot + eps / K            linear
isce/random            CE; Xie 2018 resize-and-pad at test time    linear + defence "random"
isce/at                L2 PGD-AT (Madry 2018): CE(f(x')),          linear
                       x' = L2 PGD-10 (paper: eps 0.02, 10 it.)
=====================  ==========================================  ===============================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.losses import OBJECTIVES, reduce
from robustlab.core.train import METHODS
from robustlab.core.train.method import StepContext, StepOutput, TrainContext, check_options
from robustlab.core.train.methods.adversarial import MadryAT
from robustlab.core.train.methods.natural import Natural
from robustlab.isce.competitors import ArcFaceLoss, CenterLoss, LGMLoss, MMCLoss
from robustlab.isce.heads import NORMALIZE_MODES
from robustlab.isce.losses import check_isce_params, isce_loss

__all__ = [
    "ArcFaceObjective",
    "CenterNatural",
    "HeadNatural",
    "ISCEObjective",
    "L2MadryAT",
    "LGMObjective",
    "MMCObjective",
]


# ---------------------------------------------------------------------------------- objectives
class ISCEObjective:
    """I-SCE, eq. 4: ``-log P_I(y|x)`` per example; logits (B, K), y (B,) -> (B,) >= 0."""

    name = "isce/isce"

    def __init__(self, s: float = 1.0, m: float = 0.1) -> None:
        self.s, self.m = check_isce_params(s, m)

    def __call__(self, logits: Tensor, y: Tensor) -> Tensor:
        return isce_loss(logits, y, self.s, self.m, reduction="none")

    def __repr__(self) -> str:
        return f"ISCEObjective(s={self.s}, m={self.m})"


class _ModuleObjective:
    """A phase-1 loss module with ``reduction="none"`` as a per-example objective (B,)."""

    name = ""

    def __init__(self, loss: nn.Module) -> None:
        self.fn = loss

    def __call__(self, logits: Tensor, y: Tensor) -> Tensor:
        return self.fn(logits, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fn.extra_repr()})"


class LGMObjective(_ModuleObjective):
    """L-GM loss on :class:`~robustlab.isce.heads.LGMHead` logits (all <= 0)."""

    name = "isce/lgm"

    def __init__(self, alpha: float = 0.1, lam: float = 0.1) -> None:
        super().__init__(LGMLoss(alpha=alpha, lam=lam, reduction="none"))


class MMCObjective(_ModuleObjective):
    """MMC loss ``||e - mu*_y||^2 / 2 = -z_y`` on :class:`~robustlab.isce.heads.MMCHead` logits."""

    name = "isce/mmc"

    def __init__(self) -> None:
        super().__init__(MMCLoss(reduction="none"))


class ArcFaceObjective(_ModuleObjective):
    """ArcFace on cosine logits ``scale * cos(theta)`` of core's ``NormalizedLinearHead``."""

    name = "isce/arcface"

    def __init__(self, scale: float = 16.0, margin: float = 0.5) -> None:
        super().__init__(ArcFaceLoss(scale=scale, margin=margin, reduction="none"))


for _cls in (ISCEObjective, LGMObjective, MMCObjective, ArcFaceObjective):
    OBJECTIVES.register(_cls.name, _cls)  # names() would load the plugins (this module) again


# ------------------------------------------------------------------------------------ methods
class HeadNatural(Natural):
    """Natural training with an objective and the head it needs (``model_overrides``)."""

    def __init__(self, name: str, objective: Any, overrides: dict[str, Any]) -> None:
        super().__init__(name=name, objective=objective)
        self._overrides = dict(overrides)

    def model_overrides(self) -> dict[str, Any]:
        """``classifier`` / ``classifier_opts`` / ``defence`` options of the ``isce/...`` model."""
        return dict(self._overrides)


def _embedding(embed_dim: Any) -> dict[str, Any]:
    return {} if embed_dim is None else {"embed_dim": int(embed_dim)}


def _register(
    name: str,
    defaults: dict[str, Any],
    make: Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]],
    doc: str,
) -> None:
    def factory(**opts: Any) -> HeadNatural:
        check_options(name, opts, defaults)
        objective, overrides = make({**defaults, **opts})
        return HeadNatural(name, objective, overrides)

    factory.__doc__ = doc
    METHODS.register(name, factory)


def _isce(o: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    if o["normalize"] not in NORMALIZE_MODES:
        raise ConfigError(
            f"isce/isce: normalize must be one of {NORMALIZE_MODES}, got {o['normalize']!r}"
        )
    head = {"normalize": o["normalize"], **_embedding(o["embed_dim"])}
    return ISCEObjective(o["s"], o["m"]), {"classifier": "isce", "classifier_opts": head}


def _sce(o: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    if o["embed_dim"] is None:
        return "ce", {"classifier": "linear"}
    head = {"normalize": "none", **_embedding(o["embed_dim"])}
    return "ce", {"classifier": "isce", "classifier_opts": head}


_register(
    "isce/isce",
    {"s": 1.0, "m": 0.1, "normalize": "features", "embed_dim": None},
    _isce,
    "I-SCE (eq. 4), s 1, m 0.1, L2 normalisation 'features' | 'logits' | 'none' (sec. 3.2).",
)
_register("isce/sce", {"embed_dim": None}, _sce, "SCE (plain CE); embed_dim 3 for Fig. 9.")
_register(
    "isce/lgm",
    {"alpha": 0.1, "lam": 0.1, "embed_dim": None},
    lambda o: (
        LGMObjective(o["alpha"], o["lam"]),
        {"classifier": "lgm", "classifier_opts": _embedding(o["embed_dim"])},
    ),
    "L-GM (Wan et al. 2018), identity covariances, margin alpha 0.1, likelihood weight lam 0.1.",
)
_register(
    "isce/mmc",
    {"c_mm": 10.0, "embed_dim": None},
    lambda o: (
        MMCObjective(),
        {
            "classifier": "mmc",
            "classifier_opts": {"c_mm": float(o["c_mm"]), **_embedding(o["embed_dim"])},
        },
    ),
    "MMC (Pang et al. 2020): fixed Max-Mahalanobis centres of norm C_MM 10.",
)
_register(
    "isce/arcface",
    {"scale": 16.0, "margin": 0.5},
    lambda o: (
        ArcFaceObjective(o["scale"], o["margin"]),
        {"classifier": "normalized", "classifier_opts": {"scale": float(o["scale"])}},
    ),
    "ArcFace (Deng et al. 2019) on a cosine head, scale 16, additive angular margin 0.5.",
)
_register(
    "isce/label-smoothing",
    {"eps": 0.1},
    lambda o: ({"name": "ce", "label_smoothing": float(o["eps"])}, {"classifier": "linear"}),
    "Label smoothing: CE against (1 - eps) one-hot + eps / K, eps 0.1.",
)
_register(
    "isce/random",
    {"max_size": None, "mode": "nearest"},
    lambda o: (
        "ce",
        {
            "classifier": "linear",
            "defence": "random",
            "defence_opts": {"max_size": o["max_size"], "mode": o["mode"]},
        },
    ),
    "SCE model behind Xie et al.'s random resize-and-pad (active at test time only).",
)


class CenterNatural(Natural):
    """CE + center loss (Wen et al. 2016): ``L = mean_i [CE(z_i, y_i) + lam ||f_i - c_{y_i}||^2 / 2]``.

    The centres c (K, D) live in a :class:`CenterLoss` module (an extra, checkpointed module;
    its buffer is updated by Wen's eq. 4 with rate ``alpha`` after every step's loss).
    """

    CENTER_DEFAULTS: ClassVar[dict[str, Any]] = {"lam": 0.003, "alpha": 0.5}
    lam: float
    alpha: float

    def __init__(self, **opts: Any) -> None:
        check_options("isce/center", opts, self.CENTER_DEFAULTS)
        super().__init__(name="isce/center")
        merged = {**self.CENTER_DEFAULTS, **opts}
        self.lam, self.alpha = float(merged["lam"]), float(merged["alpha"])
        self._center: CenterLoss | None = None

    def model_overrides(self) -> dict[str, Any]:
        return {"classifier": "linear"}

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        dim = int(getattr(model, "feature_dim"))  # noqa: B009 - Classifier attribute
        self._center = CenterLoss(ctx.num_classes, dim, self.lam, self.alpha, reduction="none")
        self._center.to(ctx.device)

    def extra_modules(self) -> dict[str, nn.Module]:
        out = super().extra_modules()
        if self._center is not None:
            out["center"] = self._center
        return out

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        if self._center is None:
            raise ConfigError("isce/center: setup(model, ctx) must run before loss()")
        feats = model.features(x)  # type: ignore[operator]
        logits = model.head(feats)  # type: ignore[operator]
        per_example = self._center(logits, feats, y)
        return StepOutput(reduce(per_example, self.reduction), logits.detach(), {})


@METHODS.register("isce/center")
def _center(**opts: Any) -> CenterNatural:
    """CE + center loss, lam 0.003, centre rate alpha 0.5 (Wen et al. 2016)."""
    return CenterNatural(**opts)


class L2MadryAT(MadryAT):
    """PGD adversarial training under the L2 threat model (the paper's AT competitor, sec. 4).

    Core ``madry-at`` with its attack replaced by ``pgd-l2`` (random start): the paper trains AT
    with "eps 0.02, 10 iterations"; see the README for the eps units (reading 11).
    """

    name = "isce/at"

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        super().setup(model, ctx)
        self._attack = self.build_attack(
            "pgd-l2",
            eps=self.eps,
            alpha=self.alpha,
            steps=self.steps,
            random_start=True,
            loss=self.attack_loss(),
        )

    def model_overrides(self) -> dict[str, Any]:
        return {"classifier": "linear"}


@METHODS.register("isce/at")
def _at(**opts: Any) -> L2MadryAT:
    """L2 PGD-AT; options as core madry-at (eps, alpha, steps in L2 pixel units)."""
    check_options("isce/at", opts, L2MadryAT.DEFAULTS)
    return L2MadryAT(**opts)
