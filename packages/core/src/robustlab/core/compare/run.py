"""``compare``: plan, run (resumable) and report the controlled comparison in one call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from robustlab.core.compare.leaderboard import ModelResult, leaderboard
from robustlab.core.compare.plan import BASELINES, FAMILIES, Budget, build_plan, get_budget
from robustlab.core.compare.render import render_comparison
from robustlab.core.compare.study import NAME, load_models, run_study
from robustlab.core.repro.store import profile_dir
from robustlab.core.utils import environment_info, get_device, get_logger

log = get_logger(__name__)


def boards(models: Sequence[ModelResult]) -> dict[str, list[Any]]:
    """One leaderboard per family (see :func:`~robustlab.core.compare.leaderboard.leaderboard`)."""
    return {
        fam: leaderboard([m for m in models if m.family == fam], BASELINES[fam])
        for fam in FAMILIES
        if any(m.family == fam for m in models)
    }


def compare(
    budget: str | Budget = "quick",
    runs_dir: str | Path = "runs",
    out_dir: str | Path | None = None,
    device: Any = None,
    train: bool = True,
    progress: bool = True,
    installed: Callable[[], Sequence[str]] | None = None,
    entries: Sequence[Any] | None = None,
) -> dict[str, Path]:
    """Train and evaluate every installed method of the plan, then write the comparison report.

    Args:
        budget: "quick" (about 30 min on 2 CPU cores, see docs/compare.md) or "full".
        runs_dir: Root of the run store; runs go to ``<runs_dir>/compare/<profile>/``.
        out_dir: Report directory (default ``<runs_dir>/compare/<profile>/report``).
        device: Where to train and evaluate (None: best available).
        train: False: report on the runs finished so far, train nothing.
        progress: Show progress bars.
        installed: Registered method names (default ``METHODS.names``; tests pass a fake).
        entries: The methods (default the full plan, ``plan.ENTRIES``).

    Returns:
        The report's paths by kind ("md", "csv", "html", "plan", "pareto_clean_vs_autoattack",
        "model:<run id>").
    """
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    plan = build_plan(b, installed, **({"entries": entries} if entries is not None else {}))
    missing = [p.entry.label for p in plan if not p.installed]
    if missing:
        log.warning("not installed (listed in the report, not run): %s", ", ".join(missing))
    dev = get_device(device)
    pdir = profile_dir(runs_dir, NAME, b.profile)
    if train and any(p.installed for p in plan):
        pdir = run_study(plan, b, runs_dir, dev, progress)
    models = load_models(pdir, plan)
    out = Path(out_dir) if out_dir is not None else pdir / "report"
    env = {k: v for k, v in environment_info(dev).items() if v not in (None, "")}
    env["device"] = str(dev)
    return render_comparison(boards(models), models, plan, b, env, out)
