"""Sanity checks run with every evaluation, after the rules of Athalye, Carlini & Wagner (ICML 2018,
"Obfuscated gradients give a false sense of security"), Carlini et al. (2019, "On evaluating
adversarial robustness") and AutoAttack's own checks (Croce & Hein 2020).

Each check returns ``{"passed": True | False | None, "detail": str, ...values}`` (None: not
applicable, with the reason in ``detail``). A failed check is logged as a warning and stays in the
result under its name:

- ``logits_finite``: clean and adversarial logits have no NaN/inf.
- ``deterministic_output``: two forward passes on the same batch give the same logits (no
  randomness left in the model at evaluation: dropout, stochastic defences).
- ``threat_model``: every ``x_adv`` is inside the eps-ball and [0, 1].
- ``gradients_nonzero``: the input gradient of the cross-entropy is not exactly zero for most
  correctly classified examples (zero gradients = masked gradients: non-differentiable
  pre-processing, saturated softmax from a huge logit scale).
- ``iterative_ge_single_step``: an iterative attack (PGD) is at least as strong as a single-step one
  (FGSM) at the same eps, up to ``tol`` points.
- ``whitebox_ge_blackbox``: white-box PGD is at least as strong as random search in the eps-ball and
  as the suite's black-box attacks, up to ``tol`` points.
- ``masked_ce_loss`` ("masked: CE loss"): at the same budget, no CE-loss white-box attack (PGD,
  FGSM, BIM, APGD-CE) may keep a robust accuracy more than ``ce_gap`` points above a margin-loss
  one (CW-Linf, APGD-DLR) on the same images: a saturated softmax makes CE gradients vanish
  (Carlini & Wagner 2017; Croce & Hein 2020, Sec. 3). The loss is read from the attack's ``loss``
  option or the built attack's ``loss_kind``/``loss_name``, never from its label.
- ``accuracy_to_zero`` (eps sweep, optional): PGD accuracy falls to <= ``zero_acc`` percent as eps is
  doubled up to the whole input box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.eval.suites import AttackSpec

Flag = dict[str, Any]


@dataclass
class SanityConfig:
    """Settings of the sanity checks.

    Args:
        n: Examples (the first n of the evaluation data) used by the attack-based checks.
        tol: Tolerance in accuracy points for "A at least as strong as B".
        zero_grad_fraction: Largest allowed fraction of correct examples with an all-zero gradient.
        random_draws: Uniform random points per example in the random-search baseline.
        eps_sweep: Run the accuracy-to-zero sweep (PGD at eps * 2^k).
        sweep_factors: Multipliers of eps tried in the sweep (stops early once accuracy is ~0).
        zero_acc: Accuracy (percent) the sweep must reach.
        ce_gap: Largest allowed excess (points) of a CE-loss attack's accuracy over a
            margin-loss attack's at the same budget ("masked: CE loss").
        single_step: Attack for the single-step side; None: PGD with 1 step of size eps (FGSM/FGM).
        iterative: Attack for the iterative side; None: PGD-10, step eps/4, random start.
            Both get ``eps`` (and ``norm`` for L2) from the suite.
    """

    n: int = 128
    tol: float = 1.0
    zero_grad_fraction: float = 0.5
    random_draws: int = 8
    eps_sweep: bool = False
    sweep_factors: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    zero_acc: float = 5.0
    ce_gap: float = 5.0
    single_step: AttackSpec | None = None
    iterative: AttackSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def attack(self, which: str, eps: float, norm: str) -> AttackSpec:
        """The single-step ("single_step") or iterative ("iterative") spec at budget ``eps``.

        A custom spec's step size ``alpha`` is scaled with eps (relative to its own ``eps``).
        """
        custom = self.single_step if which == "single_step" else self.iterative
        if custom is not None:
            kwargs = {**custom.kwargs, "eps": eps}
            if "alpha" in custom.kwargs and custom.eps:
                kwargs["alpha"] = custom.kwargs["alpha"] * eps / custom.eps
            if norm != "Linf":
                kwargs.setdefault("norm", norm)
            return AttackSpec(custom.label, custom.attack, kwargs)
        name = "pgd" if norm == "Linf" else "pgd-l2"
        if which == "single_step":
            return AttackSpec(
                "FGSM", name, {"eps": eps, "steps": 1, "alpha": eps, "random_start": False}
            )
        return AttackSpec(
            "PGD-10", name, {"eps": eps, "steps": 10, "alpha": eps / 4, "random_start": True}
        )


#: The sanity checks' iterative attack when the evaluation early-stops: their default PGD-10
#: (step eps/4, random start; alpha is scaled with the check's eps) with early stop.
CHECK_PGD_EARLY_STOP = AttackSpec(
    "PGD-10",
    "pgd",
    {"eps": 1.0, "alpha": 0.25, "steps": 10, "random_start": True, "early_stop": True},
)


def flag(passed: bool | None, detail: str, **values: Any) -> Flag:
    """A check's outcome."""
    return {"passed": passed, "detail": detail, **values}


