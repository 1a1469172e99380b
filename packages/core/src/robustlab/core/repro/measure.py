"""Measurements behind cells and claims: the per-example outcomes and budgets of finished runs.

:class:`Outcomes` reads each run's ``eval.json`` / AutoAttack result files once and gives the
outcome vector behind a metric (only if it reproduces the metric exactly) and the (eps, norm) of a
robustness cell; :func:`measure` turns a cell into the :class:`Measurement` the statistical tests
use; :func:`autoattack_values` rewrites a robustness claim onto the AutoAttack accuracies of the
same runs (the second verdict beside every robustness claim).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from robustlab.core.repro.autoattack import AA_LABEL, aa_file, aa_metric, attack_budget
from robustlab.core.repro.claims import Measurement
from robustlab.core.repro.execute import EVAL_RESULT
from robustlab.core.repro.published import CellRef
from robustlab.core.repro.spec import Cell, Claim, Comparison

__all__ = ["Outcomes", "autoattack_values", "claim_cells", "measure", "read_result"]


def read_result(path: Path) -> dict[str, Any]:
    """The ``robustlab`` section of a result JSON file ({} if missing or unreadable)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    body = doc.get("robustlab", {}) if isinstance(doc, dict) else {}
    return body if isinstance(body, dict) else {}


class Outcomes:
    """Per-example outcome vectors and attack budgets of the runs, read once per file."""

    def __init__(self, runs: dict[str, dict[str, Any]]) -> None:
        self.runs = runs
        self._docs: dict[Path, dict[str, Any]] = {}

    def _doc(self, path: Path) -> dict[str, Any]:
        if path not in self._docs:
            self._docs[path] = read_result(path) if path.exists() else {}
        return self._docs[path]

    def vector(self, run: str, metric: str, value: float) -> tuple[bool, ...] | None:
        """The outcomes behind ``metric`` of a single-seed run, if they reproduce ``value``."""
        state = self.runs.get(run, {})
        dirs = state.get("eval_dirs", [])
        if len(dirs) != 1:
            return None
        if metric.startswith("aa/"):
            norm, _, eps = metric[3:].partition(" eps=")
            try:
                path, key = dirs[0] / aa_file(float(eps), norm), AA_LABEL
            except ValueError:
                return None
        else:
            path = dirs[0] / EVAL_RESULT
            key = {"clean_acc": "clean", "worst_case_acc": "worst_case"}.get(metric, "")
            key = metric[4:] if metric.startswith("acc/") else key
        bits = self._doc(path).get("per_example", {}).get(key)
        if not isinstance(bits, str) or not bits:
            return None
        vec = tuple(c == "1" for c in bits)
        return vec if abs(100.0 * sum(vec) / len(vec) - value) < 1e-6 else None

    def attacks(self, run: str) -> list[dict[str, Any]]:
        """The evaluated attack entries (label, attack, kwargs) of a run (its first seed)."""
        dirs = self.runs.get(run, {}).get("eval_dirs", [])
        found = self._doc(dirs[0] / EVAL_RESULT).get("attacks", []) if dirs else []
        return [a for a in found if isinstance(a, dict)]

    def budget(self, cell: Cell) -> tuple[float, str] | None:
        """(eps, norm) of a robustness cell: its attack's, or the run's only budget."""
        attacks = self.attacks(cell.run)
        if cell.metric.startswith("acc/"):
            label = cell.metric[4:]
            for a in attacks:
                if a.get("label") == label:
                    return attack_budget(a)
            return None
        found = {b for a in attacks if (b := attack_budget(a)) is not None}
        return found.pop() if len(found) == 1 else None


def examples_behind(key: str, metrics: dict[str, Any]) -> int | None:
    """How many test examples ``key`` was measured on.

    An analysis that attacks a subset reports its own ``<namespace>/n_eval`` beside its metrics
    (e.g. ``curve/n_eval`` for ``curve/acc/FGSM eps=2/255``); the longest such namespace of
    ``key`` wins, else the run's ``n_eval``. None when neither is known.
    """
    parts = key.split("/")
    for i in range(len(parts) - 1, 0, -1):
        value = metrics.get("/".join(parts[:i]) + "/n_eval")
        if value:
            return int(value)
    value = metrics.get("n_eval")
    return int(value) if value else None


def measure(
    cell: Cell, runs: dict[str, dict[str, Any]], loader: Outcomes, metric: str | None = None
) -> Measurement:
    """Our measurement of ``cell`` (or of another ``metric`` of the same run)."""
    key = metric or cell.metric
    state = runs.get(cell.run, {})
    metrics = state.get("metrics", {})
    value = metrics.get(key)
    if value is None:
        return Measurement(None)
    n = examples_behind(key, metrics)
    seeds = tuple(float(m[key]) for m in state.get("seed_metrics", {}).values() if key in m)
    proportion = key != "n_eval" and (cell.kind != "other" or key != cell.metric)
    vec = None if len(seeds) >= 2 or not proportion else loader.vector(cell.run, key, float(value))
    if vec is not None:  # the images behind the value (AutoAttack may use fewer: autoattack_n)
        n = len(vec)
    elif key.startswith("aa/"):
        n = None  # unknown: never assume the run's n_eval for an AutoAttack metric
    return Measurement(
        float(value),
        n,
        state.get("summary", {}).get("eval_dataset"),
        vec,
        seeds if len(seeds) >= 2 else (),
        proportion,
    )


def claim_cells(claim: Claim, by_ref: dict[CellRef, Cell]) -> list[Cell]:
    """The cells a claim compares, each once, in order."""
    refs = dict.fromkeys(r for c in claim.comparisons for r in (c.lhs, c.rhs))
    return [by_ref[r] for r in refs if r in by_ref]


def autoattack_values(
    claim: Claim, by_ref: dict[CellRef, Cell], runs: dict[str, Any], loader: Outcomes
) -> tuple[Claim, dict[CellRef, Measurement]] | None:
    """The claim rewritten onto AutoAttack accuracies of the same runs, or None if not a
    robustness claim. Comparisons that become identical (several attacks at one budget) are kept
    once, so Holm's correction counts distinct AutoAttack comparisons."""
    cells = claim_cells(claim, by_ref)
    if not any(c.kind == "robust" for c in cells):
        return None
    refs: dict[CellRef, CellRef] = {}
    values: dict[CellRef, Measurement] = {}
    for c in cells:
        if c.kind != "robust":
            refs[c.ref] = c.ref
            values[c.ref] = measure(c, runs, loader)
            continue
        b = loader.budget(c)
        ref = (c.table, c.run, "AutoAttack" if b is None else aa_metric(*b))
        refs[c.ref] = ref
        values[ref] = Measurement(None) if b is None else measure(c, runs, loader, ref[2])
    comps = dict.fromkeys(  # a comparison within one run maps onto itself: no AA verdict
        Comparison(refs[k.lhs], k.op, refs[k.rhs], k.margin)
        for k in claim.comparisons
        if k.lhs in refs and k.rhs in refs and refs[k.lhs] != refs[k.rhs]
    )
    if not comps:
        return None
    return dataclasses.replace(claim, comparisons=tuple(comps)), values
