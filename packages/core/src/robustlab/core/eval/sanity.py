"""Runs the sanity checks of :mod:`robustlab.core.eval.checks` after an evaluation's batches."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robustlab.core.eval.checks import (
    CHECK_PGD_EARLY_STOP,
    Flag,
    SanityConfig,
    attack_kind,
    attack_loss,
    check_deterministic,
    check_gradients,
    compare,
    flag,
    loss_gap_flag,
    random_search_acc,
    suite_blackbox_flag,
    threat_violation,
)
from robustlab.core.eval.state import EvalState
from robustlab.core.eval.suites import AttackSpec, Suite
from robustlab.core.utils import get_logger

log = get_logger(__name__)


def attack_accuracy(
    model: nn.Module, spec: AttackSpec, x: Tensor, y: Tensor, seed: int, batch_size: int
) -> tuple[float, float]:
    """Accuracy (percent) of ``model`` on ``x``, ``y`` under ``spec``, and the largest threat-model
    violation. Only clean-correct examples are attacked."""
    robust_total, worst_excess = 0, 0.0
    for lo in range(0, len(y), batch_size):
        xb, yb = x[lo : lo + batch_size], y[lo : lo + batch_size]
        with torch.no_grad():
            ok = model(xb).argmax(1) == yb
        idx = ok.nonzero().squeeze(1)
        if idx.numel():
            torch.manual_seed(seed + lo)
            x_adv = spec.build(seed=seed + lo)(model, xb[idx], yb[idx])
            worst_excess = max(worst_excess, threat_violation(xb[idx], x_adv, spec.eps, spec.norm))
            with torch.no_grad():
                ok[idx] = model(x_adv).argmax(1) == yb[idx]
        robust_total += int(ok.sum())
    return 100.0 * robust_total / max(len(y), 1), worst_excess


def run_sanity(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    suite: Suite,
    state: EvalState,
    cfg: SanityConfig,
    dev: torch.device,
    seed: int,
    batch_size: int,
) -> tuple[dict[str, Flag], list[dict[str, float]] | None]:
    """All checks; returns (flags by name, eps sweep points or None). Failures are logged."""
    xs, ys = x[: cfg.n].to(dev), y[: cfg.n].to(dev)
    flags: dict[str, Flag] = {}
    nonfinite = state.nonfinite
    flags["logits_finite"] = flag(
        nonfinite == 0,
        "all logits finite" if nonfinite == 0 else f"{nonfinite} examples gave NaN/inf logits",
        nonfinite=nonfinite,
    )
    flags["deterministic_output"] = check_deterministic(model, xs[:64])
    flags["gradients_nonzero"] = check_gradients(model, xs, ys, cfg.zero_grad_fraction)
    sweep: list[dict[str, float]] | None = None
    eps, norm = check_budget(suite)
    violation = dict(state.violation)
    if eps is None or norm is None:
        why = "no attack of the suite has a finite Linf/L2 eps"
        flags["iterative_ge_single_step"] = flag(None, why)
        flags["whitebox_ge_blackbox"] = flag(None, why)
    else:
        single, sv = attack_accuracy(
            model, cfg.attack("single_step", eps, norm), xs, ys, seed, batch_size
        )
        custom = cfg.iterative not in (None, CHECK_PGD_EARLY_STOP)  # a user's own check attack
        own = None if custom else suite_iterative(suite, state, eps, norm, len(ys))
        if own is not None:  # the suite already ran an iterative attack alone on these examples
            multi, mv = own[1], 0.0
        else:
            multi, mv = attack_accuracy(
                model, cfg.attack("iterative", eps, norm), xs, ys, seed, batch_size
            )
        violation["check:single_step"], violation["check:iterative"] = sv, mv
        flags["iterative_ge_single_step"] = _iterative_flag(suite, state, single, multi, cfg.tol)
        if own is not None:
            f = flags["iterative_ge_single_step"]
            f["detail"] = str(f["detail"]).replace("iterative", f"iterative ({own[0]})", 1)
        gen = torch.Generator().manual_seed(seed)
        noise = random_search_acc(model, xs, ys, eps, norm, cfg.random_draws, gen)
        flags["whitebox_ge_blackbox"] = _blackbox_flag(suite, state, multi, noise, cfg.tol)
        if cfg.eps_sweep:
            sweep = eps_sweep(model, xs, ys, cfg, eps, norm, seed, batch_size)
            last = sweep[-1]
            ok = last["accuracy"] <= cfg.zero_acc
            flags["accuracy_to_zero"] = flag(
                ok,
                f"PGD accuracy {last['accuracy']:.2f}% at eps {last['eps']:.4g}"
                + (
                    ""
                    if ok
                    else f" > {cfg.zero_acc:g}%: the attack cannot break the model even "
                    "with an unbounded budget (masked gradients?)"
                ),
                sweep=sweep,
            )
    flags["masked_ce_loss"] = masked_ce_flag(suite, state, cfg.ce_gap)
    bad = {k: v for k, v in violation.items() if v > 0}
    flags["threat_model"] = flag(
        not bad,
        "all x_adv inside the eps-ball and [0, 1]"
        if not bad
        else f"x_adv outside the threat model (largest excess per attack: {bad})",
        excess=bad,
    )
    for name, f in flags.items():
        if f["passed"] is False:
            log.warning("sanity check %s FAILED: %s", name, f["detail"])
    return flags, sweep


def suite_iterative(
    suite: Suite, state: EvalState, eps: float, norm: str, n: int
) -> tuple[str, float] | None:
    """(label, accuracy % on the first ``n`` examples) of an untargeted iterative attack of the
    suite at (``eps``, ``norm``) whose outcomes are its own: any such attack in independent mode,
    the first attack in worst-case mode (later ones only attack what earlier ones left). The
    iterative-vs-single-step check then uses it instead of running its own PGD-10; None if the
    suite has none (the check runs PGD-10)."""
    candidates = suite.attacks if not suite.worst_case else suite.attacks[:1]
    for spec in candidates:
        if (spec.kwargs or {}).get("targeted", False) or attack_kind(spec) != "iterative":
            continue
        if spec.eps is None or spec.norm != norm or not math.isclose(spec.eps, eps, rel_tol=1e-9):
            continue
        done = state.done(spec.label)[:n]
        return spec.label, 100.0 * int(done.sum()) / max(n, 1)
    return None


def check_budget(suite: Suite) -> tuple[float | None, str | None]:
    """(eps, norm) for the attack-based checks: the suite's common budget, else the first attack's
    finite Linf/L2 budget (masked gradients show at any eps), else (None, None)."""
    if suite.eps is not None and suite.norm in {"Linf", "L2"} and math.isfinite(suite.eps):
        return suite.eps, suite.norm
    for spec in suite.attacks:
        if spec.eps is not None and math.isfinite(spec.eps) and spec.norm in {"Linf", "L2"}:
            return spec.eps, spec.norm
    return None, None


def budget_groups(suite: Suite) -> list[list[str]]:
    """Labels of the suite's attacks grouped by equal (eps, norm); attacks without eps left out.
    Strength comparisons are only meaningful inside a group."""
    groups: dict[tuple[float, str], list[str]] = {}
    for spec in suite.attacks:
        if spec.eps is not None:
            groups.setdefault((round(spec.eps, 9), spec.norm), []).append(spec.label)
    return list(groups.values())


def _accs(suite: Suite, state: EvalState) -> dict[str, float]:
    """Accuracy under each untargeted attack of the suite (a targeted attack only has to reach
    one class, so it is legitimately weaker and takes no part in the strength comparisons)."""
    return {
        a.label: 100.0 * int(state.done(a.label).sum()) / state.n
        for a in suite.attacks
        if not (a.kwargs or {}).get("targeted", False)
    }


def masked_ce_flag(suite: Suite, state: EvalState, gap: float) -> Flag:
    """ "masked: CE loss" on the suite's own attacks (all examples, same budget groups).

    Worst-case suites report cumulative accuracies, which cannot be compared this way.
    """
    if suite.worst_case:
        return flag(None, "worst-case suite: accuracies are cumulative, not comparable")
    acc = _accs(suite, state)
    loss = {a.label: attack_loss(a) for a in suite.attacks if a.label in acc}
    groups = [[lb for lb in g if lb in acc] for g in budget_groups(suite)]
    return loss_gap_flag(acc, loss, groups, gap)


def _iterative_flag(
    suite: Suite, state: EvalState, single: float, multi: float, tol: float
) -> Flag:
    """The check-subset comparison, then (independent mode) the suite's own attacks per budget."""
    out = compare(multi, single, tol, "iterative", "single_step")
    if suite.worst_case or out["passed"] is False:
        return out
    acc = _accs(suite, state)
    kinds = {a.label: attack_kind(a) for a in suite.attacks}
    for group in ([lb for lb in g if lb in acc] for g in budget_groups(suite)):
        singles = [lb for lb in group if kinds[lb] == "single-step"]
        for lb in (lb for lb in group if kinds[lb] == "iterative"):
            for s in singles:
                if acc[lb] > acc[s] + tol:
                    return compare(acc[lb], acc[s], tol, lb, s)
    return out


