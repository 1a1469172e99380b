"""Cross-paper comparison of existing runs, grouped by threat model.

Reads ``<runs_dir>/<paper>/<profile>/_runs/<run>/metrics.json`` (finished runs only), their
``config.json`` and ``eval.json``; builds one table and one clean-vs-robust scatter per threat
model (dataset, norm, eps, suite). Runs evaluated at different eps or with different suites
never share a table column or a figure: their accuracies are not comparable.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pandas as pd

from robustlab.core.eval import format_eps
from robustlab.core.report import figures as F
from robustlab.core.report.html import CSS, e
from robustlab.core.report.markdown import esc
from robustlab.core.repro.autoattack import budgets
from robustlab.core.repro.execute import EVAL_RESULT
from robustlab.core.repro.store import CONFIG, METRICS, RUNS, read_json, read_record
from robustlab.core.utils import atomic_write_text, get_logger

log = get_logger(__name__)
BASE = [
    "paper",
    "profile",
    "run",
    "method",
    "model",
    "dataset",
    "suite",
    "norm",
    "eps",
    "n_eval",
    "clean_acc",
    "robust_acc",
]


GROUP_KEYS = ("dataset", "norm", "eps", "suite")
UNKNOWN = "?"


def _threat_model(rdir: Path, suite: Any) -> tuple[str, str]:
    """(norm, eps text) of a run's evaluation: eval.json first, else the suite's attack budgets.

    A run whose suite mixes several budgets gets them all, joined by "+" (its own group); one
    whose budget cannot be read gets "?" (also its own group, never merged with a known eps).
    """
    try:
        doc = read_json(rdir / EVAL_RESULT)
        eps, norm = doc.get("eps"), (doc.get("robustlab") or {}).get("threat_model")
        if eps is not None and norm:
            return str(norm), str(eps)
    except (ValueError, OSError, AttributeError):
        pass
    attacks = suite.get("attacks", []) if isinstance(suite, dict) else []
    found = budgets(a for a in attacks if isinstance(a, dict))
    if not found:
        return UNKNOWN, UNKNOWN
    norms = sorted({n for _, n in found})
    return "+".join(norms), "+".join(format_eps(e) for e, _ in found)


def _summary(rdir: Path) -> dict[str, Any]:
    try:
        run = read_json(rdir / CONFIG).get("run", {})
    except (ValueError, OSError, AttributeError):
        return {"norm": UNKNOWN, "eps": UNKNOWN}
    last = (run.get("train") or [{}])[-1]
    suite = run.get("suite")
    norm, eps = _threat_model(rdir, suite)
    return {
        "method": last.get("method", ""),
        "model": last.get("model", ""),
        "dataset": run.get("eval_dataset") or last.get("dataset", ""),
        "suite": suite.get("name", "") if isinstance(suite, dict) else (suite or ""),
        "norm": norm,
        "eps": eps,
        "n_eval": run.get("n_eval"),
    }


def collect_runs(
    runs_dir: str | Path, suite: str | None = None, profile: str | None = None
) -> pd.DataFrame:
    """One row per finished run under ``runs_dir`` (optionally one suite / profile only).

    Columns: paper, profile, run, method, model, dataset, suite, norm, eps, n_eval, clean_acc,
    robust_acc (worst case over the suite, else the lowest attack accuracy), then every
    ``acc/<label>`` column some run measured. Rows are sorted by threat model
    (:data:`GROUP_KEYS`) first; use :func:`threat_model_groups` to split them.
    """
    rows: list[dict[str, Any]] = []
    for metrics_path in sorted(Path(runs_dir).glob(f"*/*/{RUNS}/*/{METRICS}")):
        rdir = metrics_path.parent
        paper, prof = rdir.parts[-4], rdir.parts[-3]
        if paper.startswith("_"):
            continue
        try:
            rec = read_record(rdir)
        except (ValueError, OSError, TypeError, AttributeError) as exc:
            log.warning("skipping %s: %s", rdir, exc)
            continue
        info = _summary(rdir)
        if (suite and info.get("suite") != suite) or (profile and prof != profile):
            continue
        row = {"paper": paper, "profile": prof, "run": rdir.name, **info}
        row["clean_acc"] = rec.metrics.get("clean_acc")
        row["robust_acc"] = F.robust_value(rec.metrics)
        row.update({k: v for k, v in rec.metrics.items() if k.startswith("acc/")})
        rows.append(row)
    attack_cols = sorted({k for r in rows for k in r if k.startswith("acc/")})
    frame = pd.DataFrame(rows, columns=BASE + attack_cols)
    order = [*GROUP_KEYS, "paper", "method", "profile", "run"]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def threat_model_groups(frame: pd.DataFrame) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """Split :func:`collect_runs`' frame by threat model (dataset, norm, eps, suite).

    Each group keeps only the ``acc/<label>`` columns one of its runs measured, so no column
    and no figure ever mixes two eps or two suites.
    """
    out: list[tuple[dict[str, str], pd.DataFrame]] = []
    if frame.empty:
        return out
    keyed = frame.assign(**{k: frame[k].fillna("").astype(str) for k in GROUP_KEYS})
    for key, sub in keyed.groupby(list(GROUP_KEYS), sort=True, dropna=False):
        cols = [c for c in sub.columns if not c.startswith("acc/") or sub[c].notna().any()]
        out.append(
            (dict(zip(GROUP_KEYS, map(str, key), strict=True)), sub[cols].reset_index(drop=True))
        )
    return out


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _title(key: dict[str, str]) -> str:
    return f"{key['dataset']}, {key['norm']} eps={key['eps']}, suite {key['suite'] or '?'}"


def _table_md(sub: pd.DataFrame) -> list[str]:
    header = [c.removeprefix("acc/") for c in sub.columns]
    lines = [
        "| " + " | ".join(map(esc, header)) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += [
        "| " + " | ".join(esc(_cell(v)) for v in row) + " |" for row in sub.itertuples(index=False)
    ]
    return lines


def _table_html(sub: pd.DataFrame) -> str:
    head = "".join(f"<th>{e(c.removeprefix('acc/'))}</th>" for c in sub.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
        for row in sub.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(f: F.FigureFile) -> str:
    data = base64.b64encode(f.png).decode()
    return (
        f'<figure><img alt="{e(f.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{e(f.title)}</figcaption></figure>"
    )


def render_compare(
    runs_dir: str | Path,
    out_dir: str | Path | None = None,
    suite: str | None = None,
    profile: str | None = None,
) -> dict[str, Path]:
    """Write compare.md, compare.csv, compare.html and one scatter per threat model.

    Output goes to ``out_dir`` (default ``<runs_dir>/_compare``). Each threat model (dataset,
    norm, eps, suite) gets its own table and clean-vs-robust figure; the CSV has one row per
    run with the threat-model columns.

    Raises:
        FileNotFoundError: if no finished run is found (the message says where it looked).
    """
    frame = collect_runs(runs_dir, suite=suite, profile=profile)
    if frame.empty:
        what = " ".join(
            x
            for x in (
                f"suite {suite!r}" if suite else "",
                f"profile {profile!r}" if profile else "",
            )
            if x
        )
        raise FileNotFoundError(
            f"no finished runs{' for ' + what if what else ''} under {runs_dir}/<paper>/<profile>/{RUNS}/; "
            "run `robustlab reproduce PAPER` first"
        )
    out = Path(out_dir) if out_dir is not None else Path(runs_dir) / "_compare"
    groups = threat_model_groups(frame)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    intro = (
        f"{len(frame)} finished runs of {frame.paper.nunique()} paper(s) under `{runs_dir}` in "
        f"{len(groups)} threat model(s) (dataset, norm, eps, suite); accuracies are compared only "
        f"within one threat model. Percent; robust_acc = worst case over the run's suite. "
        f"Rendered {stamp}."
    )
    md = ["# robustlab: comparison of existing runs", "", intro, ""]
    html_parts: list[str] = []
    figs: list[F.FigureFile] = []
    for i, (key, sub) in enumerate(groups, start=1):
        title = _title(key)
        pts = [
            (f"{r.method or r.run}", str(r.paper), float(r.clean_acc), float(r.robust_acc))
            for r in sub.itertuples()
            if r.clean_acc is not None
            and not pd.isna(r.clean_acc)
            and r.robust_acc is not None
            and not pd.isna(r.robust_acc)
        ]
        fig = F.clean_vs_robust(pts, title=f"{title} (colour = paper)")
        shown = sub.drop(columns=list(GROUP_KEYS))
        md += [f"## {i}. {title}", "", *_table_md(shown), ""]
        html_parts.append(f"<h2>{e(f'{i}. {title}')}</h2>{_table_html(shown)}")
        if fig is not None:
            f = F.save(fig, f"compare_tm{i}", f"Clean vs robust accuracy: {title}", out / "figures")
            figs.append(f)
            md += [f"![{f.title}](figures/{f.name}.png)", ""]
            html_parts.append(_img(f))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>robustlab compare</title>'
        f"<style>{CSS}</style></head><body><h1>robustlab: comparison of existing runs</h1>"
        f"<p>{e(intro)}</p>{''.join(html_parts)}</body></html>\n"
    )
    paths = {
        "md": atomic_write_text(out / "compare.md", "\n".join(md) + "\n"),
        "csv": atomic_write_text(out / "compare.csv", frame.to_csv(index=False)),
        "html": atomic_write_text(out / "compare.html", page),
    }
    paths.update({f.name: f.png_path for f in figs if f.png_path is not None})
    return paths
