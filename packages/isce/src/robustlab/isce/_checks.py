"""Input validation shared by the I-SCE losses and heads (clear errors naming the fix)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from robustlab.core.errors import ConfigError

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    """Return ``reduction`` if it is "mean", "sum" or "none"; else raise ConfigError."""
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_scalar(name: str, value: float, *, low: float, strict: bool = False) -> float:
    """A finite number ``> low`` (strict) or ``>= low``; ConfigError otherwise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > low if strict else value >= low
    if not ok:
        rng = f"> {low}" if strict else f">= {low}"
        raise ConfigError(f"{name} must be a finite number {rng}, got {value!r}")
    return float(value)


def check_logits_target(logits: Tensor, target: Tensor, *, what: str = "logits") -> None:
    """Validate ``logits`` (B, K) float, finite, and ``target`` (B,) integer in [0, K).

    Raises:
        ValueError: wrong shapes/dtypes, NaN/inf values or labels out of range.
    """
    if not isinstance(logits, Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"{what} must be a float tensor of shape (B, K), got {shape}")
    if logits.shape[1] < 2:
        raise ValueError(f"{what} need at least 2 classes (K >= 2), got K = {logits.shape[1]}")
    if not torch.isfinite(logits).all():
        raise ValueError(
            f"{what} contain NaN or inf; check the model output (a diverged training step or "
            "an input outside [0, 1])"
        )
    check_target(target, logits.shape[0], logits.shape[1])


def check_target(target: Tensor, batch: int, num_classes: int) -> None:
    """Validate integer labels ``target`` (batch,) with values in [0, num_classes)."""
    if (
        not isinstance(target, Tensor)
        or target.dim() != 1
        or target.is_floating_point()
        or target.is_complex()
        or target.dtype == torch.bool
    ):
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"target must be an integer tensor of shape (B,), got {shape}")
    if target.shape[0] != batch:
        raise ValueError(
            f"batch size mismatch: {batch} rows of logits but {target.shape[0]} labels"
        )
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise ValueError(
            f"target labels must lie in [0, {num_classes}), got min {int(target.min())}, "
            f"max {int(target.max())}"
        )


def check_features(features: Tensor, dim: int | None = None) -> None:
    """Validate penultimate features (B, D): float, finite, and D == ``dim`` when given."""
    if not isinstance(features, Tensor) or features.dim() != 2 or not features.is_floating_point():
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"features must be a float tensor of shape (B, D), got {shape}")
    if dim is not None and features.shape[1] != dim:
        raise ValueError(f"features have D = {features.shape[1]}, this module expects D = {dim}")
    if not torch.isfinite(features).all():
        raise ValueError("features contain NaN or inf; check the model output")


def reduce(values: Tensor, reduction: str) -> Tensor:
    """Apply a validated reduction to a per-example vector (B,)."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
