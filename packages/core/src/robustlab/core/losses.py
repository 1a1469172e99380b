"""The one KL divergence, the one (soft-label) cross-entropy, and training objectives.

Everything in robustlab that needs KL(P || Q) or a per-example cross-entropy calls this module:
attack losses (``robustlab.core.attacks.losses``), every core training method, and the paper
packages. Computation is in float32 (bf16/fp16 inputs are upcast; float64 is kept).

Objectives
----------
An *objective* is a per-example loss ``fn(logits (B, K), y (B,) int64, **ctx) -> (B,)``. The
simplest one is a plain function of ``(logits, y)``; a method reduces it to a scalar with its
``reduction`` option. Keyword context a method may pass (an objective takes what it names, or
``**ctx`` for all): ``logits_clean`` (B, K) (clean logits; the target P of a KL term), ``x`` (clean
batch (B, C, H, W)), ``index`` ((B,) int64 training-set indices or None), ``step`` (the
``StepContext``). Attacks call objectives the same way (their ``loss=``), with ``logits_clean``
detached and any extra ``**ctx`` the method passes to the attack.

A stateful objective subclasses :class:`Objective`: ``setup(model, ctx)`` once the model exists
(load a teacher with ``robustlab.core.train.load_need``), ``modules()`` (checkpointed, frozen),
``trainable_modules()`` (optimised with the model), epoch hooks, ``state_dict`` for exact resume,
``metrics()`` for per-step logged values, and ``loss(logits, y, reduction, **ctx)`` when a
reduced value should be computed differently from reducing ``__call__``.

Objectives are registered in :data:`OBJECTIVES` as factories ``(**options) -> objective``; a
method option accepts a registered name (``"ce"``), a dict ``{"name": "ce", "label_smoothing":
0.1}``, or a callable. Paper packages register ``<paper>/<name>``.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.registry import Registry

REDUCTIONS = ("mean", "batchmean", "elementwise_mean", "sum", "none")
ObjectiveFn = Callable[..., Tensor]
ObjectiveSpec = str | dict[str, Any] | ObjectiveFn

OBJECTIVES: Registry[Callable[..., ObjectiveFn]] = Registry("objective")


def as_float(t: Tensor) -> Tensor:
    """``t`` in at least float32 (bf16/fp16 upcast, float32/float64 unchanged)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _check_reduction(reduction: str, allowed: tuple[str, ...], what: str) -> None:
    if reduction not in allowed:
        raise ConfigError(f"reduction of {what} must be one of {allowed}, got {reduction!r}")


def reduce(per_example: Tensor, reduction: str = "mean", what: str = "the objective") -> Tensor:
    """Reduce per-example losses (B,): "mean"/"batchmean" (average), "sum", "none" (unchanged).

    Raises:
        ConfigError: another reduction, or ``per_example`` is not 1-D (an objective must return
            one loss per example, not a scalar).
    """
    _check_reduction(reduction, ("mean", "batchmean", "sum", "none"), what)
    if per_example.dim() != 1:
        raise ConfigError(
            f"{what} returned shape {tuple(per_example.shape)}; an objective must return "
            "per-example losses of shape (B,) (the method applies the reduction)"
        )
    if reduction == "none":
        return per_example
    return per_example.sum() if reduction == "sum" else per_example.mean()


def kl_div(p_logits: Tensor, q_logits: Tensor, reduction: str = "batchmean") -> Tensor:
    """KL(P || Q) = sum_k P_k (log P_k - log Q_k), P = softmax(p_logits), Q = softmax(q_logits).

    TRADES eq. 5 (Zhang et al. 2019) with P the clean and Q the adversarial output. Gradients
    flow into both arguments; detach ``p_logits`` for a fixed target.

    Args:
        p_logits: (B, K) logits of P (any leading dims; classes on the last dim).
        q_logits: Logits of Q, same shape.
        reduction: "batchmean" (sum over classes, mean over examples: TRADES/AWP/LBGAT),
            "elementwise_mean" (mean over all B x K terms, ``nn.KLDivLoss``'s "mean"), "sum",
            or "none": per-example values (B,) summed over classes (not torch's element-wise).

    Returns:
        Scalar, or (B,) for "none"; values >= 0 (up to rounding).
    """
    _check_reduction(reduction, ("batchmean", "elementwise_mean", "sum", "none"), "kl_div")
    if p_logits.shape != q_logits.shape:
        raise ValueError(
            f"kl_div needs logits of equal shape, got P {tuple(p_logits.shape)} and "
            f"Q {tuple(q_logits.shape)}"
        )
    log_p = F.log_softmax(as_float(p_logits), dim=-1)
    log_q = F.log_softmax(as_float(q_logits), dim=-1)
    terms = log_p.exp() * (log_p - log_q)
    if reduction == "elementwise_mean":
        return terms.mean()
    if reduction == "sum":
        return terms.sum()
    per_example = terms.sum(dim=-1)
    return per_example if reduction == "none" else per_example.mean()


