"""``robustlab compare``: one report over the finished runs of every paper in a runs directory."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from robustlab.core.repro.spec import PROFILES


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="cross-paper comparison of all finished runs",
        description="Collect every finished run under RUNS_DIR/<paper>/<profile>/_runs/ into one "
        "table (clean and per-attack accuracy) and a clean-vs-robust scatter.",
    )
    p.add_argument("--runs-dir", default="runs", help="root of the runs store (default: runs)")
    p.add_argument("--suite", default=None, help="only runs evaluated with this suite name")
    p.add_argument("--profile", choices=PROFILES, default=None, help="only runs of this profile")
    p.add_argument("--out", default=None, help="output directory (default: RUNS_DIR/_compare)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustlab.core.errors import RobustlabError
    from robustlab.core.report import render_compare

    try:
        paths = render_compare(
            args.runs_dir, out_dir=args.out, suite=args.suite, profile=args.profile
        )
    except FileNotFoundError as exc:
        raise RobustlabError(str(exc)) from None
    sys.stdout.write(f"compare: {paths['md']}, {paths['html']}, {paths['csv']}\n")
    return 0
