"""D2R and D2R-CAG as training methods on core's engine: core LBGAT with D2R objectives.

Both methods are core :class:`robustlab.core.train.methods.lbgat.LBGAT` (guide g and target t
trained together by the run's one optimiser, the guide through ``trainable_modules``; one
combined step per batch, as the official code) with other defaults, nothing re-implemented:

* ``d2r/d2r`` (plain D2R): ``objective`` = the D2R loss (eq. 2, objective ``d2r/d2r``, default
  alpha 30, beta 20, lam 1, ``kl_reduction="elementwise_mean"``); the training examples come from
  core's TRADES KL attack on the target alone (``attack_objective="kl"``, start x + 0.001 N(0, 1),
  target in eval mode): section 4, "without CAG".
* ``d2r/d2r-cag``: the same loss; the training examples come from CAG (eq. 4): core's PGD on
  ``KL(p_g(x) || p_t(x'))`` (attack loss ``d2r/cag-kl``) with ``p_g(x)`` computed by the guide in
  eval mode (``attack_guide_logits=True``) and the target in eval mode (``bn_mode="eval"``), the
  same start, step and projection as :class:`robustlab.d2r.attacks.CAGAttack` (tested equal).

Options (``check_options`` lists them with defaults on a typo): ``eps`` (0.031), ``alpha`` (the
*attack step*, 0.007, LBGAT's name), ``steps`` (10), ``guide_model`` ("resnet18-lbgat"),
``guide_opts``, ``objective`` (the loss: ``{"name": "d2r/d2r", "alpha": A, "beta": B, "lam": L,
"kl_reduction": R}``; the loss weights live in this dict because ``alpha`` is the attack step),
``attack_objective``, ``attack_guide_logits``, ``bn_mode``, ``attack_autocast``, ``val_steps``.
LBGAT's own ``beta`` (weight of its TRADES KL term) and ``reduction`` are not options here: the
D2R loss has its own beta (a ``beta=`` given to the method is a ``ConfigError`` instead of a
silently ignored value). The baseline is core's ``lbgat`` (LBGAT0: ``beta=0``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from robustlab.core.errors import ConfigError
from robustlab.core.train.method import METHODS
from robustlab.core.train.methods.lbgat import LBGAT

__all__ = ["D2R", "D2RCAG", "D2R_OBJECTIVE", "d2r_objective"]

#: The paper's D2R loss on CIFAR-10 (section 4): alpha 30, beta 20, lam 1, official reductions.
D2R_OBJECTIVE: dict[str, Any] = {
    "name": "d2r/d2r",
    "alpha": 30.0,
    "beta": 20.0,
    "lam": 1.0,
    "kl_reduction": "elementwise_mean",
}


def d2r_objective(
    alpha: float = 30.0,
    beta: float = 20.0,
    lam: float = 1.0,
    kl_reduction: str = "elementwise_mean",
) -> dict[str, Any]:
    """The ``objective`` option of the D2R methods for given loss weights (eq. 2).

    Args:
        alpha: Weight of KL(p_g(x) || p_t(x')) (>= 0; paper 30).
        beta: Weight of |KL(p_t(x) || p_g(x)) - KL(p_g(x) || p_t(x))| (>= 0; paper 20).
        lam: Weight of the guide's CE (>= 0; paper 1 on 10 classes, 0.1 on 100/200).
        kl_reduction: "elementwise_mean" (official code) or "batchmean" (K x larger KL terms).

    Returns:
        ``{"name": "d2r/d2r", "alpha": ..., "beta": ..., "lam": ..., "kl_reduction": ...}``.
    """
    return {
        "name": "d2r/d2r",
        "alpha": float(alpha),
        "beta": float(beta),
        "lam": float(lam),
        "kl_reduction": kl_reduction,
    }


_LBGAT_ONLY = ("beta", "reduction")


class D2R(LBGAT):
    """Plain D2R (eq. 2 with core's TRADES KL attack on the target); see the module docstring."""

    name = "d2r/d2r"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **{k: v for k, v in LBGAT.DEFAULTS.items() if k not in _LBGAT_ONLY},
        "objective": dict(D2R_OBJECTIVE),
    }
    # LBGAT's eq.-7 KL weight and its reduction: fixed (unused by the D2R objective)
    beta = 0.0
    reduction = "batchmean"

    def resolve_objectives(self) -> None:
        if self.objective == "lbgat":
            raise ConfigError(
                f"{self.name}: objective 'lbgat' is LBGAT's eq. 7; use method 'lbgat' for the "
                "baseline, or give the D2R loss, e.g. "
                "{'name': 'd2r/d2r', 'alpha': 30, 'beta': 20, 'lam': 1}"
            )
        super().resolve_objectives()


class D2RCAG(D2R):
    """D2R-CAG: the D2R loss on collaborative adversarial examples (eq. 4)."""

    name = "d2r/d2r-cag"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        **D2R.DEFAULTS,
        "attack_objective": "d2r/cag-kl",
        "attack_guide_logits": True,
    }


@METHODS.register("d2r/d2r")
def _d2r(**opts: Any) -> D2R:
    return D2R(**opts)


@METHODS.register("d2r/d2r-cag")
def _d2r_cag(**opts: Any) -> D2RCAG:
    return D2RCAG(**opts)
