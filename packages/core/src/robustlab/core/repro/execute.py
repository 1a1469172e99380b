"""Train (all phases) and evaluate one run through the core engine; no loop of its own.

Phases call :func:`robustlab.core.train.train`, which skips a finished phase and resumes an
interrupted one from its checkpoint; evaluation calls :func:`robustlab.core.eval.evaluate` with a
state file, so a killed evaluation resumes too. ``metrics.json`` is written last, atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from robustlab.core.errors import ConfigError
from robustlab.core.repro.plan import resolve_need_refs, with_needs
from robustlab.core.repro.spec import ANALYSES, RunSpec
from robustlab.core.repro.store import (
    CONFIG,
    METRICS,
    RunRecord,
    phase_dir,
    write_run_config,
    write_run_metrics,
)
from robustlab.core.utils import atomic_write_json, get_logger

log = get_logger(__name__)
EVAL_STATE = "eval_state.json"
EVAL_RESULT = "eval.json"


def shard_file(index: int, count: int) -> str:
    """File name of evaluation shard ``index`` of ``count`` inside a run directory."""
    return f"eval.shard-{index}-of-{count}.json"


def shard_count(spec: RunSpec) -> int:
    """How many evaluation shards a run's cluster jobs use (1: evaluated with the run)."""
    return spec.eval_shards if spec.suite is not None and not spec.seeds else 1


def merged_shards(spec: RunSpec, rdir: Path) -> Any:
    """The merged ``EvalResult`` when every evaluation shard's file is in ``rdir``, else None.

    Raises:
        ConfigError: the shard files do not belong together (see ``merge_shards``).
    """
    count = shard_count(spec)
    files = [rdir / shard_file(i, count) for i in range(count)]
    if count == 1 or not all(f.exists() for f in files):
        return None
    from robustlab.core.eval.shard import load_shards

    log.info("run %s: merging %d evaluation shards", spec.id, count)
    return load_shards(files)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    return None


def merge_metrics(
    into: dict[str, float], new: dict[str, float], source: str, sources: dict[str, str]
) -> None:
    """Add ``new`` (from ``source``) to a run's metrics; a name already there is an error.

    Args:
        into: The run's metrics so far (updated in place).
        new: Metrics from one source (training, the evaluation, AutoAttack, one analysis).
        source: What produced ``new``, e.g. "analysis 'ctr/attack-accuracy' (#2)".
        sources: Metric name -> the source that produced it (updated in place).

    Raises:
        ConfigError: a metric name of ``new`` is already in ``into``; names both sources.
    """
    for key, value in new.items():
        if key in into:
            raise ConfigError(
                f"metric {key!r} is produced by both {sources.get(key, 'the run')} and {source}; "
                f"one would silently overwrite the other. Namespace the analysis' metrics (e.g. "
                f"give it a prefix= such as 'analysis/<name>/') so every name is unique"
            )
        into[key] = value
        sources[key] = source


def eval_metrics(result: Any) -> dict[str, float]:
    """Flatten an ``EvalResult``: clean_acc, acc/<attack label>, worst_case_acc (percent)."""
    out: dict[str, float] = {"clean_acc": float(result.clean_acc)}
    for label, acc in dict(result.robust_acc).items():
        out[f"acc/{label}"] = float(acc)
    worst = getattr(result, "worst_case_acc", None)
    if worst is not None:
        out["worst_case_acc"] = float(worst)
    return out


def _eval_document(result: Any, spec: RunSpec, name: str) -> dict[str, Any]:
    """The evaluation's RobustBench entry (``to_json``) with name, dataset and architecture set."""
    doc = result.to_json(name=name)
    if isinstance(doc, str):
        doc = json.loads(doc)
    doc = dict(doc) if isinstance(doc, dict) else {}
    if not doc.get("dataset"):
        doc["dataset"] = spec.dataset
    if not doc.get("architecture"):
        doc["architecture"] = str(getattr(spec.train[-1], "model", ""))
    return doc


def train_phases(
    spec: RunSpec,
    rdir: Path,
    device: torch.device,
    progress: bool,
    needs: dict[str, str] | None = None,
) -> tuple[Any, dict[str, float], Path]:
    """Run the training phases in order; phase i+1 starts from phase i's checkpoint.

    ``needs`` (role -> a dependency's training run directory) is given to every phase as
    ``TrainConfig.needs``.

    Returns:
        (the final model, flat training metrics prefixed "train/", final checkpoint path).
    """
    from robustlab.core.train import train

    result: Any = None
    ckpt: Path | None = None
    metrics: dict[str, float] = {}
    for i, cfg in enumerate(spec.train):
        if i > 0:
            cfg = dataclasses.replace(cfg, init_from=str(ckpt))
        cfg = with_needs(cfg, needs or {})
        result = train(cfg, phase_dir(rdir, i, len(spec.train)), device=device, progress=progress)
        ckpt = Path(result.checkpoint)
        prefix = "train/" if len(spec.train) == 1 else f"train{i + 1}/"
        for key, value in dict(result.metrics or {}).items():
            num = _numeric(value)
            if num is not None:
                metrics[f"{prefix}{key}"] = num
    assert ckpt is not None  # RunSpec guarantees at least one phase
    return result.model, metrics, ckpt