def cross_entropy(
    logits: Tensor, target: Tensor, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy against integer labels or a target distribution (soft labels).

    Integer ``target`` (B,): ``-log softmax(z)_y`` (``F.cross_entropy``). Probability ``target``
    (B, K): ``-sum_k t_k log softmax(z)_k`` (soft-label CE, e.g. LTD eq. 28 with
    t = softmax(teacher / tau)). ``label_smoothing`` s mixes the target with uniform:
    (1 - s) t + s / K.

    Args:
        logits: (B, K) logits (float32 internally).
        target: (B,) int64 in [0, K) or (B, K) probabilities (rows summing to 1).
        reduction: "mean" (= "batchmean"), "sum" or "none" ((B,)).
        label_smoothing: s in [0, 1).

    Returns:
        Scalar, or (B,) for "none"; values >= 0.
    """
    _check_reduction(reduction, ("mean", "batchmean", "sum", "none"), "cross_entropy")
    red = "mean" if reduction == "batchmean" else reduction
    z = as_float(logits)
    if not target.is_floating_point():
        return F.cross_entropy(z, target, reduction=red, label_smoothing=label_smoothing)
    if target.shape != z.shape:
        raise ValueError(
            f"a soft target must have the logits' shape {tuple(z.shape)}, got {tuple(target.shape)}"
        )
    t = target.to(z.dtype)
    if label_smoothing:
        t = (1.0 - label_smoothing) * t + label_smoothing / z.shape[-1]
    per_example = -(t * F.log_softmax(z, dim=-1)).sum(dim=-1)
    if red == "none":  # any leading dims, e.g. (K, B) for K heads
        return per_example
    return per_example.sum() if red == "sum" else per_example.mean()


class Objective(abc.ABC):
    """Base of stateful objectives; see the module docstring for the protocol.

    Subclasses implement ``__call__(logits, y, **ctx) -> (B,)``; every hook is optional.
    """

    name: str = "objective"

    @abc.abstractmethod
    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        """Per-example loss (B,) for logits (B, K) and labels y (B,)."""

    def loss(self, logits: Tensor, y: Tensor, reduction: str = "mean", **ctx: Any) -> Tensor:
        """The reduced loss (scalar, or (B,) for "none"); default: ``reduce(self(...))``."""
        return reduce(self(logits, y, **ctx), reduction, self.name)

    def setup(self, model: nn.Module, ctx: Any) -> None:  # noqa: B027 - optional hook
        """Called once by the method's ``setup`` (``ctx`` is the run's ``TrainContext``)."""

    def modules(self) -> dict[str, nn.Module]:
        """Modules saved in the training state (frozen teacher...); not optimised."""
        return {}

    def trainable_modules(self) -> dict[str, nn.Module]:
        """Modules optimised together with the model (saved too)."""
        return {}

    def on_epoch_start(self, epoch: int, ctx: Any) -> None:  # noqa: B027 - optional hook
        """Before the first batch of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, ctx: Any, model: nn.Module) -> None:  # noqa: B027 - optional hook
        """After the last step of epoch ``epoch``."""

    def metrics(self) -> dict[str, float]:
        """Scalars of the last call, averaged over the epoch by the engine (e.g. {"pc": 0.3})."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Flat dict of tensors and JSON values for exact resume."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore :meth:`state_dict`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _accepted(fn: Callable[..., Any]) -> set[str] | None:
    """Keyword names ``fn`` accepts beyond (logits, y); None when it takes ``**kwargs``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params[2:] if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def call_objective(fn: ObjectiveFn, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
    """``fn(logits, y, **ctx)`` passing only the keywords a plain function names."""
    if isinstance(fn, Objective):
        return fn(logits, y, **ctx)
    names = _accepted(fn)
    if names is not None:
        ctx = {k: v for k, v in ctx.items() if k in names}
    return fn(logits, y, **ctx)


def objective_loss(
    fn: ObjectiveFn, logits: Tensor, y: Tensor, reduction: str = "mean", **ctx: Any
) -> Tensor:
    """The objective reduced with ``reduction`` (``Objective.loss`` for objects that define it)."""
    if isinstance(fn, Objective):
        return fn.loss(logits, y, reduction=reduction, **ctx)
    name = getattr(fn, "__name__", type(fn).__name__)
    return reduce(call_objective(fn, logits, y, **ctx), reduction, f"objective {name!r}")


def as_attack_loss(fn: ObjectiveFn) -> Callable[..., Tensor]:
    """An objective as an attack loss ``(logits, y, **ctx) -> (B,)`` (keywords filtered)."""
    if isinstance(fn, Objective) or _accepted(fn) is None:
        return fn

    def loss(logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        return call_objective(fn, logits, y, **ctx)

    loss.__name__ = getattr(fn, "__name__", "objective")
    return loss


def get_objective(spec: ObjectiveSpec, role: str = "objective") -> ObjectiveFn:
    """Resolve an objective option: a name or ``{"name": ..., **options}`` in :data:`OBJECTIVES`
    (a new instance per call), or a callable (returned unchanged).

    Raises:
        UnknownNameError: unknown name (lists the registered objectives).
        ConfigError: any other kind of value, or a dict without "name".
    """
    if isinstance(spec, str):
        return OBJECTIVES.build(spec)
    if isinstance(spec, dict):
        if not isinstance(spec.get("name"), str):
            raise ConfigError(
                f"{role} given as a dict needs a 'name' key (e.g. {{'name': 'ce', "
                f"'label_smoothing': 0.1}}), got {spec!r}"
            )
        opts = {k: v for k, v in spec.items() if k != "name"}
        return OBJECTIVES.build(spec["name"], **opts)
    if callable(spec):
        return spec
    raise ConfigError(
        f"{role} must be an objective name ({', '.join(OBJECTIVES.names())}), a dict with "
        f"'name', or a callable (logits, y, **ctx) -> (B,); got {spec!r}"
    )


def describe(spec: Any) -> Any:
    """A JSON-able description of an objective option (for run metadata)."""
    if isinstance(spec, (str, dict)) or spec is None:
        return spec
    return getattr(spec, "name", None) if isinstance(spec, Objective) else repr(spec)


class CrossEntropy(Objective):
    """Per-example CE ``-log softmax(z)_y`` (option ``label_smoothing``); registered as "ce"."""

    name = "ce"

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        return cross_entropy(logits, y, "none", self.label_smoothing)

    def loss(self, logits: Tensor, y: Tensor, reduction: str = "mean", **ctx: Any) -> Tensor:
        return cross_entropy(logits, y, reduction, self.label_smoothing)

    def __repr__(self) -> str:
        return f"CrossEntropy(label_smoothing={self.label_smoothing})"


class KLDivergence(Objective):
    """Per-example KL(softmax(logits_clean) || softmax(logits)) (TRADES' robust term and attack);
    needs ``logits_clean`` (B, K) in ctx (not detached here). Registered as "kl"."""

    name = "kl"

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        return kl_div(_clean(ctx, self.name), logits, "none")

    def loss(self, logits: Tensor, y: Tensor, reduction: str = "batchmean", **ctx: Any) -> Tensor:
        red = "batchmean" if reduction == "mean" else reduction
        return kl_div(_clean(ctx, self.name), logits, red)


def _clean(ctx: dict[str, Any], name: str) -> Tensor:
    clean = ctx.get("logits_clean")
    if clean is None:
        raise ValueError(f"objective {name!r} needs logits_clean (B, K) in its context")
    return clean


OBJECTIVES.register("ce", CrossEntropy)
OBJECTIVES.register("kl", KLDivergence)

__all__ = [
    "OBJECTIVES",
    "REDUCTIONS",
    "CrossEntropy",
    "KLDivergence",
    "Objective",
    "ObjectiveFn",
    "ObjectiveSpec",
    "as_attack_loss",
    "as_float",
    "call_objective",
    "cross_entropy",
    "describe",
    "get_objective",
    "kl_div",
    "objective_loss",
    "reduce",
]
