"""Measured tables: paper value vs ours vs delta per cell, and claim verdicts, read from a runs dir."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustlab.core.repro.claims import ClaimResult, evaluate_claim
from robustlab.core.repro.execute import EVAL_RESULT
from robustlab.core.repro.published import CellRef
from robustlab.core.repro.snapshot import load_snapshot, table_from_dict
from robustlab.core.repro.spec import Cell, TableSpec
from robustlab.core.repro.store import RUNS, inspect_run, read_record, run_dir


@dataclass(frozen=True)
class CellResult:
    """One cell: the paper's value, ours, ours - paper, and whether that is within tolerance."""

    cell: Cell
    ours: float | None
    delta: float | None
    within: bool | None

    @property
    def tolerance(self) -> float | None:
        """The tolerance applied (cell's own or the default of its kind)."""
        return self.cell.effective_tolerance


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
        runs: run id -> {"status", "metrics", "summary", "dir"}.
        paths: Rendered files ("md", "csv", "claims_csv", "html", figure names).
    """

    paper: dict[str, str]
    profile: str
    description: str
    profile_dir: Path
    environment: dict[str, Any]
    tables: list[TableResult]
    runs: dict[str, dict[str, Any]]
    paths: dict[str, Path] = field(default_factory=dict)

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

    def checked_runs(self) -> int:
        """Number of finished runs whose evaluation recorded sanity checks."""
        return sum(bool(r.get("checks")) for r in self.runs.values())

    def runs_done(self) -> int:
        """Number of finished runs."""
        return sum(r["status"] == "done" for r in self.runs.values())


def cell_result(cell: Cell, ours: float | None) -> CellResult:
    """Compare one measured value with the cell's paper value and tolerance."""
    if ours is None or cell.paper_value is None:
        return CellResult(cell, ours, None, None)
    delta = ours - cell.paper_value
    tol = cell.effective_tolerance
    return CellResult(cell, ours, delta, None if tol is None else abs(delta) <= tol + 1e-9)


def _eval_checks(rdir: Path) -> dict[str, dict[str, Any]]:
    """The evaluation's sanity-check flags (``eval.json``), {} when the run has no evaluation."""
    path = rdir / EVAL_RESULT
    if not path.exists():
        return {}
    try:
        flags = json.loads(path.read_text()).get("robustlab", {}).get("flags", {})
    except (OSError, ValueError, AttributeError):
        return {"eval.json": {"passed": False, "detail": f"unreadable: {path}"}}
    return flags if isinstance(flags, dict) else {}


def _run_states(pdir: Path, runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rid, summary in runs.items():
        rdir = run_dir(pdir, rid)
        status, reason = inspect_run(rdir, summary.get("config_hash", ""))
        metrics = read_record(rdir).metrics if status == "done" else {}
        out[rid] = {
            "status": status,
            "reason": reason,
            "metrics": metrics,
            "checks": _eval_checks(rdir) if status == "done" else {},
            "summary": summary,
            "dir": f"{RUNS}/{rid}",
        }
    return out


def build_tables(specs: list[TableSpec], runs: dict[str, dict[str, Any]]) -> list[TableResult]:
    """Fill each table's cells from the runs' metrics and evaluate the claims."""
    measured: dict[CellRef, float | None] = {}
    paper: dict[CellRef, float | None] = {}
    for spec in specs:
        for cell in spec.cells:
            measured[cell.ref] = runs.get(cell.run, {}).get("metrics", {}).get(cell.metric)
            paper[cell.ref] = cell.paper_value
    return [
        TableResult(
            spec,
            tuple(cell_result(c, measured[c.ref]) for c in spec.cells),
            tuple(evaluate_claim(claim, measured, paper) for claim in spec.claims),
        )
        for spec in specs
    ]


def collect(pdir: str | Path) -> ReproReport:
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
        tables=build_tables(specs, runs),
        runs=runs,
    )
