"""A cell measured by an analysis on a subset gets the subset's n, not the run's n_eval."""

from __future__ import annotations

from robustlab.core.repro.measure import examples_behind, measure
from robustlab.core.repro.spec import Cell


def test_namespace_n_wins_over_the_run_n() -> None:
    metrics = {"n_eval": 10000.0, "curve/n_eval": 500.0, "curve/acc/FGSM eps=2/255": 85.6}
    assert examples_behind("curve/acc/FGSM eps=2/255", metrics) == 500
    assert examples_behind("clean_acc", metrics) == 10000
    assert examples_behind("t7/acc/PGD", metrics) == 10000  # no t7/n_eval: the run's
    assert examples_behind("x", {}) is None


def test_measurement_uses_it() -> None:
    cell = Cell(
        "fig3", "DO", "FGSM eps=2/255", "run", "curve/acc/FGSM eps=2/255", None, kind="robust"
    )
    runs = {
        "run": {
            "metrics": {"n_eval": 10000.0, "curve/n_eval": 500.0, "curve/acc/FGSM eps=2/255": 85.6}
        }
    }

    class NoVectors:
        def vector(self, *args: object) -> None:
            return None

    m = measure(cell, runs, NoVectors())  # type: ignore[arg-type]
    assert (m.value, m.n) == (85.6, 500)
