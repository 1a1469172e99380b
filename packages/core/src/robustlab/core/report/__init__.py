"""Reports of reproductions: Markdown, CSV and one self-contained HTML page, plus figures.

>>> from robustlab.core.report import render_report
>>> render_report("runs/pcloss/quick")     # re-render from the runs directory alone
{'md': ..., 'csv': ..., 'claims_csv': ..., 'html': ..., ...}
"""

from robustlab.core.report.compare import collect_runs, render_compare
from robustlab.core.report.figures import FigureFile, clean_vs_robust, eps_curves, table_bars
from robustlab.core.report.frames import cells_frame, claims_frame
from robustlab.core.report.html import render_html
from robustlab.core.report.markdown import render_markdown
from robustlab.core.report.render import find_profile_dirs, render_report, report_figures

__all__ = [
    "FigureFile",
    "cells_frame",
    "claims_frame",
    "clean_vs_robust",
    "collect_runs",
    "eps_curves",
    "find_profile_dirs",
    "render_compare",
    "render_html",
    "render_markdown",
    "render_report",
    "report_figures",
    "table_bars",
]
