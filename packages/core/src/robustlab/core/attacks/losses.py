"""Attack losses: per-example objectives (B,) that attacks MAXIMISE.

Signature of every loss (built-in or plugged in by a paper package)::

    loss(logits (B, K), y (B,) int64, *, logits_clean: Tensor | None = None, **ctx) -> (B,)

``logits_clean`` (B, K) is ``model(x).detach()`` on the clean batch, computed once per batch by the
attack; other ctx entries (e.g. ``teacher_logits``) are passed through unchanged. Losses must accept
and ignore unknown keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch.nn.functional as F
from torch import Tensor

from robustlab.core.losses import cross_entropy, kl_div
from robustlab.core.registry import Registry


class LossFn(Protocol):
    """Callable ``(logits, y, *, logits_clean=None, **ctx) -> (B,)`` maximised by the attack."""

    def __call__(self, logits: Tensor, y: Tensor, **ctx: Any) -> Tensor: ...


LOSSES: Registry[LossFn] = Registry("attack loss")


@LOSSES.register("ce")
def ce_loss(logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
    """Cross-entropy ``-log softmax(z)_y`` per example (B,) (``robustlab.core.losses``)."""
    return cross_entropy(logits, y, "none")


@LOSSES.register("dlr")
def dlr_loss(logits: Tensor, y: Tensor, **ctx: Any) -> Tensor:
    """Difference of Logits Ratio (Croce & Hein, ICML 2020, eq. 5), per example (B,).

    ``DLR = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)`` with ``z_pi1 >= z_pi2 >= ...`` the
    sorted logits. Needs at least 3 classes. Shift- and scale-invariant in the logits.
    """
    z_sorted, idx_sorted = logits.sort(dim=1)
    top_is_y = (idx_sorted[:, -1] == y).to(logits.dtype)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    other = z_sorted[:, -2] * top_is_y + z_sorted[:, -1] * (1.0 - top_is_y)
    return -(z_y - other) / (z_sorted[:, -1] - z_sorted[:, -3] + 1e-12)


def dlr_targeted_loss(logits: Tensor, y: Tensor, y_target: Tensor, **ctx: Any) -> Tensor:
    """Targeted DLR (Croce & Hein 2020): ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)``.

    Needs at least 4 classes. Maximised: pushes the target logit ``z_t`` above the true one.
    """
    z_sorted = logits.sort(dim=1).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, y_target[:, None]).squeeze(1)
    denom = z_sorted[:, -1] - 0.5 * (z_sorted[:, -3] + z_sorted[:, -4]) + 1e-12
    return -(z_y - z_t) / denom


@LOSSES.register("cw")
def cw_margin_loss(logits: Tensor, y: Tensor, *, kappa: float = float("inf"), **ctx: Any) -> Tensor:
    """Carlini-Wagner margin ``max_{j != y} z_j - z_y`` (B,), optionally capped at ``kappa``."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(dim=1)
    margin = other - z_y
    return margin.clamp(max=kappa) if kappa != float("inf") else margin


@LOSSES.register("kl")
def kl_loss(logits: Tensor, y: Tensor, *, logits_clean: Tensor | None = None, **ctx: Any) -> Tensor:
    """TRADES attack objective ``KL(P || Q) = sum_k P_k (log P_k - log Q_k)`` per example (B,).

    P = softmax(logits_clean) (clean output, detached), Q = softmax(logits) (adversarial output);
    reduction: sum over classes, no batch reduction (the attack sums over the batch).
    """
    if logits_clean is None:
        raise ValueError("the 'kl' attack loss needs logits_clean (B, K) in ctx")
    return kl_div(logits_clean.detach(), logits, "none")


def get_loss(loss: str | LossFn) -> LossFn:
    """Resolve a loss name from ``LOSSES`` or return a callable unchanged.

    Raises:
        UnknownNameError: unknown name (lists valid names).
        ValueError: neither a string nor a callable.
    """
    if isinstance(loss, str):
        return LOSSES.get(loss)
    if callable(loss):
        return loss
    raise ValueError(f"loss must be a name in {LOSSES.names()} or a callable, got {loss!r}")


def targeted_objective(
    loss_fn: LossFn | Callable[..., Tensor],
    logits: Tensor,
    y: Tensor,
    y_target: Tensor,
    ctx: dict[str, Any],
) -> Tensor:
    """Objective (B,) that a targeted attack maximises.

    DLR uses its targeted variant (needs the true and the target label); every other loss L is
    turned into ``-L(logits, y_target)``, i.e. the attack minimises the loss towards the target.
    """
    rest = {k: v for k, v in ctx.items() if k != "y_target"}
    if loss_fn is dlr_loss:
        return dlr_targeted_loss(logits, y, y_target, **rest)
    return -loss_fn(logits, y_target, **rest)


def per_example_ce(logits: Tensor, y: Tensor) -> Tensor:
    """Float32 cross-entropy (B,), used by attacks that score candidates without gradients."""
    return cross_entropy(logits, y, "none")


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """``z_y - max_{j != y} z_j`` (B,): positive iff the example is classified as ``y``."""
    return -cw_margin_loss(logits.float(), y)


__all__ = [
    "LOSSES",
    "LossFn",
    "ce_loss",
    "cw_margin_loss",
    "dlr_loss",
    "dlr_targeted_loss",
    "get_loss",
    "kl_loss",
    "margin",
    "per_example_ce",
    "targeted_objective",
]
