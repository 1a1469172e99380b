"""``reproduce``: train and evaluate what a paper's tables need (dependencies first), fill the cells."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from robustlab.core.errors import RobustlabError
from robustlab.core.repro.autoattack import mark_autoattack
from robustlab.core.repro.execute import execute_run
from robustlab.core.repro.executors import EXECUTORS, require_submitit
from robustlab.core.repro.plan import check_helper, dependency_order, training_dir
from robustlab.core.repro.results import ReproReport, cell_result, collect
from robustlab.core.repro.snapshot import write_snapshot
from robustlab.core.repro.spec import PROFILES, RunSpec, TableSpec, check_paper
from robustlab.core.repro.store import (
    RUNS,
    cell_dirs,
    inspect_run,
    profile_dir,
    quarantine,
    read_record,
    run_dir,
    spec_hash,
    write_cell,
)
from robustlab.core.train.distributed import lead
from robustlab.core.utils import environment_info, get_device, get_logger

log = get_logger(__name__)


def resolve_paper(paper: Any) -> Any:
    """A Paper object from a name (through the ``robustlab.papers`` entry points) or as given."""
    if isinstance(paper, str):
        from robustlab.core.plugins import get_paper

        return get_paper(paper)
    for attr in ("name", "tables", "runs", "describe_profile"):
        if not hasattr(paper, attr):
            raise TypeError(
                f"paper must be a paper name or a Paper object; {paper!r} lacks {attr!r}"
            )
    return paper


def data_present(paper: Any, profile: str) -> bool:
    """Whether every dataset the profile's runs train or evaluate on is on disk (no download)."""
    custom = getattr(paper, "data_available", None)
    if callable(custom):
        return bool(custom(profile))
    from robustlab.core.data import find

    try:
        runs: dict[str, RunSpec] = paper.runs(profile)
        needed = {
            (c.dataset, getattr(c, "data_root", None)) for r in runs.values() for c in r.train
        }
        needed |= {(r.dataset, getattr(r.train[-1], "data_root", None)) for r in runs.values()}
        return all(
            find(name, split, root)[0] is not None
            for name, root in needed
            for split in ("train", "test")
        )
    except (RobustlabError, ValueError, OSError, KeyError):
        return False


def default_profile(paper: Any, device: torch.device | None = None) -> str:
    """ "paper" when CUDA is available (or the device is CUDA) and the paper's data is present, else "quick"."""
    cuda = device.type == "cuda" if device is not None else torch.cuda.is_available()
    if cuda and data_present(paper, "paper"):
        return "paper"
    return "quick"


def select_tables(tables: list[TableSpec], wanted: Sequence[str] | None) -> list[TableSpec]:
    """The tables named in ``wanted`` (all when None), in the paper's order.

    Raises:
        ValueError: naming an unknown table id and the valid ones.
    """
    if wanted is None:
        return tables
    ids = [t.id for t in tables]
    unknown = [w for w in wanted if str(w) not in ids]
    if unknown:
        raise ValueError(
            f"unknown table(s) {', '.join(map(str, unknown))}; this profile has tables {', '.join(ids)}"
        )
    keep = {str(w) for w in wanted}
    return [t for t in tables if t.id in keep]


def _plan(pdir: Path, hashes: dict[str, str], needed: list[str]) -> list[str]:
    """Run ids still to compute; corrupt run directories are moved aside with a warning."""
    todo: list[str] = []
    for rid in needed:
        rdir = run_dir(pdir, rid)
        status, reason = inspect_run(rdir, hashes[rid])
        if status == "corrupt":
            quarantine(rdir, reason)
        if status == "done":
            log.info("run %s: finished earlier, skipped", rid)
            continue
        if status == "partial":
            log.info("run %s: interrupted earlier, resuming", rid)
        todo.append(rid)
    return todo


def ensure_data(specs: list[RunSpec]) -> None:
    """Make every dataset the runs train or evaluate on present before any training starts.

    Uses :func:`robustlab.core.data.ensure` (system package when root on Debian, else download),
    so a missing dataset fails fast with one clear error instead of after hours of other runs.

    Raises:
        DataNotFoundError: a dataset is missing and cannot be obtained (the message says how).
    """
    from robustlab.core.data import ensure

    needed: dict[tuple[str, str | None], None] = {}
    for spec in specs:
        root = getattr(spec.train[-1], "data_root", None)
        for cfg in spec.train:
            needed[(str(cfg.dataset), getattr(cfg, "data_root", None))] = None
        needed[(spec.dataset, root)] = None
    for name, root in needed:
        ensure(name, root)


