"""``PaperContract``: a paper's tables, runs and published CSV are consistent, without training.

For every profile of the paper: the plan passes :func:`~robustlab.core.repro.spec.check_paper`;
every cell names a run and a metric that run will produce (``clean_acc``, ``worst_case_acc`` and
``acc/<label>`` for the labels of the run's suite, ``n_eval``, ``train/...``, the AutoAttack
metrics ``aa/<norm> eps=<eps>`` of runs a robustness cell uses (:func:`autoattack_metrics`); other keys only
when the run has analyses, whose outputs are not known statically); every run's training phases
build (dataset, model and method names resolve, the method accepts its options; no data is
read); every claim compares cells of the same profile. The shipped CSV equals the reference copy
``tables/<paper>.csv`` when one is found (see :func:`reference_csv`), else that test is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

from robustlab.core.repro.autoattack import mark_autoattack
from robustlab.core.repro.published import load_published
from robustlab.core.repro.spec import ANALYSES, PROFILES, RunSpec, check_paper

#: Environment variable naming a directory of reference tables (``<dir>/<paper>.csv``).
REFERENCE_ENV = "ROBUSTLAB_REFERENCE_TABLES"


def reference_csv(paper_name: str, start: Path | None = None) -> Path | None:
    """The reference transcription ``<paper>.csv`` to compare the shipped CSV with, or None.

    Looked up in ``$ROBUSTLAB_REFERENCE_TABLES``, else in ``shared/tables/`` of the first parent
    directory of ``start`` (default: the working directory) that has one.
    """
    env = os.environ.get(REFERENCE_ENV)
    if env:
        path = Path(env) / f"{paper_name}.csv"
        return path if path.is_file() else None
    here = (start or Path.cwd()).resolve()
    for parent in (here, *here.parents):
        path = parent / "shared" / "tables" / f"{paper_name}.csv"
        if path.is_file():
            return path
    return None


def run_metrics(run: RunSpec) -> tuple[set[str], tuple[str, ...], bool]:
    """What a run's ``metrics.json`` will hold, as far as is known before running it.

    Returns:
        (exact metric keys, key prefixes, open) where ``open`` is True when the run has analyses
        (their output keys are only known after running them).
    """
    from robustlab.core.eval import resolve_suite

    keys = {"n_eval"}
    if run.suite is not None:
        suite = resolve_suite(run.suite)
        keys |= {"clean_acc", "worst_case_acc"} | {f"acc/{a.label}" for a in suite.attacks}
    keys |= autoattack_metrics(run)
    phases = len(run.train)
    prefixes = ("train/",) if phases == 1 else tuple(f"train{i + 1}/" for i in range(phases))
    return keys, prefixes, bool(run.analyses)


def autoattack_metrics(run: RunSpec) -> set[str]:
    """The AutoAttack metrics (``aa/<norm> eps=<eps>``) the runner adds to ``run``: one per
    (eps, norm) budget of its suite when ``run.autoattack`` is set (by
    :func:`robustlab.core.repro.autoattack.mark_autoattack` for every run a robustness cell uses)."""
    from robustlab.core.eval import resolve_suite
    from robustlab.core.repro.autoattack import aa_metric, budgets

    if not run.autoattack or run.suite is None:
        return set()
    attacks = [
        {"attack": a.attack if isinstance(a.attack, str) else "", "kwargs": dict(a.kwargs)}
        for a in resolve_suite(run.suite).attacks
    ]
    return {aa_metric(eps, norm) for eps, norm in budgets(attacks)}


def _published(paper: Any) -> list[Any]:
    cells = paper.published
    return list(cells() if callable(cells) else cells)


class PaperContract:
    """Tests every paper package passes. Subclass as ``TestX`` and set ``paper`` (its ``PAPER``)."""

    paper: ClassVar[Any] = None

    def _paper(self) -> Any:
        if self.paper is None:
            pytest.fail(f"{type(self).__name__}: set paper = <the package's PAPER object>")
        return self.paper

    def _profiles(self) -> list[str]:
        return list(getattr(self._paper(), "profiles", None) or PROFILES)

    def test_every_profile_passes_check_paper(self) -> None:
        for profile in self._profiles():
            tables, runs = check_paper(self._paper(), profile)
            assert tables, f"profile {profile!r} has no tables"
            used = {c.run for t in tables for c in t.cells}
            assert used <= set(runs), f"{profile}: cells use unknown runs {used - set(runs)}"

    def test_every_cell_maps_to_a_metric_of_its_run(self) -> None:
        problems = []
        for profile in self._profiles():
            tables, runs = check_paper(self._paper(), profile)
            runs = mark_autoattack(tables, runs)  # the runner adds AutoAttack metrics to these
            known = {rid: run_metrics(run) for rid, run in runs.items()}
            for table in tables:
                for cell in table.cells:
                    keys, prefixes, open_ = known[cell.run]
                    if cell.metric in keys or cell.metric.startswith(prefixes) or open_:
                        continue
                    problems.append(
                        f"{profile} table {table.id} cell {cell.ref}: run {cell.run!r} will not "
                        f"produce {cell.metric!r} (it produces {sorted(keys)})"
                    )
        assert not problems, "\n".join(problems)

    def test_every_run_builds(self) -> None:
        from robustlab.core.data import info
        from robustlab.core.models import MODELS
        from robustlab.core.train import METHODS, TrainConfig

        for profile in self._profiles():
            _, runs = check_paper(self._paper(), profile)
            for run in runs.values():
                for cfg in run.train:
                    rebuilt = TrainConfig.from_dict(cfg.to_dict())  # field names and values
                    info(rebuilt.dataset)
                    MODELS.get(rebuilt.model)
                    METHODS.build(rebuilt.method, **rebuilt.method_opts)
                for name, _kw in run.analyses:
                    ANALYSES.get(name)
                info(run.dataset)

    def test_claims_compare_cells_of_the_same_profile(self) -> None:
        for profile in self._profiles():
            tables, _ = check_paper(self._paper(), profile)
            refs = {c.ref for t in tables for c in t.cells}
            ids = {t.id for t in tables}
            for table in tables:
                for claim in table.claims:
                    assert claim.table in ids, f"{profile}: claim {claim.id!r} names {claim.table}"
                    for comp in claim.comparisons:
                        assert {comp.lhs, comp.rhs} <= refs, (profile, claim.id, comp)

    def test_shipped_csv_matches_the_reference(self) -> None:
        paper = self._paper()
        path = reference_csv(paper.name)
        if path is None:
            pytest.skip(f"no reference tables/{paper.name}.csv found (set ${REFERENCE_ENV})")
        shipped = {(c.ref, c.raw) for c in _published(paper)}
        reference = {(c.ref, c.raw) for c in load_published(path)}
        assert shipped == reference, (
            f"shipped CSV differs from {path}: only shipped {sorted(shipped - reference)[:5]}, "
            f"only in the reference {sorted(reference - shipped)[:5]}"
        )