def threat_violation(x: Tensor, x_adv: Tensor, eps: float | None, norm: str) -> float:
    """Largest amount by which ``x_adv`` (B, ...) leaves the eps-ball around ``x`` or the box [0, 1].

    Returns 0.0 when every example is inside (up to float rounding: 1e-5 absolute,
    plus 1e-5 relative for L2), else the excess; ``inf`` when shapes differ.
    """
    if x_adv.shape != x.shape:
        return math.inf
    box = max(float((-x_adv).max()), float((x_adv - 1).max()), 0.0)
    if eps is None or x.numel() == 0:
        return box if box > 1e-6 else 0.0
    delta = (x_adv - x).flatten(1).float()
    if norm == "L2":
        excess = float((delta.norm(dim=1) - eps * (1 + 1e-5)).max())
    else:
        excess = float((delta.abs().amax(dim=1) - eps).max())
    worst = max(box if box > 1e-6 else 0.0, excess if excess > 1e-5 else 0.0)
    return worst


def check_deterministic(model: nn.Module, x: Tensor) -> Flag:
    """Two forward passes on ``x`` (B, C, H, W) must agree (rtol 1e-5, atol 1e-6)."""
    with torch.no_grad():
        a, b = model(x), model(x)
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    ok = bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
    return flag(
        ok,
        "two forward passes agree"
        if ok
        else f"model output is random: two forward passes differ by up to {diff:.3g} "
        "(dropout or a stochastic layer active in eval mode?)",
        max_diff=diff,
    )


def check_gradients(model: nn.Module, x: Tensor, y: Tensor, max_fraction: float) -> Flag:
    """Fraction of correctly classified examples whose CE input gradient is exactly zero."""
    leaf = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(leaf).float()
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), leaf)
    correct = logits.detach().argmax(1) == y
    if not bool(correct.any()):
        return flag(None, "no correctly classified example to test")
    zero = grad.flatten(1).abs().amax(1) == 0
    frac = float(zero[correct].float().mean())
    ok = frac <= max_fraction
    detail = f"{frac:.0%} of correct examples have an all-zero input gradient" + (
        ""
        if ok
        else " (masked gradients: non-differentiable input processing or "
        "saturated softmax; use a margin/DLR loss, BPDA or remove the layer)"
    )
    return flag(ok, detail, zero_fraction=frac)


@torch.no_grad()
def random_search_acc(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, norm: str, draws: int, gen: torch.Generator
) -> float:
    """Accuracy (percent) under uniform random points in the Linf ball (random directions on the
    L2 sphere): an example counts as robust if it and all ``draws`` points are classified right.

    Only the examples still robust are forwarded at each draw (the noise of every draw is drawn
    for the whole batch, so the result does not depend on which rows are skipped)."""
    robust = model(x).argmax(1) == y
    for _ in range(draws):
        noise = torch.rand(x.shape, generator=gen).to(x.device) * 2 - 1
        if norm == "L2":
            noise = noise / noise.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        rows = robust.nonzero().flatten()
        if len(rows) == 0:
            continue  # keep drawing: the generator advances exactly as before
        pred = model((x[rows] + eps * noise[rows]).clamp(0, 1)).argmax(1)
        robust[rows] = pred == y[rows]
    return 100.0 * int(robust.sum()) / max(len(y), 1)


def compare(strong: float, weak: float, tol: float, strong_name: str, weak_name: str) -> Flag:
    """Pass if accuracy under ``strong`` <= accuracy under ``weak`` + ``tol`` points."""
    ok = strong <= weak + tol
    detail = (
        f"{strong_name} {strong:.2f}% <= {weak_name} {weak:.2f}% (+{tol:g})"
        if ok
        else f"{strong_name} ({strong:.2f}%) is weaker than {weak_name} ({weak:.2f}%): "
        "a sign of gradient masking or a broken attack"
    )
    return flag(ok, detail, **{strong_name: strong, weak_name: weak})


