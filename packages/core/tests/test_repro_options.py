"""Analog cells, AutoAttack image budgets and the helper-runs section of the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlab.core.report.markdown import render_markdown
from robustlab.core.repro import Cell, RunSpec
from robustlab.core.repro.autoattack import _aa_n
from robustlab.core.repro.results import ReproReport, cell_result
from robustlab.core.train import TrainConfig


def _spec(**kw: object) -> RunSpec:
    cfg = TrainConfig(dataset="digits", model="lenet5", method="natural", epochs=1)
    return RunSpec("r", (cfg,), "fgsm", **kw)  # type: ignore[arg-type]


def test_analog_cell_keeps_its_kind_but_gets_no_tolerance_mark() -> None:
    at_budget = Cell("1", "PGD", "A", "r", "acc/PGD", 50.0)
    analog = Cell("1", "PGD", "A", "r", "acc/PGD", 50.0, analog=True)
    assert analog.kind == "robust"
    assert cell_result(at_budget, 52.0).within is True
    assert cell_result(at_budget, 60.0).within is False
    assert cell_result(analog, 52.0).within is None
    assert cell_result(analog, 52.0).delta == pytest.approx(2.0)


def test_autoattack_n_bounds_the_images_and_enters_the_hash() -> None:
    assert _aa_n(_spec(n_eval=1000), 1000) == 1000
    assert _aa_n(_spec(n_eval=1000, autoattack_n=200), 1000) == 200
    assert _aa_n(_spec(n_eval=100, autoattack_n=200), 100) == 100
    assert _aa_n(_spec(n_eval=None, autoattack_n=200), 10_000) == 200
    assert "autoattack_n" not in _spec(n_eval=10).to_dict()
    assert _spec(n_eval=10, autoattack_n=5).to_dict()["autoattack_n"] == 5
    with pytest.raises(ValueError, match="autoattack_n"):
        _spec(n_eval=10, autoattack_n=0)


def test_helper_runs_are_listed_with_who_needs_them(tmp_path: Path) -> None:
    runs = {
        "teacher": {
            "status": "done",
            "metrics": {"train/clean_acc": 91.25},
            "summary": {"helper": True, "method": "natural", "model": "lenet5"},
        },
        "student": {
            "status": "done",
            "metrics": {"clean_acc": 80.0},
            "summary": {"needs": {"teacher": "teacher"}, "method": "trades", "model": "lenet5"},
        },
    }
    report = ReproReport({"name": "toy"}, "quick", "toy", tmp_path, {}, [], runs)
    assert report.helper_rows() == [("teacher", "student (teacher)", "natural / lenet5", "91.25")]
    md = render_markdown(report)
    assert "## Helper runs" in md and "| teacher | student (teacher) |" in md