def write_cells(
    pdir: Path,
    tables: list[TableSpec],
    runs: dict[str, RunSpec],
    only: str | None = None,
    *,
    at_budget: bool = True,
) -> None:
    """Write ``<table>/<cell>/cell.json`` for every cell whose run is finished.

    ``runs`` holds every run of the profile (dependencies included, for their hashes);
    ``at_budget`` is False in the quick profile (no "within tolerance" mark).
    """
    cells = [c for t in tables for c in t.cells]
    dirs = cell_dirs(pdir, cells)
    records: dict[str, Any] = {}
    for cell in cells:
        if only is not None and cell.run != only:
            continue
        if cell.run not in records:
            rdir = run_dir(pdir, cell.run)
            ok = inspect_run(rdir, spec_hash(runs[cell.run], runs))[0] == "done"
            records[cell.run] = read_record(rdir) if ok else None
        rec = records[cell.run]
        if rec is None:
            continue
        res = cell_result(cell, rec.metrics.get(cell.metric), at_budget=at_budget)
        if res.ours is None:
            log.warning(
                "cell %s: run %s has no metric %r (has: %s)",
                cell.ref,
                cell.run,
                cell.metric,
                ", ".join(sorted(rec.metrics)),
            )
        write_cell(
            dirs[cell.ref],
            {
                "table": cell.table,
                "row": cell.row,
                "column": cell.column,
                "kind": cell.kind,
                "run": cell.run,
                "run_dir": f"../../{RUNS}/{cell.run}",
                "config_hash": rec.info.get("config_hash"),
                "metric": cell.metric,
                "paper_value": cell.paper_value,
                "ours": res.ours,
                "delta": res.delta,
                "tolerance": res.tolerance,
                "within_tolerance": res.within,
            },
        )


def eta_text(durations: list[float], remaining: int) -> str:
    """Remaining time as H:MM:SS: mean duration of the runs computed so far times ``remaining``."""
    if remaining <= 0:
        return "0:00:00"
    if not durations:
        return "?"
    seconds = round(sum(durations) / len(durations) * remaining)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        disable=not enabled,
    )


def _dependency_dirs(pdir: Path, runs: dict[str, RunSpec], rid: str) -> dict[str, str]:
    """Role -> the finished training run directory of each run ``rid`` needs."""
    return {
        role: str(training_dir(run_dir(pdir, dep), runs[dep]))
        for role, dep in runs[rid].needs.items()
    }


def _check_helpers(pdir: Path, runs: dict[str, RunSpec], helpers: set[str], rid: str) -> None:
    """Raise :class:`HelperRunError` if helper run ``rid`` ended near chance."""
    if rid not in helpers:
        return
    from robustlab.core.data import info

    acc = check_helper(rid, read_record(run_dir(pdir, rid)).metrics, _num_classes(runs[rid], info))
    log.info("helper run %s: clean accuracy %s", rid, "?" if acc is None else f"{acc:.2f} %")


def _num_classes(spec: RunSpec, info: Callable[..., Any]) -> int:
    try:
        return int(info(spec.dataset).num_classes)
    except (RobustlabError, KeyError, ValueError, AttributeError):
        return 10