def suite_blackbox_flag(
    kinds: dict[str, str], acc: dict[str, float], worst_case: bool, tol: float
) -> Flag | None:
    """Compare the suite's own white-box and black-box attacks, if it has both.

    Independent mode: the best white-box accuracy must not exceed the best black-box one + tol.
    Worst-case mode (cumulative accuracies): a black-box attack that runs after white-box ones must
    not lower the accuracy by more than tol.
    """
    labels = list(acc)
    white = [lb for lb in labels if kinds[lb] != "black-box"]
    black = [lb for lb in labels if kinds[lb] == "black-box"]
    if not white or not black:
        return None
    if not worst_case:
        w = min(white, key=acc.__getitem__)
        b = min(black, key=acc.__getitem__)
        return compare(acc[w], acc[b], tol, w, b)
    for i, lb in enumerate(labels):
        before = labels[:i]
        if kinds[lb] == "black-box" and any(kinds[p] != "black-box" for p in before):
            drop = acc[before[-1]] - acc[lb]
            if drop > tol:
                return flag(
                    False,
                    f"black-box {lb} lowered accuracy by {drop:.2f} points after "
                    "the white-box attacks: gradient masking",
                    drop=drop,
                )
    return flag(True, "black-box attacks found no examples the white-box attacks missed")


#: Attack losses (``LOSSES`` names) of the two sides of the "masked: CE loss" check.
CE_LOSSES = frozenset({"ce"})
MARGIN_LOSSES = frozenset({"cw", "dlr", "margin"})


def _loss_class(name: object) -> str | None:
    text = str(name).lower() if name is not None else ""
    if text in CE_LOSSES:
        return "ce"
    if text in MARGIN_LOSSES:
        return "margin"
    return None


def attack_kind(spec: AttackSpec) -> str:
    """ "single-step", "iterative" or "black-box": the registered attack's ``kind`` class
    attribute when it has one, else :attr:`AttackSpec.kind`."""
    if isinstance(spec.attack, str):
        from robustlab.core.attacks import ATTACKS

        try:
            kind = getattr(ATTACKS.get(spec.attack), "kind", None)
        except Exception:  # unknown names are reported by the harness itself
            kind = None
        if kind in {"single-step", "iterative", "black-box"}:
            return str(kind)
    return spec.kind


def attack_loss(spec: AttackSpec) -> str | None:
    """ "ce" or "margin" for a white-box gradient attack, else None (black-box, ensembles such as
    AutoAttack, other losses).

    Read from the ``loss`` option, else from the constructed attack's ``loss_kind`` or
    ``loss_name`` attribute (constructing a white-box attack does no work).
    """
    if attack_kind(spec) == "black-box" or spec.name.split("/")[-1] == "autoattack":
        return None
    if "loss" in spec.kwargs:
        loss = spec.kwargs["loss"]
        return _loss_class(loss if isinstance(loss, str) else getattr(loss, "__name__", None))
    try:
        attack = spec.build()
    except Exception:  # not constructible without more context: no claim about its loss
        return None
    declared = getattr(attack, "loss_kind", None)
    if declared in {"ce", "margin"}:
        return str(declared)
    return _loss_class(getattr(attack, "loss_name", None))


def loss_gap_flag(
    acc: dict[str, float], loss: dict[str, str | None], groups: list[list[str]], gap: float
) -> Flag:
    """The "masked: CE loss" check on accuracies (percent) of attacks grouped by equal budget.

    Fails when some CE-loss attack's accuracy exceeds the lowest margin-loss accuracy of its
    group by more than ``gap`` points; ``ce_labels`` lists those attacks.
    """
    bad: list[str] = []
    parts: list[str] = []
    compared = False
    for group in groups:
        ce = [lb for lb in group if loss.get(lb) == "ce"]
        margin = [lb for lb in group if loss.get(lb) == "margin"]
        if not ce or not margin:
            continue
        compared = True
        m = min(margin, key=acc.__getitem__)
        for lb in ce:
            if acc[lb] > acc[m] + gap:
                bad.append(lb)
                parts.append(f"{lb} {acc[lb]:.2f}% vs {m} {acc[m]:.2f}%")
    if not compared:
        return flag(None, "no CE-loss and margin-loss attack at the same budget")
    if bad:
        return flag(
            False,
            "masked: CE loss: "
            + "; ".join(parts)
            + f" (> {gap:g} points): saturated CE gradients; trust the margin-loss attacks",
            ce_labels=bad,
        )
    return flag(True, f"CE-loss attacks within {gap:g} points of the margin-loss attacks")
