"""``robustlab report RUNS_DIR``: re-render reports from a runs directory alone (no training)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="re-render reproduction reports from a runs directory",
        description="Render report.md/.csv/.html for every reproduction (tables.json) found at or "
        "below RUNS_DIR, e.g. runs, runs/pcloss or runs/pcloss/quick.",
    )
    p.add_argument(
        "runs_dir", metavar="RUNS_DIR", help="runs directory (or a paper/profile directory in it)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustlab.core.errors import RobustlabError
    from robustlab.core.report import find_profile_dirs, render_report

    root = Path(args.runs_dir)
    if not root.is_dir():
        raise RobustlabError(f"runs directory {str(root)!r} does not exist")
    dirs = find_profile_dirs(root)
    if not dirs:
        raise RobustlabError(
            f"no reproduction found under {root} (no tables.json); run `robustlab reproduce PAPER` first"
        )
    for pdir in dirs:
        paths = render_report(pdir)
        sys.stdout.write(f"{pdir}: {paths['md']}, {paths['html']}, {paths['csv']}\n")
    return 0
