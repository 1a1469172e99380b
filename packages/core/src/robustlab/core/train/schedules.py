"""Learning-rate schedules as pure functions of the optimiser step.

A schedule maps (epoch e >= 0, iteration i in [0, n) of that epoch) to a learning rate, where n is
the number of optimiser steps per epoch (batches x replays for Free-AT). Being a pure function of
the step, it needs no state for exact resume. Conventions:

* "constant": ``lr``.
* "multistep": ``lr * gamma ** #{m : m <= e}`` per epoch; milestones are epoch counts (the
  ``torch.optim.lr_scheduler.MultiStepLR`` convention: milestone 75 means epochs 0..74 use
  ``lr``) or fractions of the epochs in (0, 1) (CTR: 1/2 and 3/4; adversarial: 2/3 and 5/6).
* "cyclic": one triangular cycle per run, per iteration (Smith 2017; Fast-AT):
  0 -> ``lr`` over the first ``up`` fraction of all steps, then back to 0 (``min_lr``).
* "piecewise": per iteration on the training progress t = (e + (i+1)/n) / epochs; AT-AWP:
  ``lr`` until 50 %, ``0.1 lr`` until 75 %, ``0.01 lr`` after (``boundaries``, ``factors``).
* "lbgat": LBGAT's schedule: ``warm_factor * lr`` (0.02 for lr 0.1) in the first epoch, ``lr``
  up to 75 % of the epochs, ``0.1 lr`` to 90 %, ``0.01 lr`` after.

Warm-up "ctr" (CTR paper, eq. 29) multiplies any schedule by kappa_e in the first
I = round(epochs / 10) epochs (1-based epoch i): kappa_1 = 0.001,
kappa_{i+1} = kappa_i (1 - i/I) + i/I, so kappa_{I+1} = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from robustlab.core.errors import ConfigError

Schedule = Callable[[int, int], float]

_OPTS: dict[str, dict[str, Any]] = {
    "constant": {},
    "multistep": {"milestones": (0.5, 0.75), "gamma": 0.1},
    "cyclic": {"up": 0.5, "min_lr": 0.0},
    "piecewise": {"boundaries": (0.5, 0.75), "factors": (1.0, 0.1, 0.01)},
    "lbgat": {"warm_factor": 0.2, "milestones": (0.75, 0.9), "gamma": 0.1},
}


def schedule_names() -> list[str]:
    """The schedule names accepted by :func:`build_schedule`."""
    return list(_OPTS)


def ctr_warmup_factors(epochs: int) -> list[float]:
    """kappa_1..kappa_I of CTR eq. 29 for a run of ``epochs`` epochs (I = round(epochs/10) >= 1).

    Returns:
        List of length I; epoch i (1-based) <= I uses entry i-1, later epochs use 1.
    """
    n_warm = max(1, round(epochs / 10))
    kappa = [0.001]
    for i in range(1, n_warm):
        kappa.append(kappa[-1] * (1 - i / n_warm) + i / n_warm)
    return kappa


def _milestone_epochs(milestones: Sequence[float], epochs: int) -> list[int]:
    out = []
    for m in milestones:
        if isinstance(m, bool) or not isinstance(m, (int, float)) or m <= 0:
            raise ConfigError(
                f"schedule milestones must be epochs (int >= 1) or fractions in (0, 1), got {m!r}"
            )
        out.append(int(m) if isinstance(m, int) or m >= 1 else round(m * epochs))
    return sorted(out)


def build_schedule(
    name: str,
    lr: float,
    epochs: int,
    steps_per_epoch: int,
    warmup: str = "none",
    **opts: Any,
) -> Schedule:
    """Return ``schedule(epoch, iteration) -> learning rate``.

    Args:
        name: One of :func:`schedule_names`.
        lr: Base / maximum learning rate.
        epochs: Total epochs of the run.
        steps_per_epoch: Optimiser steps per epoch (n above).
        warmup: "none" or "ctr".
        **opts: Schedule options (see the module docstring); unknown ones raise ConfigError.

    Raises:
        ConfigError: unknown schedule, warm-up or option.
    """
    if name not in _OPTS:
        raise ConfigError(f"unknown schedule {name!r}; valid schedules: {', '.join(_OPTS)}")
    unknown = sorted(set(opts) - set(_OPTS[name]))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for schedule {name!r}; valid: {sorted(_OPTS[name]) or 'none'}"
        )
    if warmup not in ("none", "ctr"):
        raise ConfigError(f"unknown warmup {warmup!r}; valid: 'none', 'ctr'")
    o = {**_OPTS[name], **opts}
    base = _BUILDERS[name](lr, epochs, steps_per_epoch, o)
    if warmup == "none":
        return base
    kappa = ctr_warmup_factors(epochs)

    def warmed(epoch: int, it: int) -> float:
        factor = kappa[epoch] if epoch < len(kappa) else 1.0
        return base(epoch, it) * factor

    return warmed


def _constant(lr: float, epochs: int, n: int, o: dict[str, Any]) -> Schedule:
    return lambda epoch, it: lr


def _multistep(lr: float, epochs: int, n: int, o: dict[str, Any]) -> Schedule:
    marks = _milestone_epochs(o["milestones"], epochs)
    gamma = float(o["gamma"])
    return lambda epoch, it: lr * gamma ** sum(m <= epoch for m in marks)


def _cyclic(lr: float, epochs: int, n: int, o: dict[str, Any]) -> Schedule:
    total = epochs * n
    up = float(o["up"])
    if not 0.0 < up < 1.0:
        raise ConfigError(f"cyclic schedule option up must be in (0, 1), got {up}")
    lo = float(o["min_lr"])
    peak = up * total

    def f(epoch: int, it: int) -> float:
        s = epoch * n + it
        frac = s / peak if s <= peak else (total - s) / (total - peak)
        return lo + (lr - lo) * max(0.0, frac)

    return f


def _piecewise(lr: float, epochs: int, n: int, o: dict[str, Any]) -> Schedule:
    bounds = [float(b) for b in o["boundaries"]]
    factors = [float(f) for f in o["factors"]]
    if len(factors) != len(bounds) + 1:
        raise ConfigError("piecewise schedule needs len(factors) == len(boundaries) + 1")

    def f(epoch: int, it: int) -> float:
        t = (epoch + (it + 1) / n) / epochs
        return lr * factors[sum(t >= b for b in bounds)]

    return f


def _lbgat(lr: float, epochs: int, n: int, o: dict[str, Any]) -> Schedule:
    multi = _multistep(lr, epochs, n, {"milestones": o["milestones"], "gamma": o["gamma"]})
    warm = float(o["warm_factor"])
    return lambda epoch, it: lr * warm if epoch == 0 else multi(epoch, it)


_BUILDERS: dict[str, Callable[[float, int, int, dict[str, Any]], Schedule]] = {
    "constant": _constant,
    "multistep": _multistep,
    "cyclic": _cyclic,
    "piecewise": _piecewise,
    "lbgat": _lbgat,
}

__all__ = ["Schedule", "build_schedule", "ctr_warmup_factors", "schedule_names"]
