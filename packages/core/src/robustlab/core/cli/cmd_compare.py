"""``robustlab compare``: the controlled comparison (``--budget``), or existing runs by threat model."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from robustlab.core.repro.spec import PROFILES

BUDGET_NAMES = ("quick", "full")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="controlled cross-paper comparison (--budget), or a report of existing runs",
        description="With --budget quick|full: train and evaluate every installed paper's headline "
        "method and its baseline under one budget on Fashion-MNIST (eps 0.1 Linf; resumable), then "
        "write leaderboards ranked by AutoAttack accuracy. Without --budget: collect the finished "
        "runs under RUNS_DIR/<paper>/<profile>/_runs/, one table and figure per threat model "
        "(dataset, norm, eps, suite).",
    )
    p.add_argument("--budget", choices=BUDGET_NAMES, default=None, help="run the comparison plan")
    p.add_argument(
        "--plan", action="store_true", help="with --budget: print the plan as JSON, train nothing"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="with --budget: report the runs finished so far, train nothing",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: best available)")
    p.add_argument("--runs-dir", default="runs", help="root of the runs store (default: runs)")
    p.add_argument("--suite", default=None, help="existing runs: only this suite name")
    p.add_argument("--profile", choices=PROFILES, default=None, help="existing runs: one profile")
    p.add_argument("--out", default=None, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustlab.core.errors import RobustlabError

    if args.budget is not None:
        import json

        from robustlab.core.compare import build_plan, compare, plan_rows

        if args.plan:
            rows = plan_rows(build_plan(args.budget))
            sys.stdout.write(json.dumps(rows, indent=2, default=list) + "\n")
            return 0
        paths = compare(
            args.budget,
            runs_dir=args.runs_dir,
            out_dir=args.out,
            device=args.device,
            train=not args.report_only,
        )
        sys.stdout.write(
            f"compare ({args.budget}): {paths['md']}, {paths['html']}, {paths['csv']}\n"
        )
        return 0
    from robustlab.core.report import render_compare

    try:
        paths = render_compare(
            args.runs_dir, out_dir=args.out, suite=args.suite, profile=args.profile
        )
    except FileNotFoundError as exc:
        raise RobustlabError(str(exc)) from None
    sys.stdout.write(f"compare: {paths['md']}, {paths['html']}, {paths['csv']}\n")
    return 0
