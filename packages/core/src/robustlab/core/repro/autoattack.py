"""AutoAttack beside every robustness claim (DESIGN.md, "Profiles"; issue 11).

Every run a robustness cell uses is also evaluated with AutoAttack standard (Croce & Hein, ICML
2020; the official code through the core ``autoattack`` suite) at each (eps, norm) its own suite
attacks at, on the same test images. Each budget is its own evaluation with its own resume state
and result file in the run directory (``aa_<norm>_eps=<eps>.json``, per-example outcomes under
``per_example["AutoAttack"]``) and its own metric ``aa/<norm> eps=<eps>`` (percent).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.repro.spec import RunSpec, TableSpec
from robustlab.core.utils import get_logger

log = get_logger(__name__)

__all__ = [
    "AA_LABEL",
    "aa_file",
    "aa_metric",
    "attack_budget",
    "budgets",
    "mark_autoattack",
    "run_autoattack",
]

AA_LABEL = "AutoAttack"
"""Label of the AutoAttack standard attack in the core ``autoattack`` suite's results."""


def _eps_text(eps: float) -> str:
    return f"{eps:.6g}"


def aa_metric(eps: float, norm: str) -> str:
    """Metric key of AutoAttack accuracy at a budget, e.g. ``"aa/Linf eps=0.1"``."""
    return f"aa/{norm} eps={_eps_text(eps)}"


def aa_file(eps: float, norm: str) -> str:
    """Result file name of the AutoAttack evaluation at a budget (in the run directory)."""
    return f"aa_{norm}_eps={_eps_text(eps)}.json"


def attack_budget(attack: Mapping[str, Any]) -> tuple[float, str] | None:
    """(eps, norm) of one attack entry of an evaluation (``EvalResult.attacks`` item), if finite.

    The norm is the entry's ``norm`` option, else "L2" for ``*-l2`` attacks, else "Linf".
    """
    from robustlab.core.eval import parse_eps

    kwargs = attack.get("kwargs", {}) or {}
    raw = kwargs.get("eps")
    if raw is None:
        return None
    try:
        eps = float(parse_eps(raw))
    except (TypeError, ValueError):
        return None
    if not math.isfinite(eps) or eps <= 0:
        return None
    name = str(attack.get("attack", ""))
    norm = str(kwargs.get("norm", "L2" if name.endswith("-l2") else "Linf"))
    return (eps, norm) if norm in {"Linf", "L2"} else None


def budgets(attacks: Iterable[Mapping[str, Any]]) -> list[tuple[float, str]]:
    """Distinct finite (eps, norm) budgets of an evaluation's attacks, in first-use order."""
    out: dict[tuple[float, str], None] = {}
    for attack in attacks:
        b = attack_budget(attack)
        if b is not None:
            out[(round(b[0], 9), b[1])] = None
    return list(out)


def mark_autoattack(tables: Sequence[TableSpec], runs: Mapping[str, RunSpec]) -> dict[str, RunSpec]:
    """``runs`` with ``autoattack=True`` on every run with a suite that a robustness cell uses."""
    robust = {c.run for t in tables for c in t.cells if c.kind == "robust"}
    return {
        rid: dataclasses.replace(spec, autoattack=True)
        if rid in robust and spec.suite is not None and not spec.autoattack
        else spec
        for rid, spec in runs.items()
    }


def _aa_n(spec: RunSpec, available: int) -> int | None:
    """How many of the run's evaluation images AutoAttack attacks (the first ones)."""
    n = spec.n_eval
    if spec.autoattack_n is not None:
        n = min(spec.autoattack_n, n if n is not None else available)
    return n


def reuse_suite_outcomes(suite_result: Any, label: str, n: int | None) -> Any:
    """An AutoAttack result read from the suite's own outcomes ``label`` (first ``n`` images).

    Used when the suite already is AutoAttack standard (``RunSpec.autoattack_from``).

    Raises:
        ValueError: if the suite has no outcomes under ``label`` (naming the valid labels).
    """
    per = suite_result.per_example
    if label not in per:
        raise ValueError(
            f"autoattack_from={label!r} is not an outcome of the run's suite; valid: "
            f"{', '.join(sorted(per))}"
        )
    vec = list(per[label])[: n or None]
    clean = list(per.get("clean", vec))[: n or None]
    acc = 100.0 * sum(vec) / max(len(vec), 1)
    return dataclasses.replace(
        suite_result,
        robust_acc={AA_LABEL: acc},
        worst_case_acc=acc,
        per_example={"clean": clean, AA_LABEL: vec},
        n=len(vec),
        meta={**suite_result.meta, "autoattack_from": label},
    )


def run_autoattack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attacks: Sequence[Mapping[str, Any]],
    spec: RunSpec,
    rdir: Path,
    device: torch.device,
    progress: bool = True,
    suite_result: Any = None,
) -> dict[str, float]:
    """Evaluate ``model`` with AutoAttack standard at every budget of ``attacks``.

    Args:
        model: The run's final model (eval mode).
        x, y: The run's evaluation images (N, C, H, W) in [0, 1] and labels (N,): the same images
            as the run's own suite.
        attacks: The run's evaluated attacks (``EvalResult.attacks``: label, attack, kwargs).
        spec: The run (n_eval, batch size, eval seed).
        rdir: The run directory; a finished budget's result file is reused, an interrupted one
            resumes from its state file.
        suite_result: The run's own evaluation; with ``spec.autoattack_from`` set and a single
            budget, its outcomes under that label are the AutoAttack result (no second attack).
        device: Where to attack.
        progress: Show the harness's progress bar.

    Returns:
        ``{aa_metric(eps, norm): accuracy in percent}`` per budget.
    """
    from robustlab.core.eval import EvalResult, evaluate

    out: dict[str, float] = {}
    for eps, norm in budgets(attacks):
        path = rdir / aa_file(eps, norm)
        result: EvalResult | None = None
        if path.exists():
            try:
                result = EvalResult.load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("unreadable %s (%s); evaluating AutoAttack again", path, exc)
        if (result is None or AA_LABEL not in result.robust_acc) and spec.autoattack_from:
            if suite_result is None or len(budgets(attacks)) != 1:
                raise ValueError(
                    f"run {spec.id}: autoattack_from needs the suite's result and a suite with "
                    "one (eps, norm) budget"
                )
            result = reuse_suite_outcomes(suite_result, spec.autoattack_from, _aa_n(spec, len(y)))
            result.save(path)
        if result is None or AA_LABEL not in result.robust_acc:
            log.info("run %s: AutoAttack standard at %s eps=%g", spec.id, norm, eps)
            result = evaluate(
                model,
                (x, y),
                "autoattack",
                n=_aa_n(spec, len(y)),
                batch_size=spec.eval_batch_size,
                device=device,
                state_path=path.with_name(path.stem + "_state.json"),
                seed=spec.eval_seed,
                progress=progress,
                eps=eps,
                norm=norm,
                checks=False,
            )
            result.save(path)
        out[aa_metric(eps, norm)] = float(result.robust_acc[AA_LABEL])
    return out
