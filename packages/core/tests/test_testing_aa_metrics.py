"""PaperContract knows the AutoAttack metrics the runner adds (``testing.paper.autoattack_metrics``)."""

from __future__ import annotations

from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.repro import Cell, RunSpec, TableSpec
from robustlab.core.repro.autoattack import mark_autoattack
from robustlab.core.testing.paper import autoattack_metrics, run_metrics
from robustlab.core.train import TrainConfig


def _run(rid: str, suite: Suite | None) -> RunSpec:
    cfg = TrainConfig.from_dict({"dataset": "digits-28", "model": "lenet5", "method": "natural"})
    return RunSpec(rid, (cfg,), suite, 10)


def test_autoattack_metrics_follow_the_suite_budgets_of_marked_runs() -> None:
    suite = Suite(
        "s",
        [
            AttackSpec("PGD", "pgd", {"eps": 0.1, "alpha": 0.025, "steps": 5}),
            AttackSpec("CW", "cw-linf", {"eps": 0.1}),
            AttackSpec("L2", "pgd-l2", {"eps": 0.5}),
        ],
        worst_case=False,
    )
    runs = {"a": _run("a", suite), "b": _run("b", suite), "c": _run("c", None)}
    table = TableSpec(
        "1",
        "t",
        (
            Cell("1", "r", "robust", "a", "acc/PGD", None),
            Cell("1", "r", "clean", "b", "clean_acc", None, kind="clean"),
            Cell("1", "r", "none", "c", "n_eval", None),
        ),
    )
    marked = mark_autoattack([table], runs)
    assert autoattack_metrics(marked["a"]) == {"aa/Linf eps=0.1", "aa/L2 eps=0.5"}
    assert autoattack_metrics(marked["b"]) == set()  # no robustness cell: no AutoAttack
    assert autoattack_metrics(marked["c"]) == set()  # no suite
    assert "aa/Linf eps=0.1" in run_metrics(marked["a"])[0]
    assert "aa/Linf eps=0.1" not in run_metrics(runs["a"])[0]
