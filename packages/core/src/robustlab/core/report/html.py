"""One self-contained HTML page (inline CSS, figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
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
from robustlab.core.repro.results import CellResult, ReproReport, TableResult

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2733;line-height:1.45;padding:0 1rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.88rem}
th,td{border:1px solid #d5dbe1;padding:.25rem .5rem;text-align:left}
th{background:#eef2f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#19734a;font-weight:600}.bad{color:#b3261e;font-weight:600}.na{color:#6b7785}
.warn{background:#fff4d6;border-left:4px solid #e0a800;padding:.6rem 1rem}
.meta td{border:none;padding:.1rem .8rem .1rem 0} figure{margin:1rem 0} figure img{max-width:100%}
"""
_VERDICT_CLASS = {"holds": "ok", "fails": "bad", "inconclusive": "na", "not measured": "na"}


def e(value: object) -> str:
    """HTML-escape ``value``."""
    return html.escape(str(value))


def _verdict(v: str) -> str:
    return f'<span class="{_VERDICT_CLASS.get(v, "na")}">{e(v)}</span>'


def _within(r: CellResult) -> str:
    if r.both_zero:
        return '<span class="na">both ~0</span>'
    w = r.within
    return "" if w is None else f'<span class="{"ok" if w else "bad"}">{cell_mark(r)}</span>'


def _header(report: ReproReport) -> list[str]:
    p = report.paper
    cite = ", ".join(e(x) for x in (p.get("authors"), p.get("venue")) if x)
    url = f' <a href="{e(p["url"])}">{e(p["url"])}</a>' if p.get("url") else ""
    rows = [
        ("Profile", f"<code>{e(report.profile)}</code>"),
        ("Budget", e(report.description)),
        ("Runs finished", f"{report.runs_done()}/{len(report.runs)}"),
        ("Environment", e(environment_line(report.environment))),
        ("Rendered", e(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))),
    ]
    title = f" — {e(p['title'])}" if p.get("title") else ""
    out = [f"<h1>Reproduction report: {e(p.get('name'))}{title}</h1>"]
    out.append(f"<p>{cite}{url}</p>")
    out.append(
        '<table class="meta">'
        + "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    )
    out.append("</table>")
    if report.quick:
        out.append(f'<p class="warn"><b>{e(QUICK_NOTE)}</b></p>')
    return out


def _table(table: TableResult) -> list[str]:
    out = [f"<h2>Table {e(table.spec.id)}: {e(table.spec.title)}</h2>"]
    if table.spec.note:
        out.append(f"<p>{e(table.spec.note)}</p>")
    head = ["Row", "Column", "Paper", "Ours", "95 % CI", "Δ", "Tol.", "Within", "Run: metric"]
    out.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
    for r in table.cells:
        tol = "–" if r.tolerance is None or r.within is None else f"±{r.tolerance:g}"
        out.append(
            f"<tr><td>{e(r.cell.row)}</td><td>{e(r.cell.column)}</td>"
            f'<td class="num">{fmt(r.cell.paper_value)}</td><td class="num">{e(ours_text(r))}</td>'
            f'<td class="num">{interval_text(r)}</td>'
            f'<td class="num">{fmt(r.delta, signed=True)}</td><td class="num">{tol}</td>'
            f"<td>{_within(r)}</td><td>{e(r.cell.run)}: {e(r.cell.metric)}</td></tr>"
        )
    out.append("</table>")
    if table.claims:
        out.append("<p><b>Claims</b></p><ul>")
        for c in table.claims:
            out.append(
                f"<li>{_verdict(c.verdict)} (paper: {_verdict(c.paper_verdict)}) — {e(c.claim.text)} "
                f"<small>[{e(c.claim.id)}, {e(c.claim.mode)}; {e(c.summary())}]<br>{e(claim_detail(c))}"
                + (
                    f"<br>under AutoAttack: {_verdict(c.aa_verdict)} — "
                    + e("; ".join(comparison_text(d) for d in c.aa_details))
                    if c.aa_verdict is not None
                    else ""
                )
                + "".join(f'<br><span class="bad">⚠ {e(n)}</span>' for n in c.notes)
                + "</small></li>"
            )
        out.append("</ul>")
    return out


def _sanity(report: ReproReport) -> list[str]:
    failed = report.sanity_rows()
    out = ["<h2>Evaluation sanity checks</h2>"]
    if not failed:
        return [*out, f"<p>All checks passed on the {report.checked_runs()} evaluated runs.</p>"]
    out.append(
        '<p class="warn">A failed check means the numbers of that run may overstate '
        "robustness (e.g. masked gradients); trust the lowest accuracy over the attacks.</p>"
    )
    out.append("<table><tr><th>Run</th><th>Failed check</th><th>Detail</th></tr>")
    out += [f"<tr><td>{e(r)}</td><td>{e(n)}</td><td>{e(d)}</td></tr>" for r, n, d in failed]
    return [*out, "</table>"]


def render_html(report: ReproReport, figures: Sequence[FigureFile] = ()) -> str:
    """The whole report as one HTML page with no external resources."""
    title = f"robustlab: {report.paper.get('name')} [{report.profile}]"
    body = _header(report)
    if report.claims:
        body.append("<h2>Claims</h2><table><tr><th>Table</th><th>Claim</th><th>Statement</th>")
        body.append(
            "<th>In the paper</th><th>Ours</th><th>p</th><th>Effect</th>"
            "<th>Under AutoAttack</th><th>Flags</th></tr>"
        )
        for c in report.claims:
            body.append(
                f"<tr><td>{e(c.claim.table)}</td><td>{e(c.claim.id)}</td><td>{e(c.claim.text)}</td>"
                f"<td>{_verdict(c.paper_verdict)}</td><td>{_verdict(c.verdict)}</td>"
                f'<td class="num">{fmt_p(claim_p(c.details, c.claim.mode))}</td>'
                f'<td class="num">{e(effect_text(c.details))}</td>'
                f"<td>{e(aa_text(c))}</td><td>{e('; '.join(c.notes) or '–')}</td></tr>"
            )
        body.append("</table>")
    for table in report.tables:
        body += _table(table)
    helpers = report.helper_rows()
    if helpers:
        body.append("<h2>Helper runs</h2><p>Runs other runs need (run dependencies).</p>")
        body.append("<table><tr><th>Run</th><th>Needed by</th><th>Method / model</th>")
        body.append("<th>Clean acc.</th></tr>")
        body += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in helpers]
        body.append("</table>")
    body += _sanity(report)
    if figures:
        body.append("<h2>Figures</h2>")
        for f in figures:
            data = base64.b64encode(f.png).decode("ascii")
            body.append(
                f'<figure><img alt="{e(f.title)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(f.title)}</figcaption></figure>"
            )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
