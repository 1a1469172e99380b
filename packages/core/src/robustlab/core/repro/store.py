"""The runs directory: where a reproduction keeps its runs, cells and table snapshot.

Layout under ``<runs_dir>/<paper>/<profile>/``::

    tables.json                  snapshot of the paper, profile, tables, cells and claims (the
                                 report is re-rendered from it and the run metrics alone)
    _runs/<run id>/              one trained + evaluated model, shared by every cell that uses it
        config.json              the RunSpec (all training phases, suite, n_eval) and its hash
        train/ or train-<i>/     the training engine's run directory per phase (checkpoint, log)
        eval_state.json          the evaluation harness's resume state
        eval.json                the full evaluation result
        metrics.json             written last: RobustBench keys + ``robustlab.repro`` (flat metrics,
                                 config hash, checkpoint, completion flag)
    <table>/<cell>/cell.json     one printed cell: paper value, our value, delta, and its run
    _corrupt/<run id>-<time>/    run directories found corrupt, moved aside (never deleted)
    report.md, report.csv, claims.csv, report.html, figures/

Every file is written atomically; ``metrics.json`` is the completion marker of a run.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from robustlab.core.repro.spec import Cell, RunSpec
from robustlab.core.utils import atomic_write_json, config_hash, get_logger

log = get_logger(__name__)

RUNS = "_runs"
CORRUPT = "_corrupt"
SNAPSHOT = "tables.json"
METRICS = "metrics.json"
CONFIG = "config.json"
CELL = "cell.json"
FORMAT = 1

RunStatus = Literal["done", "partial", "missing", "corrupt"]


def slug(text: str) -> str:
    """A readable, filesystem-safe directory name: "FGSM eps=0.1" -> "FGSM_eps=0.1"."""
    out = re.sub(r"[^A-Za-z0-9.=+-]+", "_", text).strip("_.")
    return out or "_"


def profile_dir(runs_dir: str | Path, paper: str, profile: str) -> Path:
    """``<runs_dir>/<paper>/<profile>``."""
    return Path(runs_dir) / slug(paper) / profile


def run_dir(pdir: Path, run_id: str) -> Path:
    """Directory of run ``run_id`` under a profile directory."""
    return pdir / RUNS / run_id


def phase_dir(rdir: Path, index: int, n_phases: int) -> Path:
    """The training engine's run directory of phase ``index`` (0-based)."""
    return rdir / ("train" if n_phases == 1 else f"train-{index + 1}")


def cell_dirs(pdir: Path, cells: list[Cell]) -> dict[tuple[str, str, str], Path]:
    """``<table>/<row>__<column>`` per cell; a short hash disambiguates names that collide."""
    out: dict[tuple[str, str, str], Path] = {}
    used: set[Path] = set()
    for cell in cells:
        path = pdir / slug(cell.table) / f"{slug(cell.row)}__{slug(cell.column)}"
        if path in used:
            path = path.with_name(f"{path.name}-{config_hash(list(cell.ref), 6)}")
        used.add(path)
        out[cell.ref] = path
    return out


def spec_hash(spec: RunSpec, runs: Mapping[str, RunSpec] | None = None) -> str:
    """The hash identifying a run's configuration (all phases, suite, n_eval, analyses).

    A run with ``needs`` hashes its dependencies' hashes too (recursively), so changing a
    teacher retrains its students.

    Args:
        spec: The run.
        runs: The profile's runs by id; required when ``spec.needs`` is not empty.

    Raises:
        ValueError: ``spec`` has dependencies and ``runs`` is None or lacks one of them, or
            the dependencies form a cycle.
    """
    return _spec_hash(spec, runs, ())


def _spec_hash(spec: RunSpec, runs: Mapping[str, RunSpec] | None, stack: tuple[str, ...]) -> str:
    if not spec.needs:
        return config_hash(spec.to_dict())
    if spec.id in stack:
        raise ValueError(f"run dependencies form a cycle: {' -> '.join((*stack, spec.id))}")
    if runs is None:
        raise ValueError(
            f"run {spec.id!r} has dependencies {spec.needs}; pass the profile's runs to spec_hash"
        )
    deps = {}
    for role, dep in sorted(spec.needs.items()):
        if dep not in runs:
            raise ValueError(
                f"run {spec.id!r} needs {dep!r} as {role!r}, which is not a run of this profile"
            )
        deps[role] = _spec_hash(runs[dep], runs, (*stack, spec.id))
    return config_hash({**spec.to_dict(), "needs_hashes": deps})


@dataclass(frozen=True)
class RunRecord:
    """What ``metrics.json`` of a finished run says.

    Attributes:
        metrics: Flat metrics ("clean_acc", "acc/<label>", "worst_case_acc", analyses, ...).
        info: The rest of the ``robustlab.repro`` record (config hash, checkpoint, summary, times).
        document: The whole metrics.json (RobustBench keys at top level).
    """

    metrics: dict[str, float]
    info: dict[str, Any]
    document: dict[str, Any]


