"""The Markdown report: header (profile, budget, environment), claims, then one table per table."""

from __future__ import annotations

import time
from collections.abc import Sequence

from robustlab.core.report.figures import FigureFile
from robustlab.core.report.frames import (
    QUICK_NOTE,
    aa_text,
    cell_mark,
    claim_detail,
    claim_p,
    comparison_text,
    effect_text,
    environment_line,
    fmt,
    fmt_p,
    interval_text,
    ours_text,
)
from robustlab.core.repro.results import ReproReport, TableResult


def esc(text: object) -> str:
    """Escape a value for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return out


def header_lines(report: ReproReport) -> list[str]:
    """Title, citation, profile + budget, quick-profile warning, runs done, environment."""
    p = report.paper
    title = f" — {p['title']}" if p.get("title") else ""
    lines = [f"# Reproduction report: {p.get('name')}{title}", ""]
    cite = ", ".join(x for x in (p.get("authors"), p.get("venue"), p.get("url")) if x)
    if cite:
        lines += [cite, ""]
    lines += [f"- **Profile:** `{report.profile}`", f"- **Budget:** {report.description}"]
    lines += [
        f"- **Runs finished:** {report.runs_done()}/{len(report.runs)}",
        f"- **Environment:** {environment_line(report.environment)}",
        f"- **Rendered:** {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from `{report.profile_dir}`",
        "",
    ]
    if report.quick:
        lines += [f"> **{QUICK_NOTE}**", ""]
    return lines


def table_lines(table: TableResult) -> list[str]:
    """One published table: cells (paper / ours / delta / within) and its claims."""
    lines = [f"## Table {table.spec.id}: {table.spec.title}", ""]
    if table.spec.note:
        lines += [table.spec.note, ""]
    rows = [
        [
            r.cell.row,
            r.cell.column,
            fmt(r.cell.paper_value),
            ours_text(r),
            interval_text(r),
            fmt(r.delta, signed=True),
            "–" if r.tolerance is None or r.within is None else f"±{r.tolerance:g}",
            cell_mark(r),
            f"{r.cell.run}: {r.cell.metric}",
        ]
        for r in table.cells
    ]
    header = ["Row", "Column", "Paper", "Ours", "95 % CI", "Δ", "Tol.", "Within", "Run: metric"]
    lines += _md_table(header, rows)
    lines.append("")
    if table.claims:
        lines += ["**Claims**", ""]
        for c in table.claims:
            lines.append(
                f"- **{c.verdict}** (paper: {c.paper_verdict}) — {c.claim.text} "
                f"[`{c.claim.id}`, {c.claim.mode}; {c.summary()}]"
            )
            lines.append(f"  - {claim_detail(c)}")
            if c.aa_verdict is not None:
                aa = "; ".join(comparison_text(d) for d in c.aa_details)
                lines.append(f"  - under AutoAttack: **{c.aa_verdict}** — {aa}")
            lines += [f"  - ⚠ {note}" for note in c.notes]
        lines.append("")
    return lines


def sanity_lines(report: ReproReport) -> list[str]:
    """The evaluation sanity checks (Athalye et al. 2018; Carlini et al. 2019): failures listed."""
    lines = ["## Evaluation sanity checks", ""]
    failed = report.sanity_rows()
    if not failed:
        return [*lines, f"All checks passed on the {report.checked_runs()} evaluated runs.", ""]
    lines += [
        "A failed check means the numbers of that run may overstate robustness (e.g. masked",
        "gradients); trust the lowest accuracy over the attacks.",
        "",
    ]
    return [*lines, *_md_table(["Run", "Failed check", "Detail"], failed), ""]


def render_markdown(report: ReproReport, figures: Sequence[FigureFile] = ()) -> str:
    """The whole report as Markdown (figures linked by relative path)."""
    lines = header_lines(report)
    if report.claims:
        lines += ["## Claims", ""]
        lines += [
            f"Verdicts at level {report.alpha:g}: *holds* / *fails* when the claimed / opposite "
            "direction is significant, else *inconclusive* (McNemar's exact test on the same "
            'images; paired t over seeds; unpaired tests are labelled). "all" claims: '
            'intersection-union; "any": Holm-corrected. p: the claim\'s headline p-value; '
            "effect: ours minus baseline in points.",
            "",
        ]
        rows = [
            [
                c.claim.table,
                c.claim.id,
                c.claim.text,
                c.paper_verdict,
                c.verdict,
                fmt_p(claim_p(c.details, c.claim.mode)),
                effect_text(c.details),
                aa_text(c),
                "; ".join(c.notes) or "–",
            ]
            for c in report.claims
        ]
        header = ["Table", "Claim", "Statement", "In the paper", "Ours", "p", "Effect"]
        lines += [*_md_table([*header, "Under AutoAttack", "Flags"], rows), ""]
    for table in report.tables:
        lines += table_lines(table)
    helpers = report.helper_rows()
    if helpers:
        lines += [
            "## Helper runs",
            "",
            "Runs other runs need (run dependencies); they fill no cell.",
            "",
        ]
        lines += [*_md_table(["Run", "Needed by", "Method / model", "Clean acc."], helpers), ""]
    lines += sanity_lines(report)
    shown = [f for f in figures if f.png_path is not None]
    if shown:
        lines += ["## Figures", ""]
        for f in shown:
            assert f.png_path is not None
            lines += [f"![{f.title}](figures/{f.png_path.name})", ""]
    return "\n".join(lines).rstrip() + "\n"
