"""Adversarial training with CTR (section 4.2): core's AT methods with the STD-weighted objectives.

* ``ctr/madry-at``, ``ctr/fast-at``, ``ctr/free-at`` -- eq. 17: SCE replaces CE in both the
  attack (``attack_objective``) and the training objective (``objective``); Free-AT's replayed
  perturbation ascends the training objective itself.
* ``ctr/trades`` -- eq. 18: ``SCE(f(x), y) + beta * SKL(f(x'), f(x))``; the attack maximises
  SKL (the attack passes the clean output detached, as TRADES' KL attack).

Each is the core method (``madry-at``, ``fast-at``, ``free-at``, ``trades``) built with the CTR
objectives -- same options, attack, BN mode and engine -- plus one option ``gamma`` (>= 0, the STD
weight). ``gamma = 0`` computes core's CE / KL exactly, so it is bit-identical to the baseline
(tested). The robust validation attack and Fast-AT's overfitting probe stay CE. The CTR warm-up
(eq. 29) is ``TrainConfig.warmup="ctr/eq29"`` (registered in :mod:`robustlab.ctr.trainer`).
"""

from __future__ import annotations

from typing import Any

from robustlab.core.errors import ConfigError
from robustlab.core.train import METHODS, Method
from robustlab.ctr.losses import SCE, SKL, SCEAttackLoss, SKLAttackLoss, check_gamma

__all__ = ["CTR_AT_METHODS", "build_ctr_at", "register"]

#: CTR method -> (core method, objectives given the gamma).
CTR_AT_METHODS: dict[str, str] = {
    "ctr/madry-at": "madry-at",
    "ctr/fast-at": "fast-at",
    "ctr/free-at": "free-at",
    "ctr/trades": "trades",
}
_FIXED = ("objective", "robust_objective", "attack_objective")


def _objectives(base: str, gamma: float) -> dict[str, Any]:
    if base == "trades":
        return {
            "objective": SCE(gamma),
            "robust_objective": SKL(gamma),
            "attack_objective": SKLAttackLoss(gamma),
        }
    if base == "free-at":
        return {"objective": SCE(gamma)}
    return {"objective": SCE(gamma), "attack_objective": SCEAttackLoss(gamma)}


def build_ctr_at(name: str, gamma: float = 0.0, **opts: Any) -> Method:
    """The core method behind ``name`` with CTR's objectives for ``gamma`` (options as the core
    method's, except the objectives, which CTR fixes).

    Raises:
        ValueError: gamma < 0 or not finite. ConfigError: an objective option was given.
    """
    g = check_gamma(gamma)
    fixed = sorted(set(opts) & set(_FIXED))
    if fixed:
        raise ConfigError(
            f"{name} fixes {fixed} (SCE / SKL with the STD weight gamma); set gamma instead, or "
            f"use the core method {CTR_AT_METHODS[name]!r} with your own objectives"
        )
    base = CTR_AT_METHODS[name]
    method: Method = METHODS.build(base, **opts, **_objectives(base, g))
    method.name = name
    method.gamma = g  # type: ignore[attr-defined]  # recorded in options()
    return method


def _factory(name: str) -> Any:
    def build(**opts: Any) -> Method:
        return build_ctr_at(name, **opts)

    build.__doc__ = f"{name}: core {CTR_AT_METHODS[name]!r} with CTR objectives; option gamma."
    build.__name__ = build.__qualname__ = name.replace("/", "_").replace("-", "_")
    return build


def register() -> None:
    """Register the CTR adversarial-training methods (idempotent)."""
    for name in CTR_AT_METHODS:
        if name not in METHODS:
            METHODS.register(name, _factory(name))


register()
