"""Measured tables read from a runs dir: cells (paper vs ours, Wilson interval) and claim verdicts.

Cells are filled from the runs' flat metrics; claims are tested on :class:`Measurement` objects
that carry what the tests need: n and dataset of the run's evaluation, the per-example outcome
vector of the metric (from the run's ``eval.json`` or AutoAttack result file, used only if it
reproduces the metric exactly) and the per-seed values of seeded runs. Every robustness claim
gets a second verdict under AutoAttack (the same comparisons on the ``aa/...`` metric of each
cell's run at the cell's budget), and notes naming the failed sanity checks of the runs it rests
on ("masked: CE loss" named with the CE-loss cells it affects).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustlab.core.repro.autoattack import AA_LABEL, aa_file, aa_metric, attack_budget
from robustlab.core.repro.claims import ALPHA, ClaimResult, Measurement, evaluate_claim
from robustlab.core.repro.execute import EVAL_RESULT
from robustlab.core.repro.published import CellRef
from robustlab.core.repro.snapshot import load_snapshot, table_from_dict
from robustlab.core.repro.spec import Cell, Claim, Comparison, TableSpec
from robustlab.core.repro.store import RUNS, inspect_run, read_record, run_dir

NEAR_ZERO = 1.0
"""Paper and ours both below this many points: "both ~0", never counted as agreement."""
NEAR_CHANCE = "near_chance"
"""Name of the sanity flag of a run whose clean accuracy is near chance (:func:`near_chance_flag`)."""
MASKED_CE = "masked_ce_loss"
"""Name of the loss-function-gap sanity flag (:func:`robustlab.core.eval.checks.masked_ce_flag`)."""


@dataclass(frozen=True)
class CellResult:
    """One cell: the paper's value, ours, ours - paper, within tolerance, and our measurement.

    ``within`` is None where no tolerance mark is shown: no value, a quick profile (not at the
    paper's budget), or both values near 0 (``both_zero``).
    """

    cell: Cell
    ours: float | None
    delta: float | None
    within: bool | None
    measurement: Measurement | None = None
    both_zero: bool = False

    @property
    def tolerance(self) -> float | None:
        """The tolerance applied (cell's own or the default of its kind)."""
        return self.cell.effective_tolerance

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % Wilson interval of our accuracy (percent), pooled over seeds."""
        return None if self.measurement is None else self.measurement.interval()

    @property
    def std(self) -> float | None:
        """Standard deviation over seeds (seeded runs only)."""
        return None if self.measurement is None else self.measurement.std


@dataclass(frozen=True)
class TableResult:
    """A table's cells and the verdicts of its claims."""

    spec: TableSpec
    cells: tuple[CellResult, ...]
    claims: tuple[ClaimResult, ...]


@dataclass
class ReproReport:
    """Everything a report shows for one paper under one profile.

    Attributes:
        paper: name, title, authors, venue, url.
        profile: "quick", "fmnist" or "paper".
        description: The paper's budget statement for the profile.
        profile_dir: ``<runs_dir>/<paper>/<profile>``.
        environment: Versions and hardware (``environment_info``).
        tables: Per-table results in the paper's order.
        runs: run id -> {"status", "metrics", "checks", "summary", "dir", ...}.
        paths: Rendered files ("md", "csv", "claims_csv", "html", figure names).
        alpha: Level of the claim verdicts.
    """

    paper: dict[str, str]
    profile: str
    description: str
    profile_dir: Path
    environment: dict[str, Any]
    tables: list[TableResult]
    runs: dict[str, dict[str, Any]]
    paths: dict[str, Path] = field(default_factory=dict)
    alpha: float = ALPHA

    @property
    def quick(self) -> bool:
        """Whether this is a quick-profile report (numbers not comparable in absolute terms)."""
        return self.profile == "quick"

    @property
    def claims(self) -> list[ClaimResult]:
        """All claims of all tables."""
        return [c for t in self.tables for c in t.claims]

    def sanity_rows(self) -> list[tuple[str, str, str]]:
        """(run id, check name, detail) of every failed evaluation sanity check."""
        return [
            (rid, name, str(flag.get("detail", "")))
            for rid, run in sorted(self.runs.items())
            for name, flag in sorted(run.get("checks", {}).items())
            if isinstance(flag, dict) and flag.get("passed") is False
        ]

    def helper_rows(self) -> list[tuple[str, str, str, str]]:
        """(run id, needed by as "run (role)", method/model, clean accuracy) of every helper run:
        a dependency (teacher, substitute, guide) that fills no cell itself."""
        users: dict[str, list[str]] = {}
        for rid, run in sorted(self.runs.items()):
            for role, dep in (run.get("summary", {}).get("needs") or {}).items():
                users.setdefault(dep, []).append(f"{rid} ({role})")
        rows = []
        for rid, run in sorted(self.runs.items()):
            summary = run.get("summary", {})
            if not summary.get("helper"):
                continue
            metrics = run.get("metrics", {})
            acc = metrics.get("clean_acc", metrics.get("train/clean_acc"))
            what = f"{summary.get('method', '?')} / {summary.get('model', '?')}"
            acc_text = f"{acc:.2f}" if isinstance(acc, (int, float)) else run.get("status", "?")
            rows.append((rid, ", ".join(users.get(rid, [])) or "–", what, acc_text))
        return rows

    def checked_runs(self) -> int:
        """Number of finished runs whose evaluation recorded sanity checks."""
        return sum(bool(r.get("checks")) for r in self.runs.values())

    def runs_done(self) -> int:
        """Number of finished runs."""
        return sum(r["status"] == "done" for r in self.runs.values())


def cell_result(
    cell: Cell,
    ours: float | None,
    *,
    at_budget: bool = True,
    measurement: Measurement | None = None,
) -> CellResult:
    """Compare one measured value with the cell's paper value and tolerance.

    Args:
        cell: The cell.
        ours: Our value (None: not measured).
        at_budget: Whether the profile runs at the paper's budget; False (quick) shows no
            tolerance mark.
        measurement: What the value was measured on (for the Wilson interval).
    """
    if ours is None or cell.paper_value is None:
        return CellResult(cell, ours, None, None, measurement)
    delta = ours - cell.paper_value
    tol = cell.effective_tolerance
    both_zero = cell.kind != "other" and abs(ours) < NEAR_ZERO and abs(cell.paper_value) < NEAR_ZERO
    judged = at_budget and not cell.analog and not both_zero
    within = abs(delta) <= tol + 1e-9 if tol is not None and judged else None
    return CellResult(cell, ours, delta, within, measurement, both_zero)


# ---------------------------------------------------------------- reading runs


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    body = doc.get("robustlab", {}) if isinstance(doc, dict) else {}
    return body if isinstance(body, dict) else {}


def _eval_dirs(rdir: Path, info: dict[str, Any]) -> list[Path]:
    """The directories holding eval.json: the run's own, or its seeds' for a seeded run."""
    seeds = info.get("seed_runs")
    if isinstance(seeds, dict) and seeds:
        return [rdir / str(p) for p in seeds.values()]
    return [rdir]


def _eval_checks(dirs: list[Path]) -> dict[str, dict[str, Any]]:
    """Sanity-check flags of the evaluation(s); a seeded run fails a check if any seed does."""
    out: dict[str, dict[str, Any]] = {}
    for d in dirs:
        path = d / EVAL_RESULT
        if not path.exists():
            continue
        flags = _read(path).get("flags")
        if not isinstance(flags, dict):
            out["eval.json"] = {"passed": False, "detail": f"unreadable: {path}"}
            continue
        prefix = f"{d.name}: " if len(dirs) > 1 else ""
        for name, f in flags.items():
            if not isinstance(f, dict):
                continue
            if name not in out or (f.get("passed") is False and out[name].get("passed")):
                out[name] = {**f, "detail": prefix + str(f.get("detail", ""))}
    return out


def near_chance_flag(metrics: dict[str, float], dataset: str) -> dict[str, Any] | None:
    """A failed sanity flag when a run's clean accuracy is within ``CHANCE_MARGIN`` of chance.

    Helper runs near chance stop a reproduction (:func:`~robustlab.core.repro.plan.check_helper`);
    a run that fills table cells is flagged instead, so its cells are never silently tabulated.

    Args:
        metrics: The run's flat metrics (percent accuracies).
        dataset: Its dataset name (chance = 100 / classes; 10 classes if unknown).

    Returns:
        ``{"passed": False, "detail": ...}`` or None (not near chance, or no clean accuracy).
    """
    from robustlab.core.repro.plan import CHANCE_MARGIN, helper_accuracy

    acc = helper_accuracy(metrics)
    try:
        from robustlab.core.data import info

        classes = int(info(dataset).num_classes)
    except Exception:  # unknown or unregistered dataset: assume 10 classes
        classes = 10
    chance = 100.0 / max(1, classes)
    if acc is None or acc > chance + CHANCE_MARGIN:
        return None
    detail = (
        f"clean accuracy {acc:.2f} % is within {CHANCE_MARGIN:g} points of chance "
        f"({chance:.2f} %): the model did not learn; its cells measure noise"
    )
    return {"passed": False, "detail": detail}


def _run_states(pdir: Path, runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rid, summary in runs.items():
        rdir = run_dir(pdir, rid)
        status, reason = inspect_run(rdir, summary.get("config_hash", ""))
        rec = read_record(rdir) if status == "done" else None
        info = rec.info if rec is not None else {}
        checks = _eval_checks(_eval_dirs(rdir, info)) if rec is not None else {}
        if rec is not None:
            flag = near_chance_flag(rec.metrics, str(summary.get("dataset", "")))
            if flag is not None:
                checks[NEAR_CHANCE] = flag
        out[rid] = {
            "status": status,
            "reason": reason,
            "metrics": rec.metrics if rec is not None else {},
            "checks": checks,
            "seed_metrics": info.get("seed_metrics") or {},
            "eval_dirs": _eval_dirs(rdir, info),
            "summary": summary,
            "dir": f"{RUNS}/{rid}",
        }
    return out


class _Outcomes:
    """Per-example outcome vectors and attack budgets of the runs, read once per file."""

    def __init__(self, runs: dict[str, dict[str, Any]]) -> None:
        self.runs = runs
        self._docs: dict[Path, dict[str, Any]] = {}

    def _doc(self, path: Path) -> dict[str, Any]:
        if path not in self._docs:
            self._docs[path] = _read(path) if path.exists() else {}
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


def measure(
    cell: Cell, runs: dict[str, dict[str, Any]], loader: _Outcomes, metric: str | None = None
) -> Measurement:
    """Our measurement of ``cell`` (or of another ``metric`` of the same run)."""
    key = metric or cell.metric
    state = runs.get(cell.run, {})
    metrics = state.get("metrics", {})
    value = metrics.get(key)
    if value is None:
        return Measurement(None)
    n_eval = metrics.get("n_eval")
    n = int(n_eval) if n_eval else None
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


def _claim_cells(claim: Claim, by_ref: dict[CellRef, Cell]) -> list[Cell]:
    refs = dict.fromkeys(r for c in claim.comparisons for r in (c.lhs, c.rhs))
    return [by_ref[r] for r in refs if r in by_ref]


def claim_notes(claim: Claim, by_ref: dict[CellRef, Cell], runs: dict[str, Any]) -> list[str]:
    """Failed sanity checks of the runs the claim rests on; "masked: CE loss" names its cells."""
    cells = _claim_cells(claim, by_ref)
    notes: list[str] = []
    for rid in dict.fromkeys(c.run for c in cells):
        for name, f in sorted(runs.get(rid, {}).get("checks", {}).items()):
            if not isinstance(f, dict) or f.get("passed") is not False:
                continue
            if name == MASKED_CE:
                ce = {f"acc/{lb}" for lb in f.get("ce_labels", [])}
                hit = [c for c in cells if c.run == rid and c.metric in ce]
                if hit:
                    names = ", ".join(f"{c.row}/{c.column}" for c in hit)
                    notes.append(
                        f"rests on CE-loss cells of a model flagged 'masked: CE loss' "
                        f"({rid}: {names}): {f.get('detail', '')}"
                    )
                    continue
            notes.append(f"{rid}: {name} failed: {f.get('detail', '')}")
    return notes


def autoattack_values(
    claim: Claim, by_ref: dict[CellRef, Cell], runs: dict[str, Any], loader: _Outcomes
) -> tuple[Claim, dict[CellRef, Measurement]] | None:
    """The claim rewritten onto AutoAttack accuracies of the same runs, or None if not a
    robustness claim. Comparisons that become identical (several attacks at one budget) are kept
    once, so Holm's correction counts distinct AutoAttack comparisons."""
    cells = _claim_cells(claim, by_ref)
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


def build_tables(
    specs: list[TableSpec],
    runs: dict[str, dict[str, Any]],
    profile: str = "paper",
    alpha: float = ALPHA,
) -> list[TableResult]:
    """Fill each table's cells from the runs and evaluate the claims (ours, paper, AutoAttack).

    Args:
        specs: The tables.
        runs: run id -> state (``metrics``, ``checks``, ``seed_metrics``, ``eval_dirs``, ...).
        profile: "quick" shows no tolerance marks (not at the paper's budget).
        alpha: Level of the verdicts.
    """
    loader = _Outcomes(runs)
    by_ref = {c.ref: c for s in specs for c in s.cells}
    measured = {ref: measure(c, runs, loader) for ref, c in by_ref.items()}
    paper = {ref: c.paper_value for ref, c in by_ref.items()}
    out = []
    for spec in specs:
        claims = []
        for claim in spec.claims:
            res = evaluate_claim(claim, measured, paper, alpha)
            aa = autoattack_values(claim, by_ref, runs, loader)
            if aa is not None:
                aa_res = evaluate_claim(aa[0], aa[1], {}, alpha)
                res = dataclasses.replace(res, aa_verdict=aa_res.verdict, aa_details=aa_res.details)
            notes = tuple(claim_notes(claim, by_ref, runs))
            claims.append(dataclasses.replace(res, notes=notes))
        cells = tuple(
            cell_result(
                c,
                measured[c.ref].value,
                at_budget=profile != "quick",
                measurement=measured[c.ref],
            )
            for c in spec.cells
        )
        out.append(TableResult(spec, cells, tuple(claims)))
    return out


def collect(pdir: str | Path, alpha: float = ALPHA) -> ReproReport:
    """Read a profile directory (``tables.json`` + finished runs) into a :class:`ReproReport`.

    Raises:
        FileNotFoundError: if ``pdir`` holds no ``tables.json``.
    """
    pdir = Path(pdir)
    snap = load_snapshot(pdir)
    specs = [table_from_dict(t) for t in snap["tables"]]
    runs = _run_states(pdir, snap.get("runs", {}))
    return ReproReport(
        paper=snap["paper"],
        profile=snap["profile"],
        description=snap.get("profile_description", ""),
        profile_dir=pdir,
        environment=snap.get("environment", {}),
        tables=build_tables(specs, runs, snap["profile"], alpha),
        runs=runs,
        alpha=alpha,
    )


__all__ = [
    "MASKED_CE",
    "NEAR_ZERO",
    "CellResult",
    "ReproReport",
    "TableResult",
    "build_tables",
    "cell_result",
    "collect",
]