def _blackbox_flag(suite: Suite, state: EvalState, white: float, noise: float, tol: float) -> Flag:
    """PGD vs random search on the check subset, then the suite's own attacks per budget."""
    out = compare(white, noise, tol, "iterative", "random_search")
    if out["passed"] is False:
        return out
    kinds = {a.label: attack_kind(a) for a in suite.attacks}
    acc = _accs(suite, state)
    # worst-case accuracies are cumulative in suite order: compare in that order, ungrouped
    groups = (
        [list(acc)]
        if suite.worst_case
        else [[lb for lb in g if lb in acc] for g in budget_groups(suite)]
    )
    for group in groups:
        own = suite_blackbox_flag(kinds, {lb: acc[lb] for lb in group}, suite.worst_case, tol)
        if own is not None and own["passed"] is False:
            return own
    return out


def eps_sweep(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    cfg: SanityConfig,
    eps: float,
    norm: str,
    seed: int,
    batch_size: int,
) -> list[dict[str, float]]:
    """PGD accuracy at eps * factor for the configured factors, up to the whole input box
    (Linf 1, L2 sqrt(d)), stopping once accuracy <= ``cfg.zero_acc``. eps 0 starts at 1/255."""
    cap = 1.0 if norm == "Linf" else math.sqrt(x[0].numel())
    base = eps if eps > 0 else 1 / 255
    points: list[dict[str, float]] = []
    for factor in cfg.sweep_factors:
        e = min(base * factor, cap)
        acc, _ = attack_accuracy(model, cfg.attack("iterative", e, norm), x, y, seed, batch_size)
        points.append({"eps": e, "accuracy": acc})
        if acc <= cfg.zero_acc or e >= cap:
            break
    return points
