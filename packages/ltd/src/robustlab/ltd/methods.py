"""LTD training methods on core's engine: ``ltd/trades-ltd`` and ``ltd/awp-ltd``.

Both are core's TRADES / TRADES-AWP (``robustlab.core.train``) with the natural term replaced
by the soft-label objective ``ltd/soft-ce`` (eq. 28 of Chen & Lee, arXiv:2111.02331)::

    L = mean_i CE(z_s(x_i), softmax(z_t(x_i) / tau)) + beta * mean_i KL(p_s(x_i) || p_s(x'_i))

``beta`` is the paper's lambda (6). Differences from core's ``trades`` defaults, each from the
paper (README decisions 5-6):

* ``second_clean_forward=False``: one forward per input, the clean logits feed both terms
  (section 3.5 counts the student's passes as one natural and one adversarial).
* ``bn_mode="train"``: BatchNorm statistics update during attack generation (section 3.5 argues
  for it); ``bn_mode="eval"`` is TRADES' reference behaviour.
* ``bn_order`` (core's option) is Table 5's order: "nat-adv" (default), "adv-nat", "nat", "adv";
  ``frozen_bn`` ("running" | "batch") says how the non-updating pass of "nat" / "adv" normalises.

Options added here: ``tau`` (teacher temperature, default 5) and ``labels`` ("on-the-fly" |
"cached"). The run must declare ``needs={"teacher": <finished natural run>}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from robustlab.core.errors import ConfigError
from robustlab.core.train import METHODS
from robustlab.core.train.methods.awp import AWPTRADES
from robustlab.core.train.methods.trades import TRADES
from robustlab.ltd.losses import check_tau
from robustlab.ltd.objectives import LABEL_MODES

__all__ = ["LTDAWP", "LTDTRADES", "LTD_DEFAULTS", "ltd_options"]

#: What the LTD methods change or add over core's TRADES defaults.
LTD_DEFAULTS: dict[str, Any] = {
    "tau": 5.0,
    "labels": "on-the-fly",
    "objective": None,  # None: {"name": "ltd/soft-ce", "tau": tau, "labels": labels}
    "beta": 6.0,
    "second_clean_forward": False,
    "bn_mode": "train",
}


def ltd_options(name: str, opts: dict[str, Any]) -> dict[str, Any]:
    """``opts`` with ``objective`` set to ``ltd/soft-ce`` at the given ``tau`` / ``labels``.

    Raises:
        ConfigError: tau <= 0 or NaN, unknown ``labels``, or an explicit ``objective``.
    """
    tau = check_tau(float(opts.get("tau", LTD_DEFAULTS["tau"])))
    labels = opts.get("labels", LTD_DEFAULTS["labels"])
    if labels not in LABEL_MODES:
        raise ConfigError(f"{name}: labels must be one of {LABEL_MODES}, got {labels!r}")
    if opts.get("objective") is not None:
        raise ConfigError(
            f"{name}: the objective is the LTD soft-label term; set tau / labels instead "
            f"(for another natural term use core's 'trades' with objective=...)"
        )
    return {**opts, "objective": {"name": "ltd/soft-ce", "tau": tau, "labels": labels}}


class LTDTRADES(TRADES):
    """TRADES + LTD (eq. 28): TRADES' KL attack and KL term, soft teacher labels in the natural term.

    Options: core ``trades``'s (eps, alpha, steps, beta = lambda, bn_mode, bn_order, frozen_bn,
    attack_objective, ...) plus ``tau`` > 0 and ``labels``.
    """

    name = "ltd/trades-ltd"
    DEFAULTS: ClassVar[dict[str, Any]] = {**TRADES.DEFAULTS, **LTD_DEFAULTS}

    def __init__(self, **opts: Any) -> None:
        super().__init__(**ltd_options(self.name, opts))


class LTDAWP(AWPTRADES):
    """AWP + LTD: TRADES-AWP (gamma 0.005, warm-up 10 epochs) with the eq. 28 loss in both the
    proxy ascent step and the perturbed model's step."""

    name = "ltd/awp-ltd"
    DEFAULTS: ClassVar[dict[str, Any]] = {**AWPTRADES.DEFAULTS, **LTD_DEFAULTS}

    def __init__(self, **opts: Any) -> None:
        super().__init__(**ltd_options(self.name, opts))


@METHODS.register("ltd/trades-ltd")
def _trades_ltd(**opts: Any) -> LTDTRADES:
    return LTDTRADES(**opts)


@METHODS.register("ltd/awp-ltd")
def _awp_ltd(**opts: Any) -> LTDAWP:
    return LTDAWP(**opts)