def read_json(path: Path) -> Any:
    """Parse a JSON file; raises ``ValueError`` (naming the file) when it is not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def read_record(rdir: Path) -> RunRecord:
    """Read a finished run's metrics.json.

    Raises:
        FileNotFoundError: no metrics.json (run not finished).
        ValueError: metrics.json unparsable or without a complete ``robustlab.repro`` record.
    """
    doc = read_json(rdir / METRICS)
    rec = doc.get("robustlab", {}).get("repro") if isinstance(doc, dict) else None
    if not isinstance(rec, dict) or rec.get("complete") is not True:
        raise ValueError(f"{rdir / METRICS}: no complete robustlab.repro record")
    metrics = rec.get("metrics")
    if not isinstance(metrics, dict):
        raise ValueError(f"{rdir / METRICS}: robustlab.repro.metrics missing")
    info = {k: v for k, v in rec.items() if k != "metrics"}
    return RunRecord({str(k): float(v) for k, v in metrics.items()}, info, doc)


def inspect_run(rdir: Path, expected_hash: str) -> tuple[RunStatus, str]:
    """Classify a run directory.

    Returns:
        ("missing", "") no directory; ("partial", "") started with the same config (resume);
        ("done", "") finished, hash matches, checkpoint present; ("corrupt", reason) otherwise:
        unparsable metrics.json/config.json, a config hash mismatch, or a missing checkpoint.
    """
    if not rdir.exists():
        return "missing", ""
    cfg_path = rdir / CONFIG
    if cfg_path.exists():
        try:
            cfg = read_json(cfg_path)
        except ValueError as exc:
            return "corrupt", str(exc)
        if not isinstance(cfg, dict) or cfg.get("config_hash") != expected_hash:
            got = cfg.get("config_hash") if isinstance(cfg, dict) else None
            return "corrupt", f"config hash {got!r} in {cfg_path} != expected {expected_hash!r}"
    if not (rdir / METRICS).exists():
        return "partial", ""
    try:
        rec = read_record(rdir)
    except (ValueError, TypeError, AttributeError) as exc:
        return "corrupt", str(exc)
    if rec.info.get("config_hash") != expected_hash:
        return (
            "corrupt",
            f"metrics.json config hash {rec.info.get('config_hash')!r} != {expected_hash!r}",
        )
    ckpt = rec.info.get("checkpoint")
    if ckpt and not (rdir / ckpt).exists():
        return "corrupt", f"checkpoint {rdir / ckpt} is missing"
    return "done", ""


def quarantine(rdir: Path, reason: str) -> Path:
    """Move a corrupt run directory aside to ``_corrupt/`` (a rename: kill-safe) and warn."""
    dest = rdir.parent.parent / CORRUPT / f"{rdir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{dest.name}-{n}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(rdir), str(dest))
    log.warning("run %s is corrupt (%s); moved to %s and recomputing it", rdir.name, reason, dest)
    return dest


def write_run_config(
    rdir: Path, spec: RunSpec, extra: dict[str, Any], chash: str | None = None
) -> None:
    """Write ``config.json`` (the RunSpec and its hash) when a run starts.

    ``chash`` is the run's hash when it has dependencies (:func:`spec_hash` with the runs).
    """
    chash = chash or spec_hash(spec)
    atomic_write_json(
        rdir / CONFIG,
        {"format": FORMAT, "config_hash": chash, "run": spec.to_dict(), **extra},
    )


def write_cell(path: Path, record: dict[str, Any]) -> None:
    """Write one cell's ``cell.json``; an unreadable old one is reported and replaced."""
    target = path / CELL
    if target.exists():
        try:
            read_json(target)
        except ValueError as exc:
            log.warning("cell directory %s is corrupt (%s); rewriting it", path, exc)
    atomic_write_json(target, record)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def write_run_metrics(
    rdir: Path,
    spec: RunSpec,
    metrics: dict[str, float],
    checkpoint: Path,
    document: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    chash: str | None = None,
) -> RunRecord:
    """Write a finished run's ``metrics.json`` (the completion marker), atomically.

    Args:
        rdir: The run directory.
        spec: The run (its hash is recorded).
        metrics: Flat metrics ("clean_acc", "acc/<label>", ...), percent for accuracies.
        checkpoint: The final checkpoint (recorded relative to ``rdir``; must exist for the run
            to count as finished).
        document: The evaluation's RobustBench entry (top-level keys + ``robustlab``), if any.
        extra: More fields of the ``robustlab.repro`` record (paper, profile, wall times, ...).
        chash: The run's hash when it has dependencies (default: :func:`spec_hash` of ``spec``).
    """
    doc = dict(document or {})
    record = {
        "format": FORMAT,
        "complete": True,
        "run_id": spec.id,
        "config_hash": chash or spec_hash(spec),
        "checkpoint": _relative(checkpoint, rdir),
        "metrics": {k: float(v) for k, v in metrics.items()},
        **(extra or {}),
    }
    body = doc.get("robustlab")
    body = body if isinstance(body, dict) else {}
    doc["robustlab"] = {**body, "repro": record}
    atomic_write_json(rdir / METRICS, doc)
    return read_record(rdir)
