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

Schedules live in the :data:`SCHEDULES` registry (``ScheduleKind``: a builder and its default
options); warm-ups in :data:`WARMUPS`: ``warmup(epochs, steps_per_epoch) -> factor(epoch, it)``,
a multiplier of any schedule. Core registers the warm-up "none"; paper packages register theirs
under their prefix (CTR's eq. 29 warm-up is ``ctr/eq29``, registered by ``robustlab.ctr``).
Unknown names load the installed paper packages first, then raise ConfigError listing the names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.registry import Registry

Schedule = Callable[[int, int], float]
Warmup = Callable[[int, int], Callable[[int, int], float]]
T = TypeVar("T")


@dataclass(frozen=True)
class ScheduleKind:
    """A registered schedule: ``build(lr, epochs, steps_per_epoch, options) -> Schedule`` and
    its default ``options`` (the valid option names)."""

    build: Callable[[float, int, int, dict[str, Any]], Schedule]
    defaults: dict[str, Any] = field(default_factory=dict)


SCHEDULES: Registry[ScheduleKind] = Registry("schedule")
WARMUPS: Registry[Warmup] = Registry("warmup")


def schedule_names() -> list[str]:
    """The schedule names accepted by :func:`build_schedule`."""
    return SCHEDULES.names()


def _lookup(registry: Registry[T], name: str) -> T:
    try:
        return registry.get(name)
    except UnknownNameError as err:
        raise ConfigError(str(err)) from None


def check_names(schedule: str, warmup: str) -> None:
    """Raise ConfigError unless ``schedule`` and ``warmup`` are registered (plugins loaded)."""
    _lookup(SCHEDULES, schedule)
    _lookup(WARMUPS, warmup)


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
        warmup: A name in :data:`WARMUPS` ("none", or a paper's, e.g. "ctr/eq29").
        **opts: Schedule options (see the module docstring); unknown ones raise ConfigError.

    Raises:
        ConfigError: unknown schedule, warm-up or option.
    """
    kind = _lookup(SCHEDULES, name)
    unknown = sorted(set(opts) - set(kind.defaults))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for schedule {name!r}; "
            f"valid: {sorted(kind.defaults) or 'none'}"
        )
    make_factor = _lookup(WARMUPS, warmup)
    base = kind.build(lr, epochs, steps_per_epoch, {**kind.defaults, **opts})
    if warmup == "none":
        return base
    factor = make_factor(epochs, steps_per_epoch)

    def warmed(epoch: int, it: int) -> float:
        return base(epoch, it) * factor(epoch, it)

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


SCHEDULES.register("constant", ScheduleKind(_constant))
SCHEDULES.register("multistep", ScheduleKind(_multistep, {"milestones": (0.5, 0.75), "gamma": 0.1}))
SCHEDULES.register("cyclic", ScheduleKind(_cyclic, {"up": 0.5, "min_lr": 0.0}))
SCHEDULES.register(
    "piecewise",
    ScheduleKind(_piecewise, {"boundaries": (0.5, 0.75), "factors": (1.0, 0.1, 0.01)}),
)
SCHEDULES.register(
    "lbgat", ScheduleKind(_lbgat, {"warm_factor": 0.2, "milestones": (0.75, 0.9), "gamma": 0.1})
)
WARMUPS.register("none", lambda epochs, steps_per_epoch: lambda epoch, it: 1.0)

__all__ = [
    "SCHEDULES",
    "WARMUPS",
    "Schedule",
    "ScheduleKind",
    "Warmup",
    "build_schedule",
    "check_names",
    "schedule_names",
]
