"""The two-step temperature search of section 4.3 (Table 6), as selection rules on measured results.

Step 1: train natural-only students (eq. 28 without the KL term, ``LTDLoss(lam=0)``) at several
tau; ``tau_max`` is the highest tau whose student's natural accuracy is at least a threshold.
Step 2: train full LTD students (eq. 28) at the tau in ``[1, tau_max]``; ``tau_best`` has the
highest robust (AutoAttack) accuracy.

The training and evaluation belong to the command phase 2 builds; these functions only select.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from robustlab.core.errors import ConfigError
from robustlab.ltd.losses import check_tau

__all__ = ["TABLE6_TAUS", "select_tau_best", "select_tau_max", "taus_up_to"]

#: The temperatures of Table 6 (CIFAR-10, WRN-34-10).
TABLE6_TAUS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 50.0)


def _check_percent(value: float, what: str) -> float:
    v = float(value)
    if not (0.0 <= v <= 100.0):
        raise ValueError(f"{what} must be an accuracy in percent, in [0, 100], got {value!r}")
    return v


def select_tau_max(natural_acc: Mapping[float, float], threshold: float) -> float:
    """Step 1: the highest tau whose natural-only student reaches ``threshold``.

    Args:
        natural_acc: tau -> natural (clean) test accuracy in percent of the student trained with
            the soft-label term only.
        threshold: Minimum acceptable natural accuracy in percent (e.g. the TRADES baseline's).

    Returns:
        tau_max. Accuracy need not be monotone in tau; a failing lower tau does not stop the scan.

    Raises:
        ValueError: no results, a value out of range, or no tau reaching the threshold.
    """
    thr = _check_percent(threshold, "threshold")
    if not natural_acc:
        raise ValueError("no step-1 results: train natural-only students at some tau first")
    passing = [
        check_tau(t)
        for t, acc in natural_acc.items()
        if _check_percent(acc, f"acc at tau={t}") >= thr
    ]
    if not passing:
        best = max(natural_acc.items(), key=lambda kv: kv[1])
        raise ValueError(
            f"no tau reaches natural accuracy {thr:.2f} % (best: {best[1]:.2f} % at tau={best[0]}); "
            f"lower the threshold or train the step-1 students longer"
        )
    return max(passing)


def taus_up_to(candidates: Iterable[float], tau_max: float) -> list[float]:
    """Step 2's grid: the candidates in ``[1, tau_max]``, sorted ascending, duplicates removed."""
    hi = check_tau(tau_max)
    if hi < 1.0:
        raise ConfigError(f"tau_max must be >= 1 (the search range is [1, tau_max]), got {tau_max}")
    grid = sorted({check_tau(t) for t in candidates if 1.0 <= float(t) <= hi})
    if not grid:
        raise ConfigError(f"no candidate temperature lies in [1, {tau_max}]")
    return grid


def select_tau_best(
    results: Mapping[float, tuple[float, float]], tau_max: float = math.inf
) -> float:
    """Step 2: the tau in ``[1, tau_max]`` with the highest robust accuracy.

    Args:
        results: tau -> (clean accuracy, robust accuracy), both in percent, of full LTD students.
        tau_max: Upper end of the search range (step 1's result).

    Returns:
        tau_best; ties on robust accuracy go to the higher clean accuracy, then the lower tau.
    """
    grid = taus_up_to(results.keys(), tau_max)
    scored = []
    for t in grid:
        clean, robust = results[t]
        scored.append(
            (_check_percent(robust, f"robust acc at tau={t}"), _check_percent(clean, "clean"), -t)
        )
    return -max(scored)[2]
