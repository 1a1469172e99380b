"""STD-loss attacks (section 4.3) and the SCE/SKL-driven variants of Table 7.

Every attack here is a core attack (FGSM, PGD, APGD) with a CTR loss plugged in as its objective:

===================  =========================  ======================================
name                 core attack                objective (maximised, per example)
===================  =========================  ======================================
``ctr/s-fgsm``       ``fgsm``                   STD, eq. 14
``ctr/s-pgd``        ``pgd``                    STD
``ctr/s-apgd``       ``apgd-ce``                STD
``ctr/sce-fgsm``     ``fgsm``                   SCE, eq. 15 (``gamma``, default 5)
``ctr/sce-pgd``      ``pgd``                    SCE
``ctr/sce-apgd``     ``apgd-ce``                SCE
``ctr/skl-fgsm``     ``fgsm``                   SKL, eq. 16 (``gamma``, default 1)
``ctr/skl-pgd``      ``pgd``                    SKL
``ctr/skl-apgd``     ``apgd-ce``                SKL
===================  =========================  ======================================

The CE and KL rows of Table 7 are core's ``fgsm``/``pgd``/``apgd-ce`` with ``loss="ce"`` and
``loss="kl"``. The losses are also registered in core's attack ``LOSSES`` as ``ctr/std``,
``ctr/sce`` (gamma 5) and ``ctr/skl`` (gamma 1), the paper's attack-study settings (5.3.1), so a
suite can write ``"pgd:loss=ctr/std"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robustlab.core.attacks import ATTACKS, LOSSES
from robustlab.ctr.losses import SCEAttackLoss, SKLAttackLoss, std_attack_loss

__all__ = ["CTR_ATTACKS", "build_ctr_attack", "ctr_attack_loss"]

#: The paper's attack-study gammas (section 5.3.1): 5 for SCE, 1 for SKL.
DEFAULT_GAMMA = {"sce": 5.0, "skl": 1.0}
#: Core attack each CTR attack family plugs its loss into.
BASES = {"fgsm": "fgsm", "pgd": "pgd", "apgd": "apgd-ce"}
#: loss kind -> registered attack-name prefix ("s" for the STD loss, as in the paper).
PREFIX = {"std": "s", "sce": "sce", "skl": "skl"}
CTR_ATTACKS = tuple(f"ctr/{PREFIX[k]}-{b}" for k in PREFIX for b in BASES)


def ctr_attack_loss(kind: str, gamma: float | None = None) -> Callable[..., Any]:
    """The per-example attack objective of a CTR loss.

    Args:
        kind: "std" (eq. 14), "sce" (eq. 15) or "skl" (eq. 16).
        gamma: STD weight for "sce"/"skl" (>= 0); None -> the paper's 5 (SCE) / 1 (SKL).
            Must be None for "std".

    Returns:
        ``loss(logits_adv, y, *, logits_clean=None, **ctx) -> (B,)``.
    """
    if kind == "std":
        if gamma is not None:
            raise ValueError("the STD attack loss has no gamma; pass gamma only to sce/skl")
        return std_attack_loss
    if kind == "sce":
        return SCEAttackLoss(DEFAULT_GAMMA["sce"] if gamma is None else gamma)
    if kind == "skl":
        return SKLAttackLoss(DEFAULT_GAMMA["skl"] if gamma is None else gamma)
    raise ValueError(f"kind must be one of {tuple(PREFIX)}, got {kind!r}")


def build_ctr_attack(kind: str, base: str, gamma: float | None = None, **kwargs: Any) -> Any:
    """Build core attack ``base`` ("fgsm", "pgd", "apgd") maximising CTR loss ``kind``.

    Args:
        kind: "std", "sce" or "skl".
        base: "fgsm", "pgd" or "apgd".
        gamma: See :func:`ctr_attack_loss`.
        **kwargs: The core attack's keywords (eps, alpha, steps, random_start, seed, ...);
            ``loss`` is fixed by ``kind`` and may not be given.

    Raises:
        ValueError: for an unknown kind/base, or when ``loss`` is passed.
    """
    if base not in BASES:
        raise ValueError(f"base must be one of {tuple(BASES)}, got {base!r}")
    if "loss" in kwargs:
        raise ValueError(
            f"ctr/{PREFIX.get(kind, kind)}-{base} fixes its loss; build core's {BASES[base]!r} "
            f"to choose another loss"
        )
    return ATTACKS.build(BASES[base], loss=ctr_attack_loss(kind, gamma), **kwargs)


def _register(kind: str, base: str) -> None:
    name = f"ctr/{PREFIX[kind]}-{base}"

    def factory(**kwargs: Any) -> Any:
        return build_ctr_attack(kind, base, **kwargs)

    loss_doc = {"std": "the STD loss (eq. 14)", "sce": "SCE (eq. 15)", "skl": "SKL (eq. 16)"}
    factory.__name__ = name.replace("/", "_").replace("-", "_")
    factory.__qualname__ = factory.__name__
    factory.__doc__ = (
        f"Core {BASES[base]!r} maximising {loss_doc[kind]} (CTR, section 4.3 / Table 7). "
        f"Keywords: those of {BASES[base]!r}" + ("; gamma >= 0." if kind != "std" else ".")
    )
    if name not in ATTACKS:
        ATTACKS.register(name, factory)


def register() -> None:
    """Register the CTR attacks and attack losses in core (idempotent)."""
    for kind in PREFIX:
        for base in BASES:
            _register(kind, base)
    losses: tuple[tuple[str, Any], ...] = (
        ("ctr/std", std_attack_loss),
        ("ctr/sce", SCEAttackLoss(DEFAULT_GAMMA["sce"])),
        ("ctr/skl", SKLAttackLoss(DEFAULT_GAMMA["skl"])),
    )
    for name, fn in losses:
        if name not in LOSSES:
            LOSSES.register(name, fn)


register()
