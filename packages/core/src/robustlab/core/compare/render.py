"""The comparison report: Markdown, CSV, self-contained HTML, a Pareto figure, per-model JSON.

Layout of ``out_dir``: ``comparison.md``, ``comparison.csv`` (one row per model),
``comparison.html`` (figure embedded), ``plan.json`` (the plan as data, deviations included),
``figures/pareto_clean_vs_autoattack.png`` (+ .svg) and ``models/<run id>.json``
(RobustBench-style model entries).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from robustlab.core.compare.leaderboard import MASKING_GAP, ModelResult, Row, pareto_front
from robustlab.core.compare.plan import BASELINES, EPS, FAMILIES, Budget, PlannedRun, plan_rows
from robustlab.core.eval import format_eps
from robustlab.core.report import figures as F
from robustlab.core.report.html import CSS, e
from robustlab.core.report.markdown import esc
from robustlab.core.utils import atomic_write_text

COLUMNS = [
    "family", "rank", "label", "run", "n", "clean", "clean_lo", "clean_hi", "PGD-CE",
    "PGD-margin", "AutoAttack", "aa_lo", "aa_hi", "vs_baseline", "p_value", "gap", "strongest",
    "weakest", "masking", "failed_checks",
]  # fmt: skip


def _f(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def frame(boards: Mapping[str, Sequence[Row]]) -> pd.DataFrame:
    """One row per model (columns :data:`COLUMNS`), families in order, ranked within each."""
    rows = [
        {
            "family": fam,
            "rank": r.rank,
            "label": r.label,
            "run": r.run,
            "n": r.n,
            "clean": r.clean,
            "clean_lo": r.clean_ci[0],
            "clean_hi": r.clean_ci[1],
            "PGD-CE": r.attacks.get("PGD-CE"),
            "PGD-margin": r.attacks.get("PGD-margin"),
            "AutoAttack": r.aa,
            "aa_lo": r.aa_ci[0],
            "aa_hi": r.aa_ci[1],
            "vs_baseline": r.vs_baseline,
            "p_value": r.p_value,
            "gap": r.gap,
            "strongest": r.strongest,
            "weakest": r.weakest,
            "masking": r.masking,
            "failed_checks": ";".join(r.failed_checks),
        }
        for fam, rows_ in boards.items()
        for r in rows_
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _md_board(fam: str, rows: Sequence[Row]) -> list[str]:
    head = (
        "| # | method | clean [95 % CI] | PGD-CE | PGD-margin | AutoAttack [95 % CI] | "
        f"vs {BASELINES[fam]} | McNemar p | attack gap | flags |"
    )
    out = [head, "|" + "---|" * 10]
    for r in rows:
        flags = ", ".join(
            [f"gap > {MASKING_GAP:g}"] * (r.gap > MASKING_GAP) + list(r.failed_checks)
        )
        vs = "baseline" if r.vs_baseline is None and r.label == BASELINES[fam] else r.vs_baseline
        out.append(
            f"| {r.rank} | {esc(r.label)} | {r.clean:.2f} [{r.clean_ci[0]:.1f}, {r.clean_ci[1]:.1f}]"
            f" | {_f(r.attacks.get('PGD-CE'))} | {_f(r.attacks.get('PGD-margin'))} | {r.aa:.2f} "
            f"[{r.aa_ci[0]:.1f}, {r.aa_ci[1]:.1f}] | {_f(vs) if isinstance(vs, float) else vs or '–'}"
            f" | {_p(r.p_value)} | {r.gap:.2f} ({esc(r.strongest)} vs {esc(r.weakest)}) | "
            f"{esc(flags) or '–'} |"
        )
    return out


def robustbench_entry(model: ModelResult, budget: Budget) -> dict[str, Any]:
    """A RobustBench-style model entry (their keys, accuracies as strings) plus ``robustlab``."""
    return {
        "name": model.label,
        "link": "",
        "authors": "",
        "venue": "",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": budget.dataset,
        "architecture": str(model.meta.get("model", "")),
        "eps": format_eps(EPS),
        "clean_acc": f"{model.acc('clean'):.2f}",
        "reported": "",
        "autoattack_acc": f"{model.acc('AutoAttack'):.2f}",
        "robustlab": {
            "threat_model": "Linf",
            "budget": budget.name,
            "method": model.meta.get("method", ""),
            "package": model.meta.get("package", ""),
            "run": model.run,
            "n": model.n,
            "accuracies": {k: model.acc(k) for k in model.outcomes},
            "failed_checks": list(model.failed_checks),
        },
    }


def render_comparison(
    boards: Mapping[str, Sequence[Row]],
    models: Sequence[ModelResult],
    plan: Sequence[PlannedRun],
    budget: Budget,
    environment: Mapping[str, Any],
    out_dir: str | Path,
) -> dict[str, Path]:
    """Write the report files; returns their paths by kind ("md", "csv", "html", "plan", ...)."""
    out = Path(out_dir)
    table = frame(boards)
    pts = [(m.label, m.family, m.acc("clean"), m.acc("AutoAttack")) for m in models]
    fig = F.clean_vs_robust(pts, title="Clean vs AutoAttack accuracy (eps 0.1 Linf)")
    figs = (
        [F.save(fig, "pareto_clean_vs_autoattack", "Clean vs AutoAttack (Pareto)", out / "figures")]
        if fig is not None
        else []
    )
    front = pareto_front([(m.label, m.acc("clean"), m.acc("AutoAttack")) for m in models])
    env = ", ".join(f"{k} {v}" for k, v in environment.items())
    md = [
        f"# robustlab: controlled comparison ({budget.name} budget)",
        "",
        f"**Budget:** {budget.name}: {budget.dataset}, LeNet-5 family, {budget.epochs} epochs on "
        f"{budget.n_train or 60000} training images, SGD lr {budget.lr} (momentum 0.9, weight "
        f"decay 5e-4, constant), seed {budget.seed}, batch {budget.batch_size}. Threat model Linf "
        f"eps {EPS} (training and evaluation). Evaluation: clean, PGD-{budget.pgd_steps} with CE "
        f"and with the CW margin loss, AutoAttack standard; every number below on the same first "
        f"{budget.aa_n} test images.",
        "",
        f"**Versions and hardware:** {env}",
        "",
        "Ranked by AutoAttack accuracy. p: two-sided exact McNemar test of the AutoAttack outcomes "
        "against the family's baseline (same images). Attack gap: weakest minus strongest "
        f"attack accuracy; above {MASKING_GAP:g} points or a failed sanity check suggests "
        "gradient masking.",
        "",
    ]
    for fam in FAMILIES:
        md += [f"## {fam.capitalize()} family (baseline {BASELINES[fam]})", ""]
        rows = boards.get(fam) or []
        md += _md_board(fam, rows) if rows else ["No finished run."]
        md.append("")
    md += [f"Pareto front (clean vs AutoAttack): {', '.join(front) or '–'}.", ""]
    md += [f"![{f.title}](figures/{f.name}.png)" for f in figs] + [""]
    md += ["## Plan", "", "| family | method | METHODS name | package | status | deviations |"]
    md += ["|---|---|---|---|---|---|"]
    md += [
        f"| {r['family']} | {esc(r['label'])} | `{r['method']}` | {r['package']} | {r['status']} "
        f"| {esc('; '.join(r['deviations'])) or '–'} |"
        for r in plan_rows(plan)
    ]
    paths = {
        "md": atomic_write_text(out / "comparison.md", "\n".join(md) + "\n"),
        "csv": atomic_write_text(out / "comparison.csv", table.to_csv(index=False)),
        "plan": atomic_write_text(
            out / "plan.json", json.dumps(plan_rows(plan), indent=2, default=list) + "\n"
        ),
    }
    for m in models:
        paths[f"model:{m.run}"] = atomic_write_text(
            out / "models" / f"{m.run}.json",
            json.dumps(robustbench_entry(m, budget), indent=2) + "\n",
        )
    html_body = "".join(
        f"<p>{e(line.replace('**', ''))}</p>" if not line.startswith(("|", "#", "!")) else ""
        for line in md[2:8]
        if line
    )
    imgs = "".join(
        f'<figure><img alt="{e(f.title)}" src="data:image/png;base64,'
        f'{base64.b64encode(f.png).decode()}"><figcaption>{e(f.title)}</figcaption></figure>'
        for f in figs
    )
    tables = "".join(
        f"<h2>{e(fam)}</h2>"
        + table[table.family == fam].drop(columns=["family"]).to_html(index=False, na_rep="–")
        for fam in FAMILIES
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>robustlab comparison</title><style>{CSS}</style></head><body>"
        f"<h1>{e(md[0][2:])}</h1>{html_body}{tables}{imgs}"
        f"<h2>Plan</h2>{pd.DataFrame(plan_rows(plan)).to_html(index=False)}</body></html>\n"
    )
    paths["html"] = atomic_write_text(out / "comparison.html", page)
    paths.update({f.name: f.png_path for f in figs if f.png_path is not None})
    return paths
