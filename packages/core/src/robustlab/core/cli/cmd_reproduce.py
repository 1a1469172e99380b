"""``robustlab reproduce PAPER``: train/evaluate what a paper's tables need and render the report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from robustlab.core.repro.executors import EXECUTORS
from robustlab.core.repro.spec import PROFILES


def parse_tables(text: str | None) -> list[str] | None:
    """ "1,3" -> ["1", "3"]; None/"" -> None (all tables)."""
    if not text:
        return None
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise ValueError(
            f"--tables {text!r} names no table; write ids separated by commas, e.g. 1,3"
        )
    return ids


def helper_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    """One line per helper run (a dependency filling no cell) with its clean accuracy."""
    out = []
    for rid, run in runs.items():
        if not run.get("summary", {}).get("helper"):
            continue
        metrics = run.get("metrics", {})
        acc = metrics.get("clean_acc", metrics.get("train/clean_acc"))
        shown = "not finished" if acc is None else f"clean accuracy {acc:.2f} %"
        out.append(f"helper run {rid}: {shown}")
    return out


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce a paper's tables (skips finished runs, resumes interrupted ones)",
        description="Train and evaluate every missing run of a paper's tables under "
        "RUNS_DIR/<paper>/<profile>/, then render report.md/.csv/.html.",
    )
    p.add_argument("paper", help="installed paper package name (see `robustlab list papers`)")
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="default: paper with CUDA and data, else quick",
    )
    p.add_argument(
        "--tables", default=None, help="comma-separated table ids, e.g. 1,3 (default: all)"
    )
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:N, mps (default: best available)"
    )
    p.add_argument("--runs-dir", default="runs", help="root of the runs store (default: runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_executor_options(p)
    p.set_defaults(func=run)


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """--executor, --slurm-partition, --slurm-account, --executor-opt, --max-jobs."""
    g = p.add_argument_group("cluster (submitit; pip install submitit)")
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="inline",
        help="inline: every run in this process (default); local/slurm: each run and each "
        "evaluation shard as a submitit job with the run's resources (docs/cluster.md)",
    )
    g.add_argument("--slurm-partition", default=None, help="Slurm partition of the jobs")
    g.add_argument("--slurm-account", default=None, help="Slurm account to charge")
    g.add_argument(
        "--executor-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra submitit parameter, repeatable (e.g. slurm_qos=high, timeout_min=600, "
        "slurm_constraint=a100); overrides the runs' resources",
    )
    g.add_argument(
        "--max-jobs", type=int, default=None, help="most jobs in flight at once (default: all)"
    )


def executor_options(args: argparse.Namespace) -> dict[str, Any]:
    """The submitit parameters the command line asks for (checked against --executor)."""
    from robustlab.core.errors import ConfigError
    from robustlab.core.repro.executors import parse_options

    opts: dict[str, Any] = {}
    for flag, key in (("slurm_partition", "slurm_partition"), ("slurm_account", "slurm_account")):
        if getattr(args, flag) is not None:
            if args.executor != "slurm":
                raise ConfigError(f"--{flag.replace('_', '-')} needs --executor slurm")
            opts[key] = getattr(args, flag)
    opts.update(parse_options(args.executor_opt))
    if opts and args.executor == "inline":
        raise ConfigError("--executor-opt needs --executor local or slurm")
    if args.max_jobs is not None and args.max_jobs < 1:
        raise ConfigError(f"--max-jobs must be >= 1, got {args.max_jobs}")
    return opts


def run(args: argparse.Namespace) -> int:
    from robustlab.core.report import render_report
    from robustlab.core.repro import reproduce

    report = reproduce(
        args.paper,
        tables=parse_tables(args.tables),
        profile=args.profile,
        device=args.device,
        runs_dir=args.runs_dir,
        progress=not args.no_progress,
        render=render_report,
        executor=args.executor,
        executor_options=executor_options(args),
        max_jobs=args.max_jobs,
    )
    from robustlab.core.train.distributed import info

    if not info().is_main:  # under torchrun only rank 0 prints the summary
        return 0
    verdicts = [f"{c.claim.id}: {c.verdict} (paper: {c.paper_verdict})" for c in report.claims]
    lines = [
        f"{report.paper['name']} [{report.profile}]: {report.runs_done()}/{len(report.runs)} runs finished"
    ]
    lines += helper_lines(report.runs)
    lines += verdicts
    lines += [f"report: {report.paths[k]}" for k in ("md", "html", "csv") if k in report.paths]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
