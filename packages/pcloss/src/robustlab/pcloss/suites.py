"""The paper's attack settings as core evaluation suites.

Every published row label of the CSV ("PGD eps=0.1", "C&W conf=0.0", "SPSA eps=0.3", ...) is turned
into a core :class:`~robustlab.core.eval.AttackSpec` by :func:`row_spec`; the spec's label is the
row label (plus a prefix for black-box and long-C&W variants), so a run's metric of a printed cell
is ``"acc/" + label``. Settings (paper, "Results"):

- White-box, untargeted, step 0.01 per iteration: FGSM; BIM 10 iterations (no random start:
  with step 0.01 BIM moves at most 0.1 in Linf, so at eps 0.2/0.3 it is weaker than FGSM — the
  reason of the KMNIST anomaly flagged in the CSV); PGD 40 iterations (random start); MIM
  40 iterations (momentum 1.0).
- C&W: core's ``cw-l2`` (the Carlini-Wagner L2 attack with binary search over c) with the
  settings of advertorch's ``CarliniWagnerL2Attack``, the library of the GCE setup the paper says
  it follows (github.com/henry8527/GCE ships it): 9 binary-search steps from c = 0.001, Adam lr
  0.01, early abort; 100 iterations (1000 for Table 2, as printed), confidence (kappa) 0, the
  row "C&W conf=0.0" names the confidence. The printed lr 0.001 is not used: in 100 Adam steps it
  cannot move the tanh variable more than 0.1 and leaves an undefended model at ~60-70 %.
- BIM is also run with step eps/10 ("BIM (step eps/10) eps=..."), the reading under which its
  accuracy can fall with eps as the paper's does.
- Black-box: PGD/MIM crafted on a substitute model (``cnn3`` for LeNet-5, ``resnet56`` for
  VGG-13) and transferred (``pcloss/transfer``, which wraps core's ``transfer`` and loads the
  substitute, a dependency run in the run store); SPSA (lr 0.01, delta 0.01) on the target.
- CIFAR-100 / Tiny ImageNet (Table 4): PGD/MIM with 10 iterations and step eps/10 (the official
  evaluation notebook), SPSA at eps 0.015.
- Added by robustlab (the spec's evaluation trap): margin-loss attacks CW-Linf (PGD on the CW
  margin, same 40 x 0.01 budget as PGD-40; step eps/4 where that is smaller) and APGD-DLR
  (100 iterations) at every white-box eps.
  A CE-trained LeNet saturates its softmax and stalls CE-gradient attacks; these do not stall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from robustlab.core.eval import SUITES, AttackSpec, Suite

__all__ = [
    "ADDED_PREFIXES",
    "BIM_EPS10",
    "MARGIN_PREFIXES",
    "AttackSettings",
    "bim_eps10_specs",
    "margin_specs",
    "parse_row",
    "row_spec",
]

GRAY_EPS = ("0.1", "0.2", "0.3")
COLOR_EPS = ("0.04", "0.12", "0.2")
LARGE_EPS = ("0.005", "0.010", "0.015")
#: Label of the second BIM reading (step eps/10 instead of the printed 0.01).
BIM_EPS10 = "BIM (step eps/10)"
#: Label prefixes of the margin-loss attacks robustlab adds beside the paper's.
MARGIN_PREFIXES = ("CW-Linf", "APGD-DLR")
#: Label prefixes of every row robustlab adds beside the paper's (no paper value).
ADDED_PREFIXES = (*MARGIN_PREFIXES, BIM_EPS10)
_ROW = re.compile(r"^(FGSM|BIM|PGD|MIM|SPSA) eps=([0-9.]+)$|^C&W conf=([0-9.]+)$")


@dataclass(frozen=True)
class AttackSettings:
    """Budgets of the paper's attacks (defaults: as published).

    Attributes:
        step: Step size of BIM / PGD / MIM (0.01).
        bim_steps, pgd_steps, mim_steps: Iterations (10, 40, 40).
        large_steps: Iterations of PGD/MIM in Table 4 (10, step eps/10).
        cw_steps: C&W optimisation steps per binary-search step (100; Table 2: 1000).
        cw_lr: C&W Adam learning rate: 0.01, advertorch's ``CarliniWagnerL2Attack`` default
            (the library the GCE setup the paper follows ships). The printed 0.001 moves the
            tanh variable at most 0.1 per coordinate in 100 steps: measured 69 % accuracy left
            on a CE LeNet-5 (paper 0.2 %); 0.01 with the search below: 4.5 % (200 images).
        cw_search_steps: Binary-search steps over c (9, advertorch's default; not printed).
        cw_c: Initial c of the search (0.001, advertorch's default; not printed).
        cw_stop_on_success: Run core's C&W in its accuracy-only mode (True): an example stops
            at its first misclassified iterate instead of searching on for a smaller one. The
            tables print accuracy only, and an example the full search ever fools counts as
            fooled either way, so only the batch-summed early-abort rule can differ; the cost
            falls to the rows still standing (most of an undefended model's fall in the first
            tens of steps).
        spsa_steps, spsa_samples, spsa_lr, spsa_delta: SPSA: lr 0.01 and delta 0.01 (paper),
            10 iterations (the official evaluation notebook), 128 samples (advertorch's default).
        spsa_early_stop: Run SPSA with core's early stop (True): an example misclassified
            before a step keeps that iterate and leaves the batch. SPSA spends 2 x 128 forward
            passes per example and step, the most of any attack here; an undefended model's
            examples mostly fall in the first steps, so the cost falls with them. Accuracy can
            only go down by it (an example fooled at any iterate counts as fooled, AutoAttack's
            rule), where advertorch scores the last iterate.
        apgd_steps: APGD-DLR iterations of the added margin attack.
        early_stop: Run the iterative white-box attacks (BIM, PGD, MIM, CW-Linf, APGD-DLR) with
            core's early stop: an example misclassified at some iterate keeps it and leaves the
            batch (AutoAttack's rule; C&W and SPSA have their own switches above). Accuracy can
            only go down by it; the paper's attacks score the last iterate. Off by default (the
            quick profile), on in the fmnist and paper profiles, where it saves most of the
            white-box cost (most examples of an undefended model fall in the first steps);
            the difference it makes on the same images is measured in the README, "Results".
            Transfer attacks never early-stop: their inner attack sees only the substitute.
    """

    step: float = 0.01
    bim_steps: int = 10
    pgd_steps: int = 40
    mim_steps: int = 40
    large_steps: int = 10
    cw_steps: int = 100
    cw_lr: float = 0.01
    cw_search_steps: int = 9
    cw_c: float = 1e-3
    cw_stop_on_success: bool = True
    spsa_steps: int = 10
    spsa_samples: int = 128
    spsa_lr: float = 0.01
    spsa_delta: float = 0.01
    spsa_early_stop: bool = True
    apgd_steps: int = 100
    early_stop: bool = False

    def iterative(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` of an iterative white-box attack, with ``early_stop`` when it is on."""
        return {**kwargs, "early_stop": True} if self.early_stop else kwargs


def parse_row(row: str) -> tuple[str, float]:
    """Split a CSV row label into (attack, parameter): "PGD eps=0.1" -> ("PGD", 0.1).

    Raises:
        ValueError: for a label that is not an attack row of the paper.
    """
    m = _ROW.match(row)
    if not m:
        raise ValueError(f"not an attack row of the PC-loss tables: {row!r}")
    if m.group(3) is not None:
        return "C&W", float(m.group(3))
    return m.group(1), float(m.group(2))


def row_spec(
    row: str,
    settings: AttackSettings = AttackSettings(),
    *,
    large: bool = False,
    transfer: dict[str, Any] | None = None,
    label: str | None = None,
) -> AttackSpec:
    """The attack of one published row.

    Args:
        row: CSV row label, e.g. "MIM eps=0.2".
        settings: Attack budgets.
        large: Table 4 settings (10 iterations, step eps/10).
        transfer: For black-box PGD/MIM: keyword arguments of ``pcloss/transfer`` naming the
            substitute (``{"source_run": need_ref("substitute")}``); the attack is crafted on it.
        label: Label of the spec (default: the row label).

    Returns:
        The AttackSpec.
    """
    name, value = parse_row(row)
    label = label or row
    s = settings
    if name == "C&W":
        kw = {"kappa": value, "steps": s.cw_steps, "lr": s.cw_lr, "c": s.cw_c}
        kw |= {"binary_search_steps": s.cw_search_steps, "stop_on_success": s.cw_stop_on_success}
        return AttackSpec(label, "cw-l2", kw)
    if name == "SPSA":
        kw = {"eps": value, "steps": s.spsa_steps, "lr": s.spsa_lr, "delta": s.spsa_delta}
        kw |= {"samples": s.spsa_samples, "early_stop": s.spsa_early_stop}
        return AttackSpec(label, "spsa", kw)
    if name == "FGSM":
        spec = AttackSpec(label, "fgsm", {"eps": value})
    elif large:
        steps, alpha = s.large_steps, value / s.large_steps
        kind = "pgd" if name == "PGD" else "mifgsm"
        spec = AttackSpec(label, kind, {"eps": value, "alpha": alpha, "steps": steps})
    elif name == "BIM":
        spec = AttackSpec(label, "bim", {"eps": value, "alpha": s.step, "steps": s.bim_steps})
    elif name == "PGD":
        kw = {"eps": value, "alpha": s.step, "steps": s.pgd_steps, "random_start": True}
        spec = AttackSpec(label, "pgd", kw)
    else:
        kw = {"eps": value, "alpha": s.step, "steps": s.mim_steps, "decay": 1.0}
        spec = AttackSpec(label, "mifgsm", kw)
    if transfer is None:
        return AttackSpec(label, spec.attack, s.iterative(spec.kwargs)) if name != "FGSM" else spec
    return AttackSpec(label, "pcloss/transfer", {**transfer, "attack": spec.attack, **spec.kwargs})


def margin_specs(
    eps_values: tuple[str, ...], settings: AttackSettings = AttackSettings()
) -> list[AttackSpec]:
    """The added margin-loss attacks, CW-Linf and APGD-DLR, at each eps ("CW-Linf eps=0.1", ...)."""
    out = []
    for e in eps_values:
        eps = float(e)
        alpha = min(settings.step, eps / 4)  # Table 4's eps 0.005 needs a finer step
        cw = {"eps": eps, "alpha": alpha, "steps": settings.pgd_steps}
        apgd = {"eps": eps, "steps": settings.apgd_steps}
        out.append(AttackSpec(f"CW-Linf eps={e}", "cw-linf", settings.iterative(cw)))
        out.append(AttackSpec(f"APGD-DLR eps={e}", "apgd-dlr", settings.iterative(apgd)))
    return out


def bim_eps10_specs(
    eps_values: tuple[str, ...], settings: AttackSettings = AttackSettings()
) -> list[AttackSpec]:
    """BIM with step eps/10 ("BIM (step eps/10) eps=0.1", ...), beside the literal BIM row.

    The paper prints BIM as 10 iterations of step 0.01, which cannot leave the 0.1 ball, yet its
    BIM accuracy falls with eps (FMNIST Ours: 18.7 / 8.4 / 6.4). Ten steps of eps/10 (the
    official evaluation notebook's step rule for its 10-iteration attacks) reach the whole ball;
    the report's trend claims say which reading matches the paper.
    """
    out = []
    for e in eps_values:
        eps = float(e)
        kw = {"eps": eps, "alpha": eps / settings.bim_steps, "steps": settings.bim_steps}
        out.append(AttackSpec(f"{BIM_EPS10} eps={e}", "bim", settings.iterative(kw)))
    return out


def whitebox_rows(eps_values: tuple[str, ...]) -> list[str]:
    """Table 1's attack rows for the given eps labels, in the table's order (C&W last)."""
    rows = [f"{a} eps={e}" for a in ("FGSM", "BIM", "PGD", "MIM") for e in eps_values]
    return [*rows, "C&W conf=0.0"]


def _eps_filter(eps_values: tuple[str, ...], eps: float | None) -> tuple[str, ...]:
    if eps is None:
        return eps_values
    kept = tuple(e for e in eps_values if abs(float(e) - eps) < 1e-9)
    if not kept:
        raise ValueError(f"eps must be one of {eps_values} for this suite; got {eps!r}")
    return kept


def whitebox_suite(
    eps_values: tuple[str, ...],
    name: str,
    eps: float | None,
    margin: bool,
    settings: AttackSettings,
) -> Suite:
    """White-box suite: the paper's rows at ``eps_values`` plus (``margin``) CW-Linf / APGD-DLR."""
    eps_values = _eps_filter(eps_values, eps)
    specs = [row_spec(r, settings) for r in whitebox_rows(eps_values)]
    specs += bim_eps10_specs(eps_values, settings)
    if margin:
        specs += margin_specs(eps_values, settings)
    return Suite(name, specs, worst_case=False)


@SUITES.register("pcloss/whitebox-gray")
def whitebox_gray(eps: float | None = None, norm: str = "Linf", margin: bool = True) -> Suite:
    """Table 1 on K/F/MNIST: FGSM, BIM-10, PGD-40, MIM-40 (step 0.01) at eps 0.1/0.2/0.3 and
    C&W (100 it., lr 0.001, conf 0); plus CW-Linf and APGD-DLR unless ``margin=False``."""
    _linf(norm)
    return whitebox_suite(GRAY_EPS, "pcloss/whitebox-gray", eps, margin, AttackSettings())


@SUITES.register("pcloss/whitebox-color")
def whitebox_color(eps: float | None = None, norm: str = "Linf", margin: bool = True) -> Suite:
    """Table 1 on CIFAR-10/SVHN: as ``pcloss/whitebox-gray`` at eps 0.04/0.12/0.2."""
    _linf(norm)
    return whitebox_suite(COLOR_EPS, "pcloss/whitebox-color", eps, margin, AttackSettings())


@SUITES.register("pcloss/large-scale")
def large_scale(eps: float | None = None, norm: str = "Linf", margin: bool = True) -> Suite:
    """Table 4 (CIFAR-100, Tiny ImageNet): PGD/MIM 10 it. (step eps/10) at 0.005/0.010/0.015,
    SPSA at 0.015; plus CW-Linf / APGD-DLR unless ``margin=False``."""
    _linf(norm)
    eps_values = _eps_filter(LARGE_EPS, eps)
    rows = [f"{a} eps={e}" for a in ("PGD", "MIM") for e in eps_values]
    specs = [row_spec(r, large=True) for r in rows] + [row_spec("SPSA eps=0.015")]
    if margin:
        specs += margin_specs(eps_values)
    return Suite("pcloss/large-scale", specs, worst_case=False)


@SUITES.register("pcloss/spsa")
def spsa_suite(eps: float | None = None, norm: str = "Linf") -> Suite:
    """SPSA (lr 0.01, delta 0.01) at eps 0.3 (default) — the gradient-free black-box column."""
    _linf(norm)
    e = 0.3 if eps is None else float(eps)
    return Suite("pcloss/spsa", [row_spec(f"SPSA eps={e:g}")], worst_case=False)


def _linf(norm: str) -> None:
    if norm != "Linf":
        raise ValueError(f"the PC-loss suites are Linf only; got norm={norm!r}")