def load_eval_data(spec: RunSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_eval`` test examples of the run's evaluation dataset (CPU tensors)."""
    from robustlab.core.data import load

    root = getattr(spec.train[-1], "data_root", None)
    data = load(spec.dataset, split="test", n=spec.n_eval, root=root)
    return data.x, data.y


def run_analyses(
    spec: RunSpec,
    model: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    metrics: dict[str, float] | None = None,
    sources: dict[str, str] | None = None,
) -> dict[str, float]:
    """Run the spec's registered analyses on (x, y) and merge their numeric outputs.

    Every name must be new: a name another analysis, the evaluation or training already produced
    (``metrics``, with ``sources`` naming who produced each) raises ``ConfigError`` naming both.
    """
    out: dict[str, float] = {}
    if not spec.analyses:
        return out
    merged = dict(metrics or {})
    srcs = dict(sources or {})
    device = next(model.parameters()).device
    model.eval()
    xd, yd = x.to(device), y.to(device)
    for i, (name, kwargs) in enumerate(spec.analyses):
        values = ANALYSES.get(name)(model, xd, yd, **dict(kwargs))
        new: dict[str, float] = {}
        for key, value in dict(values).items():
            num = _numeric(value)
            if num is None:
                raise ValueError(f"analysis {name!r} returned non-numeric {key!r}={value!r}")
            new[str(key)] = num
        merge_metrics(merged, new, f"analysis {name!r} (#{i + 1} of run {spec.id!r})", srcs)
        out |= new
    return out


def execute_run(
    spec: RunSpec,
    rdir: Path,
    device: torch.device,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
    needs: dict[str, str] | None = None,
    chash: str | None = None,
) -> RunRecord:
    """Train, evaluate and analyse one run, then write its ``metrics.json``.

    Args:
        spec: The run.
        rdir: Its directory (``<profile dir>/_runs/<id>``); created if missing.
        device: Where to train and evaluate.
        progress: Show the engine's progress bars.
        extra: Added to config.json and the metrics record (paper, profile, ...).
        needs: Role -> the finished training run directory of each dependency (the runner
            resolves ``spec.needs``); passed to training and to ``need_ref`` attack options.
        chash: The run's hash when it has dependencies (``spec_hash(spec, runs)``).

    Returns:
        The record just written.
    """
    from robustlab.core.eval import evaluate

    if spec.seeds:  # one child run per seed, aggregated (robustlab.core.repro.seeds)
        from robustlab.core.repro.seeds import execute_seeded

        return execute_seeded(spec, rdir, device, progress, extra, needs=needs, chash=chash)
    extra = dict(extra or {})
    if not (rdir / CONFIG).exists():
        write_run_config(rdir, spec, extra, chash)
    t0 = time.perf_counter()
    model, metrics, ckpt = train_phases(spec, rdir, device, progress, needs)
    sources = dict.fromkeys(metrics, "training")
    t_train = time.perf_counter() - t0
    model.eval()
    x, y = load_eval_data(spec)
    doc: dict[str, Any] = {}
    if spec.suite is not None:
        result = merged_shards(spec, rdir) or evaluate(
            model,
            (x, y),
            resolve_need_refs(spec.suite, needs or {}, spec.id),
            n=spec.n_eval,
            batch_size=spec.eval_batch_size,
            device=device,
            state_path=rdir / EVAL_STATE,
            seed=spec.eval_seed,
            progress=progress,
        )
        doc = _eval_document(result, spec, name=f"{extra.get('paper', '')}/{spec.id}".lstrip("/"))
        atomic_write_json(rdir / EVAL_RESULT, doc)
        merge_metrics(metrics, eval_metrics(result), "the evaluation suite", sources)
        if spec.autoattack:  # AutoAttack standard at the suite's budgets, same images
            from robustlab.core.repro.autoattack import run_autoattack

            aa = run_autoattack(model, x, y, result.attacks, spec, rdir, device, progress, result)
            merge_metrics(metrics, aa, "AutoAttack", sources)
    metrics.update(run_analyses(spec, model, x, y, metrics, sources))
    metrics["n_eval"] = float(len(y))
    wall = {"train": round(t_train, 3), "eval": round(time.perf_counter() - t0 - t_train, 3)}
    log.debug("run %s: writing %s", spec.id, rdir / METRICS)
    return write_run_metrics(
        rdir, spec, metrics, ckpt, doc, {"wall_s": wall, "device": str(device), **extra}, chash
    )
