"""Run dependencies: order, references and checks of runs that other runs need.

A :class:`~robustlab.core.repro.spec.RunSpec` may name the runs it needs
(``needs={"teacher": "c10-resnet18-nt"}``, role -> run id of the same profile). The runner
(:func:`robustlab.core.repro.reproduce`) then

- trains every dependency before the runs that need it (:func:`dependency_order`; a cycle or an
  unknown id is a ``ValueError``), once per profile directory, resumable like any run, shared by
  every run and table that needs it;
- hashes each dependency into the dependent run's hash (``spec_hash(spec, runs)``), so changing
  a teacher retrains its students;
- passes the dependency's finished *training* run directory (its last phase, loadable with
  :func:`robustlab.core.train.load_run`) to every training phase as ``TrainConfig.needs`` and
  in place of every ``need_ref(role)`` string in the suite's attack options (e.g. a transfer
  attack's ``source_run``);
- refuses a helper run whose clean accuracy ends within :data:`CHANCE_MARGIN` points of chance
  (:func:`check_helper`): a substitute, teacher or guide that learned nothing would silently
  void every number built on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustlab.core.errors import RobustlabError
from robustlab.core.repro.spec import RunSpec
from robustlab.core.repro.store import phase_dir

__all__ = [
    "CHANCE_MARGIN",
    "NEED_PREFIX",
    "HelperRunError",
    "check_helper",
    "dependency_order",
    "need_ref",
    "resolve_need_refs",
    "training_dir",
    "with_needs",
]

NEED_PREFIX = "needs:"
"""Prefix of a string in a suite's attack options that the runner replaces by a run directory."""
CHANCE_MARGIN = 5.0
"""A helper run within this many accuracy points of chance (100 / classes) is an error."""


class HelperRunError(RobustlabError):
    """A dependency run (substitute, teacher, guide) is no better than chance."""


def need_ref(role: str) -> str:
    """The reference to dependency ``role``'s training run directory in attack options.

    E.g. ``AttackSpec("transfer PGD", "pcloss/transfer", {"source_run": need_ref("substitute")})``
    with ``RunSpec(..., needs={"substitute": "fmnist-cnn3-ce"})``.
    """
    return f"{NEED_PREFIX}{role}"


def dependency_order(runs: Mapping[str, RunSpec], wanted: Sequence[str]) -> list[str]:
    """``wanted`` and every run they need, transitively, dependencies first.

    The order is deterministic: depth-first in the order of ``wanted`` and of each run's
    ``needs``; each run appears once however many runs need it.

    Raises:
        ValueError: a run needs an id that is not in ``runs`` (naming both), or the
            dependencies form a cycle (naming it).
    """
    order: list[str] = []
    state: dict[str, str] = {}  # "active" while on the stack, "done" once placed

    def visit(rid: str, path: tuple[str, ...]) -> None:
        if state.get(rid) == "done":
            return
        if state.get(rid) == "active":
            cycle = (*path[path.index(rid) :], rid)
            raise ValueError(f"run dependencies form a cycle: {' -> '.join(cycle)}")
        state[rid] = "active"
        for role, dep in runs[rid].needs.items():
            if dep not in runs:
                raise ValueError(
                    f"run {rid!r} needs {dep!r} as {role!r}, which is not a run of this profile "
                    f"(known: {', '.join(sorted(runs))})"
                )
            visit(dep, (*path, rid))
        state[rid] = "done"
        order.append(rid)

    for rid in wanted:
        if rid not in runs:
            raise ValueError(f"unknown run {rid!r} (known: {', '.join(sorted(runs))})")
        visit(rid, ())
    return order


def training_dir(rdir: Path, spec: RunSpec) -> Path:
    """The training run directory of a run's last phase (what dependents receive)."""
    n = len(spec.train)
    return phase_dir(rdir, n - 1, n)


def resolve_need_refs(obj: Any, dirs: Mapping[str, str], run_id: str = "") -> Any:
    """``obj`` with every ``need_ref(role)`` string replaced by ``dirs[role]`` (recursively).

    Dataclass instances (``Suite``, ``AttackSpec``) are rebuilt with their fields resolved;
    other objects are returned unchanged.

    Raises:
        ValueError: a reference names a role the run does not declare in ``needs``.
    """
    if isinstance(obj, str) and obj.startswith(NEED_PREFIX):
        role = obj[len(NEED_PREFIX) :]
        if role not in dirs:
            raise ValueError(
                f"run {run_id!r} refers to {obj!r} but needs no {role!r} "
                f"(its needs: {', '.join(sorted(dirs)) or 'none'}); add it to RunSpec.needs"
            )
        return dirs[role]
    if isinstance(obj, dict):
        return {k: resolve_need_refs(v, dirs, run_id) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(resolve_need_refs(v, dirs, run_id) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: resolve_need_refs(getattr(obj, f.name), dirs, run_id)
            for f in dataclasses.fields(obj)
            if f.init
        }
        return dataclasses.replace(obj, **changes)
    return obj


def with_needs(cfg: Any, dirs: Mapping[str, str]) -> Any:
    """A ``TrainConfig`` with ``needs`` set to ``dirs`` (unchanged when ``dirs`` is empty).

    Raises:
        RobustlabError: the installed core's ``TrainConfig`` has no ``needs`` field.
    """
    if not dirs:
        return cfg
    if "needs" not in {f.name for f in dataclasses.fields(cfg)}:
        raise RobustlabError(
            "this run has dependencies but TrainConfig has no 'needs' field; update "
            "robustlab-core (the training engine receives dependencies as TrainConfig.needs)"
        )
    return dataclasses.replace(cfg, needs=dict(dirs))


def helper_accuracy(metrics: Mapping[str, float]) -> float | None:
    """A finished run's clean accuracy (%): ``clean_acc``, else the engine's ``train/..``."""
    for key in ("clean_acc", "train/clean_acc"):
        if key in metrics:
            return float(metrics[key])
    last = [k for k in metrics if k.startswith("train") and k.endswith("/clean_acc")]
    return float(metrics[sorted(last)[-1]]) if last else None


def check_helper(run_id: str, metrics: Mapping[str, float], num_classes: int) -> float | None:
    """Refuse a helper run whose clean accuracy is within :data:`CHANCE_MARGIN` of chance.

    Args:
        run_id: The dependency run.
        metrics: Its flat metrics (percent accuracies).
        num_classes: Classes of its dataset (chance = 100 / num_classes percent).

    Returns:
        The clean accuracy, or None when the run recorded none.

    Raises:
        HelperRunError: naming the run, its accuracy and chance.
    """
    acc = helper_accuracy(metrics)
    chance = 100.0 / max(1, num_classes)
    if acc is not None and acc <= chance + CHANCE_MARGIN:
        raise HelperRunError(
            f"helper run {run_id!r} ended at {acc:.2f} % clean accuracy, within "
            f"{CHANCE_MARGIN:g} points of chance ({chance:.2f} %); the runs that need it would be "
            "meaningless. Give it more epochs or data, or fix its training settings."
        )
    return acc
