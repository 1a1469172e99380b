"""Run the comparison plan through core's runner and run store, and read the results back.

The plan becomes a paper-shaped object (``name = "compare"``) whose two tables (one per family)
hold one clean and one robust cell per model; :func:`robustlab.core.repro.reproduce` then trains
dependencies first, skips finished runs, resumes interrupted ones and adds AutoAttack standard on
the same images. Output: ``<runs_dir>/compare/<quick|fmnist>/_runs/<run id>/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from robustlab.core.compare.leaderboard import AA, ModelResult
from robustlab.core.compare.plan import (
    BASELINES,
    EPS,
    FAMILIES,
    Budget,
    PlannedRun,
    get_budget,
)
from robustlab.core.repro.autoattack import aa_file
from robustlab.core.repro.execute import EVAL_RESULT
from robustlab.core.repro.spec import Cell, RunSpec, TableSpec
from robustlab.core.repro.store import METRICS, profile_dir, read_json, run_dir
from robustlab.core.utils import get_logger

log = get_logger(__name__)
NAME = "compare"


class Study:
    """The comparison as the runner sees a paper: identity, one profile, tables and runs.

    Args:
        plan: :func:`~robustlab.core.compare.plan.build_plan` output.
        budget: Its budget.
    """

    name = NAME
    title = "robustlab controlled cross-paper comparison"
    authors = "robustlab"
    venue = ""
    url = ""

    def __init__(self, plan: Sequence[PlannedRun], budget: Budget) -> None:
        self.plan = list(plan)
        self.budget = budget
        self.profiles = {budget.profile: budget}

    def runs(self, profile: str) -> dict[str, RunSpec]:
        """Every installed method's run, by id."""
        return {p.spec.id: p.spec for p in self.plan if p.spec is not None}

    def tables(self, profile: str) -> list[TableSpec]:
        """One table per family: a clean and a robust (PGD-CE) cell per installed method."""
        out = []
        for fam in FAMILIES:
            cells: list[Cell] = []
            for p in self.plan:
                if p.spec is None or p.entry.family != fam:
                    continue
                cells.append(
                    Cell(fam, p.entry.label, "clean", p.spec.id, "clean_acc", None, kind="clean")
                )
                cells.append(Cell(fam, p.entry.label, "PGD-CE", p.spec.id, "acc/PGD-CE", None))
            if cells:
                out.append(
                    TableSpec(fam, f"{fam} family (baseline {BASELINES[fam]})", tuple(cells))
                )
        return out

    def describe_profile(self, profile: str) -> str:
        """The budget statement at the top of the runner's snapshot."""
        b = self.budget
        return (
            f"{b.name} comparison budget: {b.dataset}, LeNet-5 family, {b.epochs} epochs on "
            f"{b.n_train or 60000} images, SGD lr {b.lr} momentum 0.9, seed {b.seed}; Linf eps "
            f"{EPS} for training and evaluation; {b.n_eval} test images, AutoAttack on {b.aa_n}"
        )


def run_study(
    plan: Sequence[PlannedRun],
    budget: str | Budget,
    runs_dir: str | Path = "runs",
    device: Any = None,
    progress: bool = True,
) -> Path:
    """Train and evaluate every installed method of ``plan`` (resumable); the profile directory.

    Raises:
        HelperRunError: LTD's teacher ended near chance. ConfigError / DataNotFoundError: as
            :func:`robustlab.core.repro.reproduce`.
    """
    from robustlab.core.repro import reproduce

    b = budget if isinstance(budget, Budget) else get_budget(budget)
    study = Study(plan, b)
    reproduce(study, profile=b.profile, device=device, runs_dir=runs_dir, progress=progress)
    return profile_dir(runs_dir, NAME, b.profile)


def _bits(value: Any) -> list[bool]:
    if isinstance(value, str):
        return [c == "1" for c in value]
    return [bool(v) for v in value]


def load_model(rdir: Path, planned: PlannedRun, eps: float = EPS) -> ModelResult | None:
    """A finished run's per-example outcomes cut to the AutoAttack images; None if unfinished.

    Reads ``eval.json`` (clean and suite attacks, sanity flags) and the AutoAttack file
    ``aa_Linf_eps=<eps>.json`` of the run directory.
    """
    if not (rdir / METRICS).exists() or not (rdir / EVAL_RESULT).exists():
        return None
    body = read_json(rdir / EVAL_RESULT).get("robustlab", {})
    aa_path = rdir / aa_file(eps, "Linf")
    if not aa_path.exists():
        log.warning(
            "%s has no AutoAttack result (%s); left out of the leaderboard", rdir, aa_path.name
        )
        return None
    aa_body = read_json(aa_path).get("robustlab", {})
    aa_per = {k: _bits(v) for k, v in (aa_body.get("per_example") or {}).items()}
    aa_vec = aa_per.get(AA) or next(
        (v for k, v in aa_per.items() if k not in ("clean", "worst_case")), []
    )
    n = len(aa_vec)
    per = {k: _bits(v)[:n] for k, v in (body.get("per_example") or {}).items() if k != "worst_case"}
    outcomes = {"clean": per.pop("clean", aa_per.get("clean", [])[:n]), **per, AA: aa_vec}
    metrics = read_json(rdir / METRICS)
    return ModelResult(
        planned.entry.label,
        planned.entry.family,
        planned.entry.run_id,
        outcomes,
        tuple(body.get("failed_checks") or ()),
        {
            "method": planned.entry.method,
            "package": planned.entry.package,
            "model": planned.entry.model,
            "eval": read_json(rdir / EVAL_RESULT),
            "record": metrics,
        },
    )


def load_models(
    pdir: Path, plan: Sequence[PlannedRun], loader: Callable[..., ModelResult | None] = load_model
) -> list[ModelResult]:
    """Every finished run of the plan under the profile directory ``pdir``."""
    out = []
    for p in plan:
        if p.spec is None:
            continue
        m = loader(run_dir(pdir, p.spec.id), p)
        if m is not None:
            out.append(m)
    return out