@lead  # under torchrun: rank 0 runs this; the other ranks join each training (data-parallel)
def reproduce(
    paper: Any,
    tables: Sequence[str] | None = None,
    profile: str | None = None,
    device: str | torch.device | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    render: Callable[[ReproReport], dict[str, Path]] | bool | None = None,
    executor: str = "inline",
    executor_options: dict[str, Any] | None = None,
    max_jobs: int | None = None,
) -> ReproReport:
    """Reproduce a paper's tables: train and evaluate each missing run and fill the cells.

    Dependency runs (``RunSpec.needs``) come first, in dependency order, once each; a helper run
    whose clean accuracy ends within 5 points of chance stops the reproduction. Finished runs
    are skipped, interrupted ones resume (the training engine and the evaluation harness resume
    from their files), corrupt run directories are moved to ``_corrupt/`` with a warning and
    recomputed. Killing the process at any point loses at most the current run's unsaved
    progress. The repro layer renders nothing itself: pass ``render`` (e.g.
    ``robustlab.core.report.render_report``) or use ``robustlab reproduce``.

    Args:
        paper: A paper name (installed package, entry point ``robustlab.papers``) or a Paper object.
        tables: Table ids to reproduce (default: all tables of the profile).
        profile: "quick", "fmnist" or "paper"; None -> :func:`default_profile`.
        device: "cpu", "cuda", ... or None for the best available.
        runs_dir: Root of the runs store; output goes to ``<runs_dir>/<paper>/<profile>/``.
        progress: Show the overall progress (runs done / total, ETA) and the engine's bars.
        render: Called with the report at the end (its returned paths are stored in
            ``report.paths``); None or False: no rendering.
        executor: "inline" (every run in this process, in order), "local" or "slurm" (each run,
            and each evaluation shard of a run with ``eval_shards > 1``, as a submitit job with
            the run's ``resources``; see :mod:`robustlab.core.repro.executors`). The jobs use
            ``device`` as given (None: the best their machine has).
        executor_options: Extra submitit parameters, e.g. ``{"slurm_partition": "gpu"}``.
        max_jobs: Most submitit jobs in flight at once (None: no limit).

    Returns:
        The measured tables, claim verdicts and (if rendered) the report paths.

    Raises:
        UnknownNameError: unknown paper name. ValueError: unknown profile or table id, or
            inconsistent paper specs (a dependency cycle too). HelperRunError: a dependency
            run ended near chance.
    """
    if render is True:
        raise ValueError(
            "reproduce(render=True): the repro layer cannot import the report layer; pass "
            "render=robustlab.core.report.render_report, or use `robustlab reproduce`"
        )
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor != "inline":
        require_submitit(executor)  # before any work
    paper = resolve_paper(paper)
    dev = get_device(device)
    profile = profile or default_profile(paper, dev)
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    all_tables, runs = check_paper(paper, profile)
    runs = mark_autoattack(all_tables, runs)  # AutoAttack beside every robustness cell's run
    selected = select_tables(all_tables, tables)
    wanted = list(dict.fromkeys(rid for t in selected for rid in t.run_ids()))
    needed = dependency_order(runs, wanted)  # dependencies first, each once
    helpers = {dep for rid in needed for dep in runs[rid].needs.values()}
    hashes = {rid: spec_hash(runs[rid], runs) for rid in needed}
    pdir = profile_dir(runs_dir, paper.name, profile)
    write_snapshot(
        pdir, paper, profile, selected, {r: runs[r] for r in needed}, environment_info(dev)
    )
    todo = _plan(pdir, hashes, needed)
    for rid in needed:  # a helper finished earlier must not be near chance either
        if rid in helpers and rid not in todo:
            _check_helpers(pdir, runs, helpers, rid)
    log.info(
        "%s, %s profile: %d tables, %d runs (%d to compute) under %s",
        paper.name,
        profile,
        len(selected),
        len(needed),
        len(todo),
        pdir,
    )
    ensure_data([runs[r] for r in todo])
    extra = {"paper": paper.name, "profile": profile}
    at_budget = profile != "quick"
    write_cells(pdir, selected, runs, at_budget=at_budget)
    with _progress(progress) as bar:
        done = len(needed) - len(todo)  # finished earlier: counted, not part of the ETA
        task = bar.add_task(f"{paper.name} ({profile})", total=len(needed), completed=done, eta="?")
        durations: list[float] = []
        last = [time.perf_counter()]  # when the previous run finished (or the start)

        def finished(rid: str) -> None:
            _check_helpers(pdir, runs, helpers, rid)
            write_cells(pdir, selected, runs, only=rid, at_budget=at_budget)
            durations.append(time.perf_counter() - last[0])
            last[0] = time.perf_counter()
            eta = eta_text(durations, len(todo) - len(durations))
            bar.update(task, advance=1, eta=eta)
            log.info("run %s finished after %.1f s; ETA %s", rid, durations[-1], eta)

        if executor != "inline":
            from robustlab.core.repro.executors import submit_runs

            submit_runs(
                executor,
                todo,
                runs,
                pdir,
                profile,
                device=None if device is None else str(device),
                extra=extra,
                hashes=hashes,
                needs=lambda rid: _dependency_dirs(pdir, runs, rid),
                on_run_done=finished,
                options=executor_options,
                max_jobs=max_jobs,
            )
        for i, rid in enumerate(todo if executor == "inline" else [], start=1):
            bar.update(task, description=f"{paper.name} ({profile}) {rid}")
            log.info("run %d/%d %s: training and evaluating", i, len(todo), rid)
            execute_run(
                runs[rid],
                run_dir(pdir, rid),
                dev,
                progress=progress,
                extra=extra,
                needs=_dependency_dirs(pdir, runs, rid),
                chash=hashes[rid],
            )
            finished(rid)
    report = collect(pdir)
    if callable(render):
        report.paths = render(report)
    return report
