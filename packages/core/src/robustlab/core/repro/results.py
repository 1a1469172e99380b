"""Measured tables read from a runs dir: cells (paper vs ours, Wilson interval) and claim verdicts.

Cells are filled from the runs' flat metrics; claims are tested on :class:`Measurement` objects
that carry what the tests need: n and dataset of the run's evaluation, the per-example outcome
vector of the metric (from the run's ``eval.json`` or AutoAttack result file, used only if it
reproduces the metric exactly) and the per-seed values of seeded runs. Every robustness claim
gets a second verdict under AutoAttack (the same comparisons on the ``aa/...`` metric of each
cell's run at the cell's budget), and notes naming the failed sanity checks of the runs it rests
on ("masked: CE loss" named with the CE-loss cells it affects).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustlab.core.repro.claims import ALPHA, ClaimResult, Measurement, evaluate_claim
from robustlab.core.repro.execute import EVAL_RESULT
from robustlab.core.repro.measure import (
    Outcomes,
    autoattack_values,
    claim_cells,
    measure,
    read_result,
)
from robustlab.core.repro.published import CellRef
from robustlab.core.repro.snapshot import load_snapshot, table_from_dict
from robustlab.core.repro.spec import Cell, Claim, TableSpec
from robustlab.core.repro.store import RUNS, inspect_run, read_record, run_dir

NEAR_ZERO = 1.0
"""Paper and ours both below this many points: "both ~0", never counted as agreement."""
NEAR_CHANCE = "near_chance"
"""Name of the sanity flag of a run whose clean accuracy is near chance (:func:`near_chance_flag`)."""
MASKED_CE = "masked_ce_loss"
"""Name of the loss-function-gap sanity flag (:func:`robustlab.core.eval.checks.masked_ce_flag`)."""


@dataclass(frozen=True)
class CellResult:
    """One cell: the paper's value, ours, ours - paper, within tolerance, and our measurement.

    ``within`` is None where no tolerance mark is shown: no value, a quick profile (not at the
    paper's budget), or both values near 0 (``both_zero``).
    """

    cell: Cell
    ours: float | None
    delta: float | None
    within: bool | None
    measurement: Measurement | None = None
    both_zero: bool = False

    @property
    def tolerance(self) -> float | None:
        """The tolerance applied (cell's own or the default of its kind)."""
        return self.cell.effective_tolerance

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % Wilson interval of our accuracy (percent), pooled over seeds."""
        return None if self.measurement is None else self.measurement.interval()

    @property
    def std(self) -> float | None:
        """Standard deviation over seeds (seeded runs only)."""
        return None if self.measurement is None else self.measurement.std


@dataclass(frozen=True)
class TableResult:
    """A table's cells and the verdicts of its claims."""

    spec: TableSpec
    cells: tuple[CellResult, ...]
    claims: tuple[ClaimResult, ...]


@dataclass
class ReproReport:
    """Everything a report shows for one paper under one profile.

    Attributes:
        paper: name, title, authors, venue, url.
        profile: "quick", "fmnist" or "paper".
        description: The paper's budget statement for the profile.
        profile_dir: ``<runs_dir>/<paper>/<profile>``.
        environment: Versions and hardware (``environment_info``).
        tables: Per-table results in the paper's order.
        runs: run id -> {"status", "metrics", "checks", "summary", "dir", ...}.
        paths: Rendered files ("md", "csv", "claims_csv", "html", figure names).
        alpha: Level of the claim verdicts.
    """

    paper: dict[str, str]
    profile: str
    description: str
    profile_dir: Path
    environment: dict[str, Any]
    tables: list[TableResult]
    runs: dict[str, dict[str, Any]]
    paths: dict[str, Path] = field(default_factory=dict)
    alpha: float = ALPHA

    @property
    def quick(self) -> bool:
        """Whether this is a quick-profile report (numbers not comparable in absolute terms)."""
        return self.profile == "quick"

    @property
    def claims(self) -> list[ClaimResult]:
        """All claims of all tables."""
        return [c for t in self.tables for c in t.claims]

    def sanity_rows(self) -> list[tuple[str, str, str]]:
        """(run id, check name, detail) of every failed evaluation sanity check."""
        return [
            (rid, name, str(flag.get("detail", "")))
            for rid, run in sorted(self.runs.items())
            for name, flag in sorted(run.get("checks", {}).items())
            if isinstance(flag, dict) and flag.get("passed") is False
        ]

    def helper_rows(self) -> list[tuple[str, str, str, str]]:
        """(run id, needed by as "run (role)", method/model, clean accuracy) of every helper run:
        a dependency (teacher, substitute, guide) that fills no cell itself."""
        users: dict[str, list[str]] = {}
        for rid, run in sorted(self.runs.items()):
            for role, dep in (run.get("summary", {}).get("needs") or {}).items():
                users.setdefault(dep, []).append(f"{rid} ({role})")
        rows = []
        for rid, run in sorted(self.runs.items()):
            summary = run.get("summary", {})
            if not summary.get("helper"):
                continue
            metrics = run.get("metrics", {})
            acc = metrics.get("clean_acc", metrics.get("train/clean_acc"))
            what = f"{summary.get('method', '?')} / {summary.get('model', '?')}"
            acc_text = f"{acc:.2f}" if isinstance(acc, (int, float)) else run.get("status", "?")
            rows.append((rid, ", ".join(users.get(rid, [])) or "–", what, acc_text))
        return rows

    def checked_runs(self) -> int:
        """Number of finished runs whose evaluation recorded sanity checks."""
        return sum(bool(r.get("checks")) for r in self.runs.values())

    def runs_done(self) -> int:
        """Number of finished runs."""
        return sum(r["status"] == "done" for r in self.runs.values())


def cell_result(
    cell: Cell,
    ours: float | None,
    *,
    at_budget: bool = True,
    measurement: Measurement | None = None,
) -> CellResult:
    """Compare one measured value with the cell's paper value and tolerance.

    Args:
        cell: The cell.
        ours: Our value (None: not measured).
        at_budget: Whether the profile runs at the paper's budget; False (quick) shows no
            tolerance mark.
        measurement: What the value was measured on (for the Wilson interval).
    """
    if ours is None or cell.paper_value is None:
        return CellResult(cell, ours, None, None, measurement)
    delta = ours - cell.paper_value
    tol = cell.effective_tolerance
    both_zero = cell.kind != "other" and abs(ours) < NEAR_ZERO and abs(cell.paper_value) < NEAR_ZERO
    judged = at_budget and not cell.analog and not both_zero
    within = abs(delta) <= tol + 1e-9 if tol is not None and judged else None
    return CellResult(cell, ours, delta, within, measurement, both_zero)


# ---------------------------------------------------------------- reading runs


def _eval_dirs(rdir: Path, info: dict[str, Any]) -> list[Path]:
    """The directories holding eval.json: the run's own, or its seeds' for a seeded run."""
    seeds = info.get("seed_runs")
    if isinstance(seeds, dict) and seeds:
        return [rdir / str(p) for p in seeds.values()]
    return [rdir]


def _eval_checks(dirs: list[Path]) -> dict[str, dict[str, Any]]:
    """Sanity-check flags of the evaluation(s); a seeded run fails a check if any seed does."""
    out: dict[str, dict[str, Any]] = {}
    for d in dirs:
        path = d / EVAL_RESULT
        if not path.exists():
            continue
        flags = read_result(path).get("flags")
        if not isinstance(flags, dict):
            out["eval.json"] = {"passed": False, "detail": f"unreadable: {path}"}
            continue
        prefix = f"{d.name}: " if len(dirs) > 1 else ""
        for name, f in flags.items():
            if not isinstance(f, dict):
                continue
            if name not in out or (f.get("passed") is False and out[name].get("passed")):
                out[name] = {**f, "detail": prefix + str(f.get("detail", ""))}
    return out


def near_chance_flag(metrics: dict[str, float], dataset: str) -> dict[str, Any] | None:
    """A failed sanity flag when a run's clean accuracy is within ``CHANCE_MARGIN`` of chance.

    Helper runs near chance stop a reproduction (:func:`~robustlab.core.repro.plan.check_helper`);
    a run that fills table cells is flagged instead, so its cells are never silently tabulated.

    Args:
        metrics: The run's flat metrics (percent accuracies).
        dataset: Its dataset name (chance = 100 / classes; 10 classes if unknown).

    Returns:
        ``{"passed": False, "detail": ...}`` or None (not near chance, or no clean accuracy).
    """
    from robustlab.core.repro.plan import CHANCE_MARGIN, helper_accuracy

    acc = helper_accuracy(metrics)
    try:
        from robustlab.core.data import info

        classes = int(info(dataset).num_classes)
    except Exception:  # unknown or unregistered dataset: assume 10 classes
        classes = 10
    chance = 100.0 / max(1, classes)
    if acc is None or acc > chance + CHANCE_MARGIN:
        return None
    detail = (
        f"clean accuracy {acc:.2f} % is within {CHANCE_MARGIN:g} points of chance "
        f"({chance:.2f} %): the model did not learn; its cells measure noise"
    )
    return {"passed": False, "detail": detail}


def _run_states(pdir: Path, runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rid, summary in runs.items():
        rdir = run_dir(pdir, rid)
        status, reason = inspect_run(rdir, summary.get("config_hash", ""))
        rec = read_record(rdir) if status == "done" else None
        info = rec.info if rec is not None else {}
        checks = _eval_checks(_eval_dirs(rdir, info)) if rec is not None else {}
        if rec is not None:
            flag = near_chance_flag(rec.metrics, str(summary.get("dataset", "")))
            if flag is not None:
                checks[NEAR_CHANCE] = flag
        out[rid] = {
            "status": status,
            "reason": reason,
            "metrics": rec.metrics if rec is not None else {},
            "checks": checks,
            "seed_metrics": info.get("seed_metrics") or {},
            "eval_dirs": _eval_dirs(rdir, info),
            "summary": summary,
            "dir": f"{RUNS}/{rid}",
        }
    return out


def claim_notes(claim: Claim, by_ref: dict[CellRef, Cell], runs: dict[str, Any]) -> list[str]:
    """Failed sanity checks of the runs the claim rests on; "masked: CE loss" names its cells."""
    cells = claim_cells(claim, by_ref)
    notes: list[str] = []
    for rid in dict.fromkeys(c.run for c in cells):
        for name, f in sorted(runs.get(rid, {}).get("checks", {}).items()):
            if not isinstance(f, dict) or f.get("passed") is not False:
                continue
            if name == MASKED_CE:
                ce = {f"acc/{lb}" for lb in f.get("ce_labels", [])}
                hit = [c for c in cells if c.run == rid and c.metric in ce]
                if hit:
                    names = ", ".join(f"{c.row}/{c.column}" for c in hit)
                    notes.append(
                        f"rests on CE-loss cells of a model flagged 'masked: CE loss' "
                        f"({rid}: {names}): {f.get('detail', '')}"
                    )
                    continue
            notes.append(f"{rid}: {name} failed: {f.get('detail', '')}")
    return notes


def build_tables(
    specs: list[TableSpec],
    runs: dict[str, dict[str, Any]],
    profile: str = "paper",
    alpha: float = ALPHA,
) -> list[TableResult]:
    """Fill each table's cells from the runs and evaluate the claims (ours, paper, AutoAttack).

    Args:
        specs: The tables.
        runs: run id -> state (``metrics``, ``checks``, ``seed_metrics``, ``eval_dirs``, ...).
        profile: "quick" shows no tolerance marks (not at the paper's budget).
        alpha: Level of the verdicts.
    """
    loader = Outcomes(runs)
    by_ref = {c.ref: c for s in specs for c in s.cells}
    measured = {ref: measure(c, runs, loader) for ref, c in by_ref.items()}
    paper = {ref: c.paper_value for ref, c in by_ref.items()}
    out = []
    for spec in specs:
        claims = []
        for claim in spec.claims:
            res = evaluate_claim(claim, measured, paper, alpha)
            aa = autoattack_values(claim, by_ref, runs, loader)
            if aa is not None:
                aa_res = evaluate_claim(aa[0], aa[1], {}, alpha)
                res = dataclasses.replace(res, aa_verdict=aa_res.verdict, aa_details=aa_res.details)
            notes = tuple(claim_notes(claim, by_ref, runs))
            claims.append(dataclasses.replace(res, notes=notes))
        cells = tuple(
            cell_result(
                c,
                measured[c.ref].value,
                at_budget=profile != "quick",
                measurement=measured[c.ref],
            )
            for c in spec.cells
        )
        out.append(TableResult(spec, cells, tuple(claims)))
    return out


def collect(pdir: str | Path, alpha: float = ALPHA) -> ReproReport:
    """Read a profile directory (``tables.json`` + finished runs) into a :class:`ReproReport`.

    Raises:
        FileNotFoundError: if ``pdir`` holds no ``tables.json``.
    """
    pdir = Path(pdir)
    snap = load_snapshot(pdir)
    specs = [table_from_dict(t) for t in snap["tables"]]
    runs = _run_states(pdir, snap.get("runs", {}))
    return ReproReport(
        paper=snap["paper"],
        profile=snap["profile"],
        description=snap.get("profile_description", ""),
        profile_dir=pdir,
        environment=snap.get("environment", {}),
        tables=build_tables(specs, runs, snap["profile"], alpha),
        runs=runs,
        alpha=alpha,
    )


__all__ = [
    "MASKED_CE",
    "NEAR_ZERO",
    "CellResult",
    "ReproReport",
    "TableResult",
    "build_tables",
    "cell_result",
    "collect",
]
