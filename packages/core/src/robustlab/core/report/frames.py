"""A reproduction's results as pandas DataFrames (one row per cell / per claim) and text helpers."""

from __future__ import annotations

import pandas as pd

from robustlab.core.repro.claims import ClaimResult, ComparisonResult
from robustlab.core.repro.results import CellResult, ReproReport, TableResult

CELL_COLUMNS = [
    "paper", "profile", "table", "row", "column", "kind", "run", "metric",
    "paper_value", "ours", "std_over_seeds", "ci95_low", "ci95_high", "n", "delta", "tolerance",
    "within_tolerance", "mark",
]  # fmt: skip
CLAIM_COLUMNS = [
    "paper", "profile", "table", "claim", "text", "mode", "paper_verdict", "verdict", "p",
    "effect", "alpha", "autoattack_verdict", "autoattack_p", "autoattack_effect", "flags",
    "detail", "autoattack_detail",
]  # fmt: skip


def fmt(value: float | None, signed: bool = False) -> str:
    """Two decimals ("+1.20" when signed); "–" for no value."""
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def fmt_p(p: float | None) -> str:
    """A p-value: "<0.001", else three significant digits; "–" for none."""
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3g}"


def mark(within: bool | None) -> str:
    """✓ within tolerance, ✗ outside, "" when not comparable."""
    return "" if within is None else ("✓" if within else "✗")


def cell_mark(r: CellResult) -> str:
    """ "both ~0" when paper and ours are both near 0 (never agreement), else :func:`mark`."""
    return "both ~0" if r.both_zero else mark(r.within)


def ours_text(r: CellResult) -> str:
    """Our value, with "± std" over seeds for seeded runs."""
    std = r.std
    return fmt(r.ours) if std is None else f"{fmt(r.ours)} ± {std:.2f}"


def interval_text(r: CellResult) -> str:
    """The 95 % Wilson interval, e.g. "[79.6, 84.4]"; "–" when not an accuracy."""
    ci = r.interval
    return "–" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def comparison_text(d: ComparisonResult) -> str:
    """E.g. "a > b: 82.11 vs 81.15, Δ +0.96, McNemar exact b=40 c=30, p 0.14: inconclusive"."""
    head = f"{d.comparison.describe()}: {fmt(d.lhs)} vs {fmt(d.rhs)}"
    if d.test is None:
        tail = "" if d.lhs is None or d.rhs is None else ", no test (not an accuracy with known n)"
        return f"{head}{tail}: {d.verdict}"
    disc = "" if d.test.discordant is None else " b={} c={}".format(*d.test.discordant)
    adj = "" if d.p_adjusted is None else f", Holm {fmt_p(d.p_adjusted)}"
    return (
        f"{head}, Δ {fmt(d.effect, signed=True)}, {d.test.test}{disc}, p {fmt_p(d.p)}{adj}: "
        f"{d.verdict}"
    )


def effect_text(details: tuple[ComparisonResult, ...]) -> str:
    """Effect (points) of a claim: one difference, or the range over its comparisons."""
    effects = [d.effect for d in details if d.effect is not None]
    if not effects:
        return "–"
    lo, hi = min(effects), max(effects)
    return fmt(lo, signed=True) if lo == hi else f"{lo:+.2f} … {hi:+.2f}"


def claim_p(details: tuple[ComparisonResult, ...], mode: str) -> float | None:
    """Headline p: the largest p ("all", intersection-union) or smallest Holm p ("any")."""
    ps = [d.p_adjusted if d.p_adjusted is not None else d.p for d in details if d.p is not None]
    if not ps:
        return None
    return max(ps) if mode == "all" else min(ps)


def aa_text(c: ClaimResult) -> str:
    """The AutoAttack verdict with its p-value, "–" for a claim that is not about robustness."""
    if c.aa_verdict is None:
        return "–"
    p = claim_p(c.aa_details, c.claim.mode)
    return c.aa_verdict if p is None else f"{c.aa_verdict} (p {fmt_p(p)})"


def cells_frame(report: ReproReport, tables: list[TableResult] | None = None) -> pd.DataFrame:
    """One row per cell: paper value, ours (± std), Wilson interval, delta, tolerance, mark."""
    rows = []
    for table in tables if tables is not None else report.tables:
        for res in table.cells:
            c = res.cell
            ci = res.interval
            m = res.measurement
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
                    res.std,
                    None if ci is None else ci[0],
                    None if ci is None else ci[1],
                    None if m is None else m.n,
                    res.delta,
                    res.tolerance,
                    res.within,
                    cell_mark(res),
                ]
            )
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def claim_detail(result: ClaimResult) -> str:
    """Per comparison: the paper's values and verdict, then ours with test, effect and p."""
    parts = []
    for ours, theirs in zip(result.details, result.paper_details, strict=True):
        parts.append(
            f"paper {fmt(theirs.lhs)} vs {fmt(theirs.rhs)} ({theirs.verdict}); "
            f"ours {comparison_text(ours)}"
        )
    return "; ".join(parts)


def claims_frame(report: ReproReport) -> pd.DataFrame:
    """One row per claim: verdicts (paper, ours, under AutoAttack), p, effect, flags, details."""
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
            claim_p(r.details, r.claim.mode),
            effect_text(r.details),
            r.alpha,
            r.aa_verdict,
            claim_p(r.aa_details, r.claim.mode),
            effect_text(r.aa_details) if r.aa_details else None,
            " | ".join(r.notes),
            claim_detail(r),
            "; ".join(comparison_text(d) for d in r.aa_details),
        ]
        for r in report.claims
    ]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


QUICK_NOTE = (
    "Quick profile: these numbers come from a reduced budget (fewer epochs, fewer examples, a small "
    "dataset). They are NOT comparable to the paper's cells in absolute terms: deltas are shown for "
    "orientation only and no tolerance mark is given. The claim verdicts are about directions: "
    "whether the paper's orderings (method vs baseline) hold significantly under this budget."
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
