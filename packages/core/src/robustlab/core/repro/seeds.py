"""Seeded runs: one child run per training seed, metrics aggregated to mean and std.

A :class:`~robustlab.core.repro.spec.RunSpec` with ``seeds=(0, 1, 2)`` is executed as three
ordinary runs ``<id>+seed0`` ... under its own directory (``_runs/<id>/seed<s>/``, each with its
config, checkpoint, eval.json and metrics.json: resumable and checked like any run). The parent
then writes its ``metrics.json`` with, for every metric all seeds have, the mean over seeds under
the metric's own key and the sample standard deviation (ddof 1) under ``std/<key>``, plus
``n_seeds``; the per-seed metrics are kept in the record (``seed_metrics``) for the seed tests of
the claim verdicts (:mod:`robustlab.core.repro.claims`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from robustlab.core.repro.spec import RunSpec
from robustlab.core.repro.store import (
    CONFIG,
    RunRecord,
    inspect_run,
    quarantine,
    read_record,
    spec_hash,
    write_run_config,
    write_run_metrics,
)
from robustlab.core.utils import config_hash, get_logger

log = get_logger(__name__)

__all__ = ["aggregate", "child_dir", "child_spec", "execute_seeded", "seed_id"]


def seed_id(run_id: str, seed: int) -> str:
    """Id of the child run of ``run_id`` for ``seed``: ``"<run_id>+seed<seed>"``."""
    return f"{run_id}+seed{seed}"


def child_dir(rdir: Path, seed: int) -> Path:
    """Directory of a seed's child run inside the parent's run directory."""
    return rdir / f"seed{seed}"


def child_spec(spec: RunSpec, seed: int) -> RunSpec:
    """The single-seed run: id suffixed, ``seeds`` cleared, every phase's ``seed`` set."""
    train = tuple(dataclasses.replace(cfg, seed=seed) for cfg in spec.train)
    return dataclasses.replace(spec, id=seed_id(spec.id, seed), seeds=(), train=train)


def aggregate(per_seed: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    """Mean (same key) and sample std (``std/<key>``) over seeds of every metric all seeds have.

    Args:
        per_seed: seed -> flat metrics of that seed's run (at least one seed).

    Returns:
        Flat metrics plus ``n_seeds``; std is 0 for a single seed.
    """
    if not per_seed:
        raise ValueError("aggregate needs the metrics of at least one seed")
    runs = list(per_seed.values())
    keys = [k for k in runs[0] if all(k in m for m in runs[1:])]
    out: dict[str, float] = {}
    k = len(runs)
    for key in keys:
        values = [float(m[key]) for m in runs]
        mean = sum(values) / k
        out[key] = mean
        if key != "n_eval":
            var = sum((v - mean) ** 2 for v in values) / (k - 1) if k > 1 else 0.0
            out[f"std/{key}"] = math.sqrt(var)
    out["n_seeds"] = float(k)
    return out


def execute_seeded(
    spec: RunSpec,
    rdir: Path,
    device: torch.device,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
    needs: dict[str, str] | None = None,
    chash: str | None = None,
) -> RunRecord:
    """Run every seed of ``spec`` (skipping finished ones) and write the parent's metrics.json.

    Args:
        spec: A run with non-empty ``seeds``.
        rdir: The parent's run directory.
        device, progress, extra, needs: As for :func:`robustlab.core.repro.execute.execute_run`
            (``needs`` is passed to every child).
        chash: The parent's hash when it has dependencies; a child's hash is then derived from
            it and the seed.

    Raises:
        ValueError: if ``spec.seeds`` is empty.
    """
    from robustlab.core.repro.execute import execute_run

    if not spec.seeds:
        raise ValueError(f"run {spec.id!r} has no seeds; call execute_run instead")
    extra = dict(extra or {})
    if not (rdir / CONFIG).exists():
        write_run_config(rdir, spec, extra, chash)
    per_seed: dict[int, dict[str, float]] = {}
    first_ckpt: Path | None = None
    for seed in spec.seeds:
        cspec, cdir = child_spec(spec, seed), child_dir(rdir, seed)
        ch = config_hash({"parent": chash, "seed": seed}) if spec.needs else spec_hash(cspec)
        status, reason = inspect_run(cdir, ch)
        if status == "corrupt":
            quarantine(cdir, reason)
        if status == "done":
            log.info("run %s: finished earlier, skipped", cspec.id)
            rec = read_record(cdir)
        else:
            child_extra = {**extra, "seed": seed}
            rec = execute_run(cspec, cdir, device, progress, child_extra, needs, ch)
        per_seed[seed] = rec.metrics
        if first_ckpt is None:
            first_ckpt = cdir / str(rec.info.get("checkpoint", ""))
    assert first_ckpt is not None
    record_extra = {
        **extra,
        "seed_metrics": {str(s): m for s, m in per_seed.items()},
        "seed_runs": {str(s): child_dir(Path("."), s).as_posix() for s in spec.seeds},
    }
    return write_run_metrics(rdir, spec, aggregate(per_seed), first_ckpt, {}, record_extra, chash)
