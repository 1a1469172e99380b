"""Render a reproduction (a :class:`ReproReport` or its profile directory) to files."""

from __future__ import annotations

from pathlib import Path

from robustlab.core.report import figures as F
from robustlab.core.report.frames import cells_frame, claims_frame
from robustlab.core.report.html import render_html
from robustlab.core.report.markdown import render_markdown
from robustlab.core.repro.results import ReproReport, collect
from robustlab.core.repro.store import SNAPSHOT, slug
from robustlab.core.utils import atomic_write_text


def report_figures(report: ReproReport, out_dir: Path | None) -> list[F.FigureFile]:
    """Accuracy-vs-eps curves, clean-vs-robust scatter and one bar chart per table."""
    done = {rid: r["metrics"] for rid, r in report.runs.items() if r["status"] == "done"}
    out: list[F.FigureFile] = []
    fig = F.eps_curves(
        done, title=f"{report.paper.get('name')} [{report.profile}]: accuracy vs eps"
    )
    if fig is not None:
        out.append(F.save(fig, "eps_curves", "Accuracy vs eps per run and attack", out_dir))
    points = []
    for rid, m in done.items():
        rob = F.robust_value(m)
        if "clean_acc" in m and rob is not None:
            points.append(
                (rid, str(report.runs[rid]["summary"].get("method", "")), m["clean_acc"], rob)
            )
    fig = F.clean_vs_robust(points)
    if fig is not None:
        title = "Clean vs robust accuracy per run (robust = worst case over the suite, else lowest)"
        out.append(F.save(fig, "clean_vs_robust", title, out_dir))
    for table in report.tables:
        labels = [f"{r.cell.row} | {r.cell.column}" for r in table.cells]
        fig = F.table_bars(
            labels,
            [r.cell.paper_value for r in table.cells],
            [r.ours for r in table.cells],
            f"Table {table.spec.id}: paper vs ours",
        )
        if fig is not None:
            name = f"table_{slug(table.spec.id)}"
            out.append(F.save(fig, name, f"Table {table.spec.id}: paper vs ours", out_dir))
    return out


def render_report(
    report: ReproReport | str | Path, out_dir: str | Path | None = None
) -> dict[str, Path]:
    """Write report.md, report.csv (cells), claims.csv, report.html and figures/*.png|svg.

    Args:
        report: A :class:`ReproReport`, or a profile directory (``<runs>/<paper>/<profile>``) that
            holds ``tables.json``.
        out_dir: Where to write (default: the profile directory).

    Returns:
        {"md", "csv", "claims_csv", "html", <figure name>: png path, ...}.
    """
    if not isinstance(report, ReproReport):
        report = collect(report)
    out = Path(out_dir) if out_dir is not None else report.profile_dir
    figs = report_figures(report, out / "figures")
    paths: dict[str, Path] = {
        "md": atomic_write_text(out / "report.md", render_markdown(report, figs)),
        "csv": atomic_write_text(out / "report.csv", cells_frame(report).to_csv(index=False)),
        "claims_csv": atomic_write_text(
            out / "claims.csv", claims_frame(report).to_csv(index=False)
        ),
        "html": atomic_write_text(out / "report.html", render_html(report, figs)),
    }
    for f in figs:
        if f.png_path is not None:
            paths[f.name] = f.png_path
    report.paths = paths
    return paths


def find_profile_dirs(root: str | Path) -> list[Path]:
    """Every profile directory (holding ``tables.json``) at or below ``root``."""
    root = Path(root)
    if (root / SNAPSHOT).exists():
        return [root]
    return sorted(p.parent for p in root.rglob(SNAPSHOT) if "_runs" not in p.parts)
