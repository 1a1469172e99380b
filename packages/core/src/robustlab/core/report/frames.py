"""A reproduction's results as pandas DataFrames (one row per cell / per claim) and text helpers."""

from __future__ import annotations

import pandas as pd

from robustlab.core.repro.claims import ClaimResult
from robustlab.core.repro.results import ReproReport, TableResult

CELL_COLUMNS = [
    "paper", "profile", "table", "row", "column", "kind", "run", "metric",
    "paper_value", "ours", "delta", "tolerance", "within_tolerance",
]  # fmt: skip
CLAIM_COLUMNS = [
    "paper",
    "profile",
    "table",
    "claim",
    "text",
    "mode",
    "paper_verdict",
    "verdict",
    "detail",
]


def fmt(value: float | None, signed: bool = False) -> str:
    """Two decimals ("+1.20" when signed); "–" for no value."""
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def mark(within: bool | None) -> str:
    """✓ within tolerance, ✗ outside, "" when not comparable."""
    return "" if within is None else ("✓" if within else "✗")


def cells_frame(report: ReproReport, tables: list[TableResult] | None = None) -> pd.DataFrame:
    """One row per cell: paper value, ours, delta, tolerance, within-tolerance."""
    rows = []
    for table in tables if tables is not None else report.tables:
        for res in table.cells:
            c = res.cell
            rows.append(
                [
                    report.paper.get("name", ""),
                    report.profile,
                    c.table,
                    c.row,
                    c.column,
                    c.kind,
                    c.run,
                    c.metric,
                    c.paper_value,
                    res.ours,
                    res.delta,
                    res.tolerance,
                    res.within,
                ]
            )
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def claim_detail(result: ClaimResult) -> str:
    """Per-comparison values, e.g. "a > b: 80.50 vs 71.50 (paper) | 75.10 vs 70.00 (ours)"."""
    parts = []
    for ours, theirs in zip(result.details, result.paper_details, strict=True):
        parts.append(
            f"{ours.comparison.describe()}: paper {fmt(theirs.lhs)} vs {fmt(theirs.rhs)} "
            f"({theirs.verdict}); ours {fmt(ours.lhs)} vs {fmt(ours.rhs)} ({ours.verdict})"
        )
    return "; ".join(parts)


def claims_frame(report: ReproReport) -> pd.DataFrame:
    """One row per claim: its verdict on the paper's values and on ours."""
    rows = [
        [
            report.paper.get("name", ""),
            report.profile,
            r.claim.table,
            r.claim.id,
            r.claim.text,
            r.claim.mode,
            r.paper_verdict,
            r.verdict,
            claim_detail(r),
        ]
        for r in report.claims
    ]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


QUICK_NOTE = (
    "Quick profile: these numbers come from a reduced budget (fewer epochs, fewer examples, a small "
    "dataset). They are NOT comparable to the paper's cells in absolute terms; deltas and tolerance "
    "marks are shown for orientation only. The claim verdicts are about directions: whether the "
    "paper's orderings (method vs baseline) hold under this budget."
)


def environment_line(env: dict[str, object]) -> str:
    """ "python 3.11.7, torch 2.14.1, robustlab-core 0.1.0, device cpu, cpu x86_64 (2 threads), git abc"."""
    keys = [
        k for k in env if k not in ("platform", "cpu", "cpu_threads", "git_sha", "device", "gpu")
    ]
    parts = [f"{k} {env[k]}" for k in keys if env.get(k) is not None]
    if env.get("device"):
        parts.append(f"device {env['device']}")
    if env.get("gpu"):
        parts.append(f"GPU {env['gpu']}")
    if env.get("cpu"):
        parts.append(f"CPU {env['cpu']} ({env.get('cpu_threads', '?')} threads)")
    if env.get("platform"):
        parts.append(str(env["platform"]))
    if env.get("git_sha"):
        parts.append(f"git {str(env['git_sha'])[:10]}")
    return ", ".join(parts)
