"""Cross-paper comparison: every finished run of every paper in a runs directory, in one report.

Reads ``<runs_dir>/<paper>/<profile>/_runs/<run>/metrics.json`` (finished runs only) and their
``config.json``; builds one table (paper, method, model, dataset, suite, clean and per-attack
accuracy) grouped by paper and method, and a clean-vs-robust scatter coloured by paper.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from robustlab.core.report import figures as F
from robustlab.core.report.html import CSS, e
from robustlab.core.report.markdown import esc
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
    "n_eval",
    "clean_acc",
    "robust_acc",
]


def _summary(rdir: Path) -> dict[str, Any]:
    try:
        run = read_json(rdir / CONFIG).get("run", {})
    except (ValueError, OSError, AttributeError):
        return {}
    last = (run.get("train") or [{}])[-1]
    suite = run.get("suite")
    return {
        "method": last.get("method", ""),
        "model": last.get("model", ""),
        "dataset": run.get("eval_dataset") or last.get("dataset", ""),
        "suite": suite.get("name", "") if isinstance(suite, dict) else (suite or ""),
        "n_eval": run.get("n_eval"),
    }


def collect_runs(
    runs_dir: str | Path, suite: str | None = None, profile: str | None = None
) -> pd.DataFrame:
    """One row per finished run under ``runs_dir`` (optionally one suite / profile only).

    Columns: paper, profile, run, method, model, dataset, suite, n_eval, clean_acc, robust_acc
    (worst case over the suite, else the lowest attack accuracy), then ``acc/<label>`` columns
    measured by at least two runs (all of them when there is only one run).
    """
    rows: list[dict[str, Any]] = []
    for metrics_path in sorted(Path(runs_dir).glob(f"*/*/{RUNS}/*/{METRICS}")):
        rdir = metrics_path.parent
        paper, prof = rdir.parts[-4], rdir.parts[-3]
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
    counts = Counter(k for r in rows for k in r if k.startswith("acc/"))
    attack_cols = sorted(k for k, n in counts.items() if n >= 2 or len(rows) == 1)
    frame = pd.DataFrame(rows, columns=BASE + attack_cols)
    return frame.sort_values(["paper", "method", "profile", "run"], kind="stable").reset_index(
        drop=True
    )


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def render_compare(
    runs_dir: str | Path,
    out_dir: str | Path | None = None,
    suite: str | None = None,
    profile: str | None = None,
) -> dict[str, Path]:
    """Write compare.md, compare.csv, compare.html and the scatter under ``<runs_dir>/_compare``.

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
    pts = [
        (f"{r.method or r.run}", str(r.paper), float(r.clean_acc), float(r.robust_acc))
        for r in frame.itertuples()
        if r.clean_acc is not None and r.robust_acc is not None and not pd.isna(r.robust_acc)
    ]
    fig = F.clean_vs_robust(pts, title="All runs: clean vs robust accuracy (colour = paper)")
    figs = (
        [
            F.save(
                fig,
                "compare_clean_vs_robust",
                "Clean vs robust accuracy, all runs",
                out / "figures",
            )
        ]
        if fig
        else []
    )
    header = [c.removeprefix("acc/") if c.startswith("acc/") else c for c in frame.columns]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    scope = f"suite `{suite}`" if suite else "all suites (compare like with like: pass --suite)"
    md = [
        "# robustlab: cross-paper comparison",
        "",
        f"{len(frame)} finished runs of {frame.paper.nunique()} paper(s) under `{runs_dir}`; {scope}. "
        f"Accuracies in percent; robust_acc = worst case over the run's suite. Rendered {stamp}.",
        "",
        "| " + " | ".join(map(esc, header)) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    md += [
        "| " + " | ".join(esc(_cell(v)) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    md += [""] + [f"![{f.title}](figures/{f.name}.png)" for f in figs]
    rows_html = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    imgs = "".join(
        f'<figure><img alt="{e(f.title)}" src="data:image/png;base64,{base64.b64encode(f.png).decode()}">'
        f"<figcaption>{e(f.title)}</figcaption></figure>"
        for f in figs
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>robustlab compare</title>'
        f"<style>{CSS}</style></head><body><h1>robustlab: cross-paper comparison</h1><p>{e(md[2])}</p>"
        "<table><tr>"
        + "".join(f"<th>{e(h)}</th>" for h in header)
        + f"</tr>{rows_html}</table>{imgs}</body></html>\n"
    )
    paths = {
        "md": atomic_write_text(out / "compare.md", "\n".join(md) + "\n"),
        "csv": atomic_write_text(out / "compare.csv", frame.to_csv(index=False)),
        "html": atomic_write_text(out / "compare.html", page),
    }
    paths.update({f.name: f.png_path for f in figs if f.png_path is not None})
    return paths
